"""Transport adapters: the gRPC servicer and the server that hosts it. Thin by design."""
