"""The operator's error tree: every error says whether retrying can help.

Handlers translate these into ``kopf.TemporaryError(delay=...)`` or ``kopf.PermanentError`` in one
place (``handlers/outcome.py``), so the retry decision is never made ad hoc.
"""

from __future__ import annotations


class OperatorError(Exception):
    """Base of every error the operator raises on purpose."""

    retryable: bool = False


class InvalidSpecError(OperatorError):
    """The resource's spec cannot be acted on; retrying the same spec cannot help."""

    retryable = False


class VaultError(OperatorError):
    """Vault refused or failed a request."""

    retryable = True


class VaultUnavailableError(VaultError):
    """Vault is sealed, down or unreachable; the request may succeed later."""

    retryable = True


class VaultRefusedError(VaultError):
    """Vault answered but refused the request (permission, bad role, CA expired)."""

    retryable = False


class DependencyNotReadyError(OperatorError):
    """Something this resource needs (Secret, Broker, certificate) is missing or not ready."""

    retryable = True


class KubeApiError(OperatorError):
    """The Kubernetes API answered with an error."""

    retryable = True


class KubeCredentialsError(KubeApiError):
    """The credentials cannot be used (file missing, PEM unreadable, refused by the API server).

    Retrying the same credentials cannot help: someone has to fix the kubeconfig or the mount.
    """

    retryable = False


class GatewayError(OperatorError):
    """The gateway's TenantAdmin API failed or refused a call."""

    retryable = True


class GatewayUnavailableError(GatewayError):
    """The gateway is down, unreachable or too slow; the call may succeed later."""

    retryable = True


class GatewayRefusedError(GatewayError):
    """The gateway answered and refused (invalid field, region change, not allowed)."""

    retryable = False


class VaultTokenMissingError(OperatorError):
    """The operator has no Vault token of its own: neither a token file nor VAULT_TOKEN is set.

    A running process's environment does not change, so retrying cannot help: fix the deployment.
    """

    retryable = False


class VaultTokenFileError(VaultTokenMissingError):
    """The configured Vault token file is missing, unreadable or empty.

    Retried: the file may appear or be refilled (a Vault Agent sink, a Secret mount kubelet
    refreshes) without the operator restarting.
    """

    retryable = True
