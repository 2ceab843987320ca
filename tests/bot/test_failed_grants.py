"""A grant the agent cannot run (the pull failed, the instance did not come up, the agent says
it runs other GPUs): the rental is cancelled and refunded, the renter is told why in words,
the provider what failed on which machine, and the machine leaves the market until the
provider sends /resume. Grants and results go through the command channel (agents="http");
chat through the one dispatcher. On SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace

from bot.common import render
from bot.common.dispatch import Dispatcher
from core.domain.listings import ListingQuery, ListingStatus, MachineStatus
from core.domain.rentals import RentalState as S
from core.services.notifications import DueMessage
from core.wire import CommandResult, ResultBatch
from rigshare_dev.hosts import simulated_access
from tests.bot.agent_support import add_host, fund_rental
from tests.support import rental_row

PULL_ERROR = "pulling 127.0.0.1:5000/x:1 failed: manifest unknown"


async def _fail_grant(app, machine_id: int, **result) -> None:
    [grant] = (await app.agent_commands.pending(machine_id, 0)).commands
    batch = ResultBatch(results=[CommandResult(command_id=grant.id, **result)])
    await app.agent_commands.record_results(machine_id, batch)
    await app.settle()


async def _told(app, user_id: int, kind: str, lang: str = "en") -> str:
    [payload] = [p for k, p, _ in await app.notifications.history(user_id) if k == kind]
    return render.outbox(DueMessage(1, user_id, "terminal", "1", lang, kind, payload, True, 0))


async def _provider(app, name: str):
    return await app.users.identify("terminal", name, name)


async def test_a_failed_pull_refunds_explains_and_takes_the_machine_off_the_market(http_app):
    host = await add_host(http_app, "prov")
    await add_host(http_app, "other")
    prov, other = await _provider(http_app, "prov"), await _provider(http_app, "other")
    await http_app.providers.set_price(other, "other-box", 600_000, None)  # dearer
    rental_id = await fund_rental(http_app)
    assert (await rental_row(http_app, rental_id)).machine_id == host.machine_id

    long_error = PULL_ERROR + "\n\x1b[31m" + "layer sha256:" + "f" * 400  # log noise
    await _fail_grant(http_app, host.machine_id, ok=False, error=long_error[:500])

    r = await rental_row(http_app, rental_id)
    assert r.state == S.CANCELLED and r.refund == r.deposit and r.billed == 0
    assert r.cancel_reason == "setup failed: image"
    alice = await http_app.users.identify("terminal", "alice", "alice")
    told = await _told(http_app, alice.user_id, "setup_failed")
    assert "could not download the image docker.io/nvidia/cuda:12.4.1-base-ubuntu22.04" in told
    assert "manifest" not in told and "127.0.0.1:5000" not in told  # words, not the log
    kinds = [k for k, _, _ in await http_app.notifications.history(alice.user_id)]
    assert kinds[-2:] == ["setup_failed", "refunded"]
    assert "konnte das Image" in await _told(http_app, alice.user_id, "setup_failed", "de")

    [payload] = [
        p
        for k, p, _ in await http_app.notifications.history(prov.user_id)
        if k == "provider_grant_failed"
    ]
    assert payload["machine"] == "prov-box" and payload["error"].startswith(PULL_ERROR)
    assert len(payload["error"]) <= 300 and "\x1b" not in payload["error"]
    told = await _told(http_app, prov.user_id, "provider_grant_failed")
    assert f"Machine prov-box could not start rental #{rental_id}: {PULL_ERROR}" in told
    assert "/resume prov-box" in told
    # the settlement tells the provider the rental failed and why, not "0 USDC paid to you"
    provider_kinds = [k for k, _, _ in await http_app.notifications.history(prov.user_id)]
    assert "provider_payout" not in provider_kinds
    told = await _told(http_app, prov.user_id, "provider_refunded")
    assert f"Rental #{rental_id} on your RTX 4090 failed: your machine could not start" in told
    assert "nothing is paid to you" in told and "0.000000" not in told
    told = await _told(http_app, prov.user_id, "provider_refunded", "de")
    assert "ist fehlgeschlagen: deine Maschine konnte die Instanz nicht starten" in told
    # and /earnings counts it, with why, instead of leaving it out
    earnings = await Dispatcher(http_app).handle_text(prov, "/earnings")
    assert "Failed rentals (paid by the renter, never ran, nothing earned): 1" in earnings.text
    assert "1× your machine could not start the instance" in earnings.text
    de = replace(prov, lang="de")
    earnings = await Dispatcher(http_app).handle_text(de, "/earnings")
    assert "Gescheiterte Mieten (vom Mieter bezahlt, nie gelaufen, nichts verdient): 1" in (
        earnings.text
    )

    # off the market: not in /gpus, never quoted, marked on /machines
    async with http_app.uow(readonly=True) as uow:
        assert (await uow.machines.get(host.machine_id)).status == MachineStatus.FAILING
        [listing] = await uow.listings.for_machine(host.machine_id)
    assert listing.status == ListingStatus.FAILING
    chat = Dispatcher(http_app)
    gpus = await chat.handle_text(alice, "/gpus 4090")
    assert f"#{listing.id} " not in gpus.text and "$0.60" in gpus.text
    quote = await http_app.market.quote(alice, ListingQuery(model="rtx4090"), 3600)
    assert quote.offer.listing_id != listing.id
    machines = await chat.handle_text(prov, "/machines")
    assert "prov-box · eu · failing" in machines.text and "/resume prov-box" in machines.text

    # the provider fixed it and says so: back on the market
    resumed = await chat.handle_text(prov, "/resume prov-box")
    assert not resumed.error and resumed.core_call == "providers.pause"
    gpus = await chat.handle_text(alice, "/gpus 4090")
    assert f"#{listing.id} · RTX 4090" in gpus.text


async def test_an_agent_that_runs_other_gpus_than_rented_fails_the_grant(http_app):
    host = await add_host(http_app, "prov", gpus=("rtx4090", "rtx4090"))
    rental_id = await fund_rental(http_app)
    [grant] = (await http_app.agent_commands.pending(host.machine_id, 0)).commands
    assert grant.instance.gpu_uuids == ["GPU-0000-rtx4090"]
    access = simulated_access(grant).model_copy(update={"gpu_uuids": ["GPU-0001-rtx4090"]})
    await _fail_grant(http_app, host.machine_id, ok=True, access=access)
    r = await rental_row(http_app, rental_id)
    assert r.state == S.CANCELLED and r.cancel_reason == "setup failed: gpu"
    alice = await http_app.users.identify("terminal", "alice", "alice")
    told = await _told(http_app, alice.user_id, "setup_failed")
    assert "the rented GPUs were not available on the host" in told
    async with http_app.uow(readonly=True) as uow:
        assert (await uow.machines.get(host.machine_id)).status == MachineStatus.FAILING


async def test_a_grant_that_works_starts_the_rental_and_keeps_the_machine_on_the_market(
    http_app,
):
    host = await add_host(http_app, "prov")
    rental_id = await fund_rental(http_app)
    [grant] = (await http_app.agent_commands.pending(host.machine_id, 0)).commands
    await _fail_grant(http_app, host.machine_id, ok=True, access=simulated_access(grant))
    r = await rental_row(http_app, rental_id)
    assert r.state == S.ACTIVE and r.access_username == "root"
    async with http_app.uow(readonly=True) as uow:
        assert (await uow.machines.get(host.machine_id)).status == MachineStatus.ONLINE
