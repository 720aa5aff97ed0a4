"""A bounded soak of the real service (`make soak`): measure capacity with a short ramp, then hold half of it
for SOAK_SECONDS (default 600) and check: zero errors, RSS growth ≤ 5 %, no file-descriptor growth."""
