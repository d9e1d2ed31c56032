"""The cloud side's small error tree: each error says whether retrying can help."""

from __future__ import annotations


class CloudError(Exception):
    """Base of every error the cloud side raises on purpose."""

    retryable: bool = False


class ConfigError(CloudError):
    """A configuration file or option is wrong; fix it and start again (never retried)."""


class StoreError(CloudError):
    """The database refused or is unreachable."""

    retryable = True


class IdentityError(CloudError):
    """A client certificate does not name a KDFM agent the way kdfm_cloud.identity expects."""
