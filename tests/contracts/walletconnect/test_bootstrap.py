"""WC_PROJECT_ID switches the application to WalletConnect: built by the same bootstrap as
production, started and stopped with the app, and a /connect links the user's real wallet."""

from __future__ import annotations

import asyncio

from bot.bootstrap import build_app
from bot.settings import Settings
from contracts.walletconnect.wallet import WalletConnectWallet
from rigshare_dev.fakes.wallet import FakeWallet
from rigshare_dev.walletconnect.peer import WalletPeer
from tests.contracts.walletconnect.support import PROJECT
from tests.fakes.clock import FakeClock


def settings(tmp_path, **kw) -> Settings:
    return Settings(
        _env_file=None,
        chain="fake",
        database_url=f"sqlite:///{tmp_path}/app.sqlite3",
        data_dir=str(tmp_path / "data"),
        **kw,
    )


async def test_without_a_project_id_the_development_wallet_stays(tmp_path):
    app = build_app(settings(tmp_path))
    try:
        assert isinstance(app.wallet, FakeWallet)
    finally:
        await app.close()


async def test_connect_links_the_wallet_through_the_app(tmp_path, relay, wc_clock):
    s = settings(tmp_path, wc_project_id=PROJECT, wc_relay_url=relay.url, wallet_key_secret="k")
    app = build_app(s, clock=wc_clock)
    assert isinstance(app.wallet, WalletConnectWallet)
    assert any("WalletConnect" in note for note in app.notes)
    await app.start()
    peer = None
    try:
        assert app.wallet.relay.connected.is_set()
        who = await app.users.identify("terminal", "alice", "alice")
        view = await app.wallets.connect(who)
        assert view.wc_uri.startswith("wc:") and "/sign/" in view.url
        peer = await WalletPeer(
            relay.url, chain_id=app.escrow.chain_id, project_id=PROJECT, now=wc_clock.now
        ).start()
        await peer.approve(await peer.pair(view.wc_uri))
        for _ in range(200):
            if await app.wallets.address_of(who.user_id) == peer.address:
                break
            await asyncio.sleep(0.02)
        assert await app.wallets.address_of(who.user_id) == peer.address
    finally:
        if peer is not None:
            await peer.stop()
        await app.close()
    assert app.wallet.relay._task is None  # stopped with the app
    assert not (tmp_path / "data" / "walletconnect.key").exists()  # the secret was used


async def test_without_the_secret_a_key_file_is_made(tmp_path, relay):
    s = settings(tmp_path, wc_project_id=PROJECT, wc_relay_url=relay.url)
    app = build_app(s, clock=FakeClock())
    await app.close()
    assert (tmp_path / "data" / "walletconnect.key").exists()
