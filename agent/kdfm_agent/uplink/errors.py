"""Uplink errors, split by whether trying again later can help."""

from __future__ import annotations


class UplinkError(Exception):
    """Base of the errors talking to the cloud."""

    retryable: bool = False


class GatewayUnavailableError(UplinkError):
    """The gateway could not be reached or answered with a transient failure: retry later."""

    retryable = True


class GatewayRefusedError(UplinkError):
    """The gateway refused the call for good (identity, permission, invalid request)."""
