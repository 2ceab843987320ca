"""What a restarted ``rigshare run`` picks up again that lived only in the dead process.

The development wallet signs for the user inside the service process: a request it had not
answered when the process died would be lost, while a real wallet (WalletConnect) keeps
showing it until the user answers. On start, requests still pending (and not expired) are
handed to the development wallet again, which answers them as before. Everything else is
in the database and picked up by the keeper (``core.services.recovery``), the chain watcher
and the outbox sender.
"""

from __future__ import annotations

import logging

from bot.bootstrap import App
from core.errors import CoreError
from core.services.recovery import unanswered_requests
from rigshare_dev.wallet import InProcessWallet

log = logging.getLogger(__name__)


async def resume_wallet_requests(app: App) -> int:
    """Re-present unanswered requests to an auto-approving development wallet; how many."""
    wallet = app.wallet
    if not isinstance(wallet, InProcessWallet) or not wallet.auto_approve:
        return 0
    resumed = 0
    for r in await unanswered_requests(app.uow, app.clock.now()):
        try:
            if r.request is None:
                await wallet.connect(r.user_id, r.token, r.expires_at)
            else:
                await wallet.request_signature(r.user_id, r.token, r.request, r.expires_at)
        except CoreError as exc:
            log.warning("cannot resume wallet request of user %s: %s", r.user_id, exc)
            continue
        resumed += 1
    if resumed:
        log.warning("handed %d unanswered wallet request(s) to the development wallet", resumed)
    return resumed
