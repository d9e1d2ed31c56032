"""The gRPC AgentGateway agents dial: the servicer (each call) and the server (TLS, limits)."""
