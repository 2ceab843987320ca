"""Exceptions raised by the provider agent; every one carries text fit for an operator."""

from __future__ import annotations


class AgentError(Exception):
    """Root of every expected provider-agent failure."""


class NvmlUnavailable(AgentError):
    """NVML cannot be used on this host (no driver, no library, probe not started)."""


class AccessError(AgentError):
    """An SSH access operation was refused or could not be completed."""


class InvalidPublicKey(AccessError, ValueError):
    """A renter's public key failed validation; nothing was written."""


class InvalidRentalId(AccessError, ValueError):
    """A rental id is not usable as a tag or account name; nothing was written."""


class SshdUnavailable(AgentError):
    """A private OpenSSH server could not be installed or started."""
