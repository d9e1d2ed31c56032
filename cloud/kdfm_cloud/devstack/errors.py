"""Errors of the dev stack: a component that would not start, or a command it refused."""

from __future__ import annotations


class DevstackError(Exception):
    """A dev-stack component could not be started, configured or stopped."""


class StartupError(DevstackError):
    """A component did not become ready; the message carries the tail of its log."""


class CommandError(DevstackError):
    """A control command against a running component failed (e.g. `mosquitto_ctrl`)."""
