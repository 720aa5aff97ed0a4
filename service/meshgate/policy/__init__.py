"""Authorization policy: RBAC documents in a folder, compiled into an indexed, immutable snapshot.

    snapshot = load_policy(Path("policies/examples"), superusers={"broker"})
    decision = snapshot.decide(request)

`PolicyStore` holds the active snapshot; `PolicyReloader` (in `meshgate.policy.reloader`) keeps it
up to date from a watched folder. The evaluator is pure; only the loader and reloader do I/O.
"""

from meshgate.policy.engine import PolicySnapshot
from meshgate.policy.loader import load_policy
from meshgate.policy.store import PolicyStore
from meshgate.policy.whocan import Grantee

__all__ = ["Grantee", "PolicySnapshot", "PolicyStore", "load_policy"]
