"""KDFM Kubernetes operator: Tenant, VaultCertificate and Broker reconciled with kopf."""

__version__ = "0.1.0"
