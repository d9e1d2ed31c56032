"""The only modules that do I/O: Vault, the Kubernetes API and the broker's files."""
