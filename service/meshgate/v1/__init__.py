"""Generated from proto/meshgate/v1/meshgate.proto by scripts/gen_proto.sh. Do not edit."""
