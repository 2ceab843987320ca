"""Verified means checked by us: a listing is "verified" only after the service's own probe
passed (the service logs in to the advertised host with its own key, finds the host key the
agent reported, sees the probed GPUs by UUID), the verification runs out and is repeated, and
a machine whose probe fails leaves the market until /resume and a passed probe.

The agent here is driven through the real command channel (``tests/probing.py``), the SSH
servers are fakes (``tests.fakes.probe_hosts.FakeProbeHosts``); ``tests/bot/test_probe_ssh.py``
logs in to real SSH servers, ``tests/provider_agent/test_probe_e2e.py`` probes a real agent.
"""

from __future__ import annotations

from bot.common import render
from core.domain.listings import ListingQuery, ListingStatus, MachineStatus
from core.domain.verification import PROBE_RETRY_S, REPROBE_AFTER_S, VERIFIED_FOR_S
from core.services.notifications import DueMessage
from tests.probing import PROBE_FP, answer_probes, probed_heartbeat, use_fake_hosts, verify
from tests.support import add_provider, heartbeat, machine_listings, paid_quote, renter

PRICE = 500_000
OTHER_FP = "SHA256:someotherhostkeyBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"


async def _machine(app, name="prov", gpus=("rtx4090",)):
    who, machine_id = await add_provider(app, name, list(gpus), PRICE)
    await app.agents.heartbeat(machine_id, probed_heartbeat(list(gpus), 2))
    return who, machine_id


async def _machine_row(app, machine_id):
    async with app.rentals.uow(readonly=True) as uow:
        return await uow.machines.get(machine_id)


async def _probes(app, machine_id):
    async with app.rentals.uow(readonly=True) as uow:
        probe = await uow.probes.last_finished(machine_id)
    return probe


async def _verified(app, machine_id) -> bool:
    [listing] = await machine_listings(app, machine_id)
    return listing.verified


async def _gpus_text(app, lang="en") -> str:
    who = await renter(app, "viewer", wallet=False)
    return render.search_page(lang, await app.market.search(who, ListingQuery()))


async def _told(app, who, kind, lang="en"):
    found = [p for k, p, _ in await app.notifications.history(who.user_id) if k == kind]
    return [
        render.outbox(DueMessage(1, who.user_id, "terminal", "1", lang, kind, p, True, 0))
        for p in found
    ]


async def test_nvml_names_alone_never_make_a_listing_verified(app):
    _, machine_id = await _machine(app)
    assert not await _verified(app, machine_id)  # the agent's own report: a claim
    text = await _gpus_text(app)
    assert "unverified" in text and "verified (checked" not in text
    assert "nicht verifiziert" in await _gpus_text(app, "de")


async def test_a_passed_probe_verifies_the_probed_gpus_by_uuid(app, clock):
    _, machine_id = await _machine(app, gpus=("rtx4090", "rtx4090"))
    hosts = use_fake_hosts(app)
    assert (await app.probes.tick())["started"] == 1
    [cmd] = (await app.agent_commands.pending(machine_id, 0)).commands
    assert cmd.kind == "probe" and cmd.public_key == hosts.public_key()  # the service's key
    assert sorted(cmd.instance.gpu_uuids) == ["GPU-0000-rtx4090", "GPU-0001-rtx4090"]
    assert cmd.expires_at <= clock.now() + 15 * 60  # short-lived
    await answer_probes(app, machine_id, hosts)
    counts = await app.probes.tick()
    assert counts["judged"] == 1 and counts["ended"] == 1
    [login] = hosts.logins
    assert (login.host, login.host_key_fingerprint) == ("127.0.0.1", PROBE_FP)
    assert await _verified(app, machine_id)
    assert "verified (checked by rigshare)" in await _gpus_text(app)
    assert "verifiziert (von rigshare geprüft)" in await _gpus_text(app, "de")
    # the probe instance is removed again
    kinds = [c.kind for c in (await app.agent_commands.pending(machine_id, 0)).commands]
    assert kinds == ["unprobe"]


async def test_a_simulated_host_is_never_probed_nor_verified(app):
    _, machine_id = await add_provider(app, "sim", ["rtx4090"], PRICE)
    use_fake_hosts(app)
    assert (await app.probes.tick())["started"] == 0
    assert not (await app.agent_commands.pending(machine_id, 0)).commands
    assert "unverified (a simulated host is never checked)" in await _gpus_text(app)


async def test_an_agent_without_probes_is_sent_none(app):
    """An agent from before probes would refuse a batch with one: it gets none, and stays
    unverified."""
    _, machine_id = await add_provider(app, "old", ["rtx4090"], PRICE)
    hb = probed_heartbeat(["rtx4090"], 2)
    await app.agents.heartbeat(
        machine_id, hb.model_copy(update={"offer": hb.offer.model_copy(update={"probes": False})})
    )
    use_fake_hosts(app)
    assert (await app.probes.tick())["started"] == 0
    assert not await _verified(app, machine_id)


