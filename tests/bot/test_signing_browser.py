"""The signing page in a real headless browser (Debian chromium driven by Playwright), end to
end on the development chain.

The browser gets a test EIP-1193 wallet (``window.ethereum``) whose ``request`` is forwarded
to Python, where an eth_account key answers like a wallet would: accounts, chain id, chain
switch, ``personal_sign`` and ``eth_signTypedData_v4``. A renter without a linked wallet
confirms a quote, links the browser wallet on the signing page (personal_sign), then signs
the EIP-3009 deposit authorization on the page; the escrow accepts it and the rental opens
on chain. Nothing is downloaded: Playwright launches /usr/bin/chromium
(scripts/ensure-chromium.sh installs it; CI must have it, elsewhere the test is skipped).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils import keccak

from bot.web.app import WebServer
from core.domain.listings import ListingQuery
from core.domain.rentals import RentalState as S
from core.services.views import WalletLinkView
from tests.contracts.chain_support import PRICE, USDC, dev_app, rentals_of
from tests.fakes.clock import FakeClock
from tests.support import add_provider

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]

try:
    from playwright.async_api import async_playwright
except ImportError:  # pragma: no cover - the dev extra installs it
    async_playwright = None

if async_playwright is None or not CHROMIUM.exists():
    reason = "chromium (scripts/ensure-chromium.sh) and playwright (the dev extra) are needed"
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the signing-page browser test: {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=True)

# window.ethereum for the page: every request goes to the Python wallet below
INJECTED = """
window.ethereum = {
  isRigshareTestWallet: true,
  request: async ({ method, params }) => {
    const answer = JSON.parse(await window.__wallet(JSON.stringify({ method, params: params || [] })));
    if (answer.error) { const e = new Error(answer.error.message); e.code = answer.error.code; throw e; }
    return answer.result;
  },
};
"""


class BrowserWallet:
    """A wallet holding one key, on chain 1 until asked to switch; ``refuse_switch`` makes
    it turn the first chain switch down, as a person could."""

    def __init__(self, key: bytes) -> None:
        self.account = Account.from_key(key)
        self.chain_id = 1
        self.refuse_switch = True
        self.calls: list[str] = []

    def handle(self, raw: str) -> str:
        call = json.loads(raw)
        method, params = call["method"], call["params"]
        self.calls.append(method)
        try:
            return json.dumps({"result": self._answer(method, params)})
        except _Refusal as refusal:
            return json.dumps({"error": {"code": refusal.code, "message": str(refusal)}})

    def _answer(self, method: str, params: list):
        if method in ("eth_requestAccounts", "eth_accounts"):
            return [self.account.address.lower()]  # wallets often answer in lower case
        if method == "eth_chainId":
            return hex(self.chain_id)
        if method == "wallet_switchEthereumChain":
            if self.refuse_switch:
                self.refuse_switch = False
                raise _Refusal(4001, "User rejected the request.")
            self.chain_id = int(params[0]["chainId"], 16)
            return None
        if method == "personal_sign":
            assert params[1].lower() == self.account.address.lower()
            signed = self.account.sign_message(encode_defunct(hexstr=params[0]))
            return "0x" + bytes(signed.signature).hex()
        if method == "eth_signTypedData_v4":
            assert params[0].lower() == self.account.address.lower()
            typed = json.loads(params[1])
            if int(typed["domain"]["chainId"]) != self.chain_id:
                raise _Refusal(-32603, "chainId does not match the active chain")
            signed = self.account.sign_typed_data(full_message=typed)
            return "0x" + bytes(signed.signature).hex()
        raise _Refusal(4200, f"unsupported method {method}")


class _Refusal(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


async def _sign_on_page(browser, url: str, wallet: BrowserWallet, outcomes=("ok",)) -> list[str]:
    """Open the signing page and press its button once per expected outcome ("ok": the
    server took the signature, "err": the page explains what went wrong); return the
    status lines. The page's own CSP stays on (locators wait outside the page's scripts)."""
    page = await browser.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    await page.expose_function("__wallet", wallet.handle)
    await page.add_init_script(INJECTED)
    response = await page.goto(url)
    assert response.status == 200
    assert "script-src 'nonce-" in response.headers["content-security-policy"]
    statuses = []
    for outcome in outcomes:
        await page.click("#sign")
        await page.locator(f"#status.{outcome}").wait_for(timeout=15_000)
        statuses.append(await page.text_content("#status"))
    assert problems == [], problems  # no CSP violation, no script error
    await page.close()
    return statuses


async def test_connect_and_pay_on_the_signing_page_in_chromium(tmp_path):
    app = await dev_app(tmp_path, FakeClock())
    server = await WebServer(app).start()
    app.settings.public_url = server.url  # links in the chat point at this server
    app.wallet.base_url = server.url
    wallet = BrowserWallet(keccak(text="rigshare-browser-test-wallet"))
    try:
        await add_provider(app, "prov", ["rtx4090"], PRICE)
        alice = await app.users.identify("terminal", "alice", "alice")
        quote = await app.market.quote(alice, ListingQuery(model="rtx4090"), 3600)
        link = await app.rentals.confirm(alice, quote.rental_id)
        assert isinstance(link, WalletLinkView) and link.url.startswith(server.url + "/sign/")
        await app.dev_chain.fund(wallet.account.address, 100 * USDC)

        async with async_playwright() as pw:
            browser = await pw.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=ARGS
            )
            try:
                # 1. link the browser wallet: personal_sign of the one-time challenge
                [status] = await _sign_on_page(browser, link.url, wallet)
                assert status.startswith("Signed.")
                assert wallet.calls == ["eth_requestAccounts", "personal_sign"]
                linked = (await app.wallets.account(alice)).address
                assert linked.lower() == wallet.account.address.lower()
                history = await app.notifications.history(alice.user_id)
                asked = dict((k, p) for k, p, _ in history)["payment_requested"]
                r = (await rentals_of(app))[quote.rental_id]
                assert r.state == S.AWAITING_PAYMENT

                # 2. the deposit: the wallet first refuses to switch chains (a clear message),
                # then switches and signs the EIP-3009 authorization; the escrow takes it
                wallet.calls.clear()
                refused, status = await _sign_on_page(browser, asked["url"], wallet, ("err", "ok"))
                assert refused.startswith("Your wallet stayed on another network.")
                assert status.startswith("Signed.")
                assert wallet.calls == [
                    *("eth_requestAccounts", "eth_chainId", "wallet_switchEthereumChain"),
                    *("eth_requestAccounts", "eth_chainId", "wallet_switchEthereumChain"),
                    "eth_signTypedData_v4",
                ]
                assert wallet.chain_id == app.escrow.chain_id
                # the used link cannot be signed again
                page = await browser.new_page()
                assert (await page.goto(asked["url"])).status == 410
            finally:
                await browser.close()

        await app.settle()
        r = (await rentals_of(app))[quote.rental_id]
        assert r.state in (S.FUNDED, S.PROVISIONING, S.ACTIVE) and r.open_tx
        on_chain = await app.escrow.rental(r.escrow_id)
        assert on_chain["status"] in ("Pending", "Active") and on_chain["deposit"] == r.deposit
        balance = await app.escrow.balance_of(wallet.account.address)
        assert balance == 100 * USDC - r.deposit
    finally:
        await server.stop()
        await app.close()
