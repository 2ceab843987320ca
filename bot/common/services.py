"""What the chat front ends need from the application: narrow, typed facades.

The composition root (``bot/bootstrap.py``) builds the application and hands it to each front
end; the front ends and ``bot/common`` never import it (an import-linter layers contract holds
that). They type against these protocols instead, each naming only the services its holder
uses, so a front end neither loads the chain libraries the root wires in nor reaches for a
service it was not given. The root's ``App`` has every member (tests/bot/test_facades.py).
"""

from __future__ import annotations

from typing import Protocol

from bot.common.admission import Admission
from bot.settings import Settings
from core.ports import Clock
from core.services.agent_commands import AgentCommandService
from core.services.kv import KeyValueService
from core.services.market import MarketService
from core.services.notifications import NotificationService
from core.services.providers import ProviderService
from core.services.receipts import ReceiptService
from core.services.rentals import RentalService
from core.services.users import UserService
from core.services.wallets import WalletService


class ChatServices(Protocol):
    """What the one command dispatcher (``bot.common.dispatch``) calls."""

    clock: Clock
    kv: KeyValueService  # the question a reply asked, kept for the next message
    users: UserService
    market: MarketService
    rentals: RentalService
    receipts: ReceiptService
    providers: ProviderService
    wallets: WalletService
    agent_commands: AgentCommandService  # a rental's evidence


class ChatFrontServices(ChatServices, Protocol):
    """What a chat front end needs beyond the dispatcher: its settings, the process's
    admission of updates, and the outbox its sender delivers."""

    settings: Settings
    admission: Admission
    notifications: NotificationService