async def _fails_and_leaves_market(app, who, machine_id, reason_part):
    m = await _machine_row(app, machine_id)
    assert m.status == MachineStatus.FAILING and m.verified_until is None
    [listing] = await machine_listings(app, machine_id)
    assert listing.status == ListingStatus.FAILING and not listing.verified
    assert reason_part in (await _probes(app, machine_id)).reason
    [told] = await _told(app, who, "provider_probe_failed")
    assert reason_part in told and "/resume" in told
    [de] = await _told(app, who, "provider_probe_failed", "de")
    assert "nicht bestanden" in de


async def test_a_host_key_other_than_the_reported_one_is_not_verified(app):
    who, machine_id = await _machine(app)
    hosts = use_fake_hosts(app)
    await verify(app, machine_id, hosts, reported_fp=PROBE_FP, real_fp=OTHER_FP)
    assert hosts.logins == []  # pinned before login: an impostor gets no authentication
    await _fails_and_leaves_market(app, who, machine_id, "host key mismatch")
    assert (await _probes(app, machine_id)).seen_fingerprint == OTHER_FP


async def test_an_instance_showing_other_gpus_is_not_verified(app):
    who, machine_id = await _machine(app)
    await verify(app, machine_id, shown_uuids=["GPU-ffff-elsewhere"])
    await _fails_and_leaves_market(app, who, machine_id, "shows GPUs ['GPU-ffff-elsewhere']")


async def test_without_nvidia_smi_nothing_is_verified_but_the_machine_stays(app, clock):
    """Plain device nodes give instances no nvidia-smi: the GPUs cannot be checked, so the
    machine is not verified; nothing wrong was found, so it stays on the market."""
    who, machine_id = await _machine(app)
    hosts = use_fake_hosts(app)
    await verify(app, machine_id, hosts)
    assert await _verified(app, machine_id)
    await app.agents.heartbeat(machine_id, probed_heartbeat(["rtx4090"], 3, host="127.0.0.2"))
    await verify(app, machine_id, hosts, host="127.0.0.2", nvidia_smi=False)
    probe = await _probes(app, machine_id)
    assert probe.status == "unchecked" and "nvidia-smi is not in the instance" in probe.reason
    m = await _machine_row(app, machine_id)
    assert m.status == MachineStatus.ONLINE and m.verified_until is None
    [listing] = await machine_listings(app, machine_id)
    assert listing.status == ListingStatus.AVAILABLE and not listing.verified
    [told] = await _told(app, who, "provider_probe_unchecked")
    assert "cannot be verified" in told and "gpu_binding" in told
    assert await _told(app, who, "provider_probe_unchecked", "de")
    await answer_probes(app, machine_id, hosts, host="127.0.0.2")  # unprobe
    clock.advance(PROBE_RETRY_S)
    assert (await app.probes.tick())["started"] == 0  # nothing changes soon: not every 15 min
    clock.advance(REPROBE_AFTER_S - PROBE_RETRY_S)
    assert (await app.probes.tick())["started"] == 1


async def test_a_probe_pointed_at_another_host_is_not_verified(app):
    who, machine_id = await _machine(app)
    hosts = use_fake_hosts(app)
    await verify(app, machine_id, hosts, host="127.0.0.9")  # the machine advertises 127.0.0.1
    assert hosts.logins == []
    await _fails_and_leaves_market(app, who, machine_id, "pointed the probe at 127.0.0.9")


async def test_an_unanswered_probe_fails(app, clock):
    who, machine_id = await _machine(app)
    use_fake_hosts(app)
    await app.probes.tick()
    clock.advance(5 * 60 + 1)
    assert (await app.probes.tick())["timed_out"] == 1
    await _fails_and_leaves_market(app, who, machine_id, "did not start the probe instance")


async def test_verification_runs_out_and_is_repeated(app, clock):
    _, machine_id = await _machine(app)
    hosts = use_fake_hosts(app)
    await verify(app, machine_id, hosts)
    await answer_probes(app, machine_id, hosts)  # the unprobe
    clock.advance(REPROBE_AFTER_S - 1)
    assert (await app.probes.tick())["started"] == 0
    clock.advance(1)
    assert (await app.probes.tick())["started"] == 1  # probed again after 6 h
    clock.advance(VERIFIED_FOR_S - REPROBE_AFTER_S)  # the agent never answers it
    await app.agents.heartbeat(machine_id, probed_heartbeat(["rtx4090"], 3))
    counts = await app.probes.tick()
    assert counts["expired"] == 1 and counts["timed_out"] == 1
    assert not await _verified(app, machine_id)


