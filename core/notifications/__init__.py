"""Notifications are types: one frozen dataclass per message a user receives through the
outbox, registered by its stored kind (``codec.KINDS``); ``to_payload``/``from_payload``
store and read them. Importing this package registers every kind."""

from core.notifications import providers, rentals, wallet  # noqa: F401 - registers the kinds
from core.notifications.codec import (
    KINDS,
    MalformedNotification,
    Notification,
    from_payload,
    to_payload,
)

__all__ = ["KINDS", "MalformedNotification", "Notification", "from_payload", "to_payload"]
