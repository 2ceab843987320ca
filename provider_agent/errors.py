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


class ServiceUnreachable(AgentError):
    """The service did not answer usefully (network, 5xx, rate limit); try again later."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TokenRefused(AgentError):
    """The service refused the agent token (revoked, rotated or mistyped); fatal."""


class RequestRejected(AgentError):
    """The service rejected one request as invalid (4xx); resending it will not help."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"the service rejected the request ({status}): {reason}")
        self.status = status