async def test_a_changed_endpoint_or_new_gpu_voids_the_verification_at_once(app, clock):
    _, machine_id = await _machine(app)
    hosts = use_fake_hosts(app)
    await verify(app, machine_id, hosts)
    await answer_probes(app, machine_id, hosts)
    await app.probes.tick()
    assert await _verified(app, machine_id)
    # a routine beat (fast path) from a new address
    await app.agents.heartbeat_many([(await _token_hash(app, machine_id), _moved(3))])
    assert not await _verified(app, machine_id)
    clock.advance(PROBE_RETRY_S)
    assert (await app.probes.tick())["started"] == 1  # probed again at the new address
    await answer_probes(app, machine_id, hosts, host="127.0.0.2")
    await app.probes.tick()
    assert await _verified(app, machine_id)


def _moved(seq):
    return probed_heartbeat(["rtx4090"], seq, host="127.0.0.2")


async def _token_hash(app, machine_id):
    return (await _machine_row(app, machine_id)).agent_token_hash


async def test_resume_brings_a_failing_machine_back_only_when_its_probe_passes(app):
    who, machine_id = await _machine(app)
    hosts = use_fake_hosts(app)
    await verify(app, machine_id, hosts, shown_uuids=[])
    await answer_probes(app, machine_id, hosts)  # unprobe
    notice = await app.providers.pause(who, None, paused=False)
    assert notice.key == "provider.resume_probing"
    assert (await _machine_row(app, machine_id)).status == MachineStatus.FAILING
    assert (await machine_listings(app, machine_id))[0].status == ListingStatus.FAILING
    # the provider "fixed" nothing: still failing, still off the market
    await verify(app, machine_id, hosts, shown_uuids=[])
    assert (await _machine_row(app, machine_id)).status == MachineStatus.FAILING
    await answer_probes(app, machine_id, hosts)
    # fixed for real: /resume, the probe passes, back on the market and verified
    await app.providers.pause(who, None, paused=False)
    await verify(app, machine_id, hosts)
    assert (await _machine_row(app, machine_id)).status == MachineStatus.ONLINE
    [listing] = await machine_listings(app, machine_id)
    assert listing.status == ListingStatus.AVAILABLE and listing.verified
    [told] = await _told(app, who, "provider_probe_passed")
    assert "back on the market" in told


async def test_probes_use_idle_gpus_only_and_yield_to_a_rental(app, clock):
    _, machine_id = await _machine(app, gpus=("rtx4090", "rtx4090"))
    alice = await renter(app)
    quote = await app.market.quote(alice, ListingQuery(model="rtx4090", gpu_count=1), 3600)
    await app.rentals.confirm(alice, quote.rental_id)  # holds GPU 0
    hosts = use_fake_hosts(app)
    await app.probes.tick()
    [cmd] = (await app.agent_commands.pending(machine_id, 0)).commands
    assert cmd.instance.gpu_uuids == ["GPU-0001-rtx4090"]  # never the held one
    # a second renter takes the probed GPU before the service logged in; the agent gave it
    # to the rental, so the login fails: that decides nothing
    bob = await renter(app, "bob")
    quote = await app.market.quote(bob, ListingQuery(model="rtx4090", gpu_count=1), 3600)
    await app.rentals.confirm(bob, quote.rental_id)
    await answer_probes(app, machine_id, hosts)
    hosts.servers.clear()  # the agent removed the probe instance for the grant
    await app.probes.tick()
    probe = await _probes(app, machine_id)
    assert probe.status == "yielded" and "could not log in" in probe.reason
    assert (await _machine_row(app, machine_id)).status == MachineStatus.ONLINE


async def test_a_failed_grant_also_voids_the_verification(app):
    who, machine_id = await _machine(app)
    await verify(app, machine_id)
    assert await _verified(app, machine_id)
    app.agent_gateway.fail_next = True
    alice, quote = await paid_quote(app)
    m = await _machine_row(app, machine_id)
    assert m.status == MachineStatus.FAILING and m.verified_until is None
    assert not await _verified(app, machine_id)


async def test_the_probe_result_is_kept_with_what_the_service_saw(app):
    _, machine_id = await _machine(app)
    await verify(app, machine_id)
    probe = await _probes(app, machine_id)
    assert probe.status == "passed" and probe.seen_fingerprint == PROBE_FP
    assert probe.gpu_uuids == ["GPU-0000-rtx4090"]


async def test_a_simulated_machine_with_a_failed_grant_resumes_at_once(app):
    """Nothing can be probed there: /resume works as before (and it stays unverified)."""
    who, machine_id = await add_provider(app, "sim", ["rtx4090"], PRICE)
    await app.agents.heartbeat(machine_id, heartbeat(["rtx4090"], 2))
    app.agent_gateway.fail_next = True
    alice, quote = await paid_quote(app)
    assert (await _machine_row(app, machine_id)).status == MachineStatus.FAILING
    notice = await app.providers.pause(who, None, paused=False)
    assert notice.key == "provider.resumed"
    assert (await _machine_row(app, machine_id)).status == MachineStatus.ONLINE
