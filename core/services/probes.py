"""The service's own probe of provider machines: what makes a listing "verified".

One keeper pass (:meth:`ProbeService.tick`): verifications that ran out are withdrawn;
probes the agent did not answer in time fail; answered probes are checked by logging in
with the service's key (``core.ports.HostProber``); finished probes get their instance
removed (``unprobe``); machines that are due get a new probe on their idle GPUs only.
Every step is one unit of work per probe, so a crash repeats at most that step, and one
machine's failure is logged with a reference and never stops the others.

A passed probe verifies the machine for ``VERIFIED_FOR_S`` and brings a ``failing`` machine
back to the market; a failed one takes it off (``failing``) until the provider's /resume and
a passed probe. A probe whose GPUs a rental took meanwhile decided nothing (``yielded``):
probes never stand in a rental's way.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable

from core.domain.listings import MachineStatus
from core.domain.model import Machine, MachineProbe, stored_id
from core.domain.verification import (
    GPU_QUERY,
    PROBE_ANSWER_S,
    PROBE_INSTANCE_S,
    VERIFIED_FOR_S,
    ProbeLogin,
    ProbeStatus,
    Verification,
    bounded,
    gpus_unreadable,
    judge_login,
)
from core.notifications import Notification
from core.notifications.providers import ProbeFailed, ProbePassed, ProbeUnchecked
from core.ports import Clock, HostProber, ProbeTarget
from core.services.agent_commands import command_record
from core.services.base import MarketRules, Service, UnitOfWork, UowFactory, enqueue, present
from core.services.verification import (
    PROBED_BACKEND,
    back_on_market,
    current_gpus,
    endpoint_of,
    probe_due,
    refresh_listings,
    take_off_market,
)
from core.wire import CommandResult, InstanceLimits, InstanceRequest

log = logging.getLogger(__name__)
# a probe instance only answers one SSH login: the smallest instance the wire allows a grant
PROBE_LIMITS = InstanceLimits(cpu_millis=500, memory_mib=256, disk_gib=1, shm_mib=64, pids=256)
UNPROBE_VALID_S = 3600


class ProbeService(Service):
    def __init__(
        self,
        uow: UowFactory,
        clock: Clock,
        rules: MarketRules | None = None,
        *,
        prober: HostProber,
        wake: Callable[[int], None] | None = None,  # wakes the machine's command long-poll
    ) -> None:
        super().__init__(uow, clock, rules)
        self.prober = prober
        self.wake = wake

    async def tick(self) -> dict[str, int]:
        """One pass; how many probes or machines each step touched."""
        counts = {"expired": await self._expire_verifications()}
        counts["timed_out"] = await self._each(ProbeStatus.PENDING, self._time_out)
        counts["judged"] = await self._each(ProbeStatus.ANSWERED, self.judge)
        counts["ended"] = await self._end_finished()
        counts["started"] = await self._start_due()
        return counts

    # -- steps ----------------------------------------------------------------------------
    async def _expire_verifications(self) -> int:
        now = self.clock.now()
        async with self.uow() as uow:
            machines = await uow.probes.expired_verifications(now)
            for m in machines:
                m.verified_until, m.verified = None, None
                await refresh_listings(uow, m, now)
            await uow.commit()
        return len(machines)

    async def _each(self, status: str, step: Callable[[int], Awaitable[bool]]) -> int:
        async with self.uow(readonly=True) as uow:
            ids = [stored_id(p) for p in await uow.probes.in_status(status)]
        done = 0
        for probe_id in ids:
            done += await self._isolated(step, probe_id)
        return done

    async def _isolated(self, step: Callable[[int], Awaitable[bool]], probe_id: int) -> int:
        try:
            return int(bool(await step(probe_id)))
        except Exception:
            ref = secrets.token_hex(4)
            log.exception("probe %s: %s failed, reference %s", probe_id, step.__name__, ref)
            return 0

    async def _time_out(self, probe_id: int) -> bool:
        now = self.clock.now()
        async with self.uow(readonly=True) as uow:
            probe = await uow.probes.get(probe_id)
        if probe is None or probe.created_at + PROBE_ANSWER_S >= now:
            return False
        return await self._finish(
            probe_id,
            ProbeStatus.FAILED,
            "the agent did not start the probe instance in time",
            None,
            inconclusive_unless_online=True,
        )

    async def judge(self, probe_id: int) -> bool:
        """Log in to an answered probe's instance and decide it; False if it is not
        waiting for that (decided already)."""
        async with self.uow(readonly=True) as uow:
            probe = await uow.probes.get(probe_id)
            machine = await uow.machines.get(probe.machine_id) if probe else None
        if probe is None or machine is None or probe.status != ProbeStatus.ANSWERED:
            return False
        result = CommandResult.model_validate(probe.answer)
        probed = probe.gpu_uuids
        reason, login = _answer_problem(result, machine, probed), None
        status = ProbeStatus.FAILED
        if reason is None:
            # _answer_problem refuses an answer without access, so there is one here
            a = present(result.access, f"access of probe {probe_id}")
            target = ProbeTarget(a.host, a.port, a.username, a.host_key_fingerprint)
            login = await self.prober.login(target, GPU_QUERY)
            reason = judge_login(a.host_key_fingerprint, probed, login)
            status = ProbeStatus.PASSED if reason is None else ProbeStatus.FAILED
            if gpus_unreadable(a.host_key_fingerprint, login):
                status = ProbeStatus.UNCHECKED
        return await self._finish(probe_id, status, reason, login)

    async def _finish(
        self,
        probe_id: int,
        status: str,
        reason: str | None,
        login: ProbeLogin | None,
        *,
        inconclusive_unless_online: bool = False,
    ) -> bool:
        now = self.clock.now()
        async with self.uow() as uow:
            # the probe was read before this step, and probes and machines are never deleted
            probe = present(await uow.probes.get(probe_id), f"probe {probe_id}")
            machine = present(
                await uow.machines.get(probe.machine_id), f"machine of probe {probe_id}"
            )
            if probe.status not in (ProbeStatus.PENDING, ProbeStatus.ANSWERED):
                return False
            probed = set(probe.gpu_uuids)
            if status == ProbeStatus.FAILED and (
                await _taken_by_rental(uow, probe.machine_id, probed)
                or (inconclusive_unless_online and machine.status == MachineStatus.OFFLINE)
            ):
                status = ProbeStatus.YIELDED
            probe.status, probe.finished_at = status, now
            probe.reason = bounded(reason) if reason else None
            probe.seen_fingerprint = login.host_key_fingerprint if login else None
            if status == ProbeStatus.PASSED:
                await self._passed(uow, machine, probed, now)
            elif status == ProbeStatus.FAILED:
                await self._failed(uow, machine, probe, now)
            elif status == ProbeStatus.UNCHECKED:
                await self._unchecked(uow, machine, probe, now)
            await uow.commit()
        log.info("probe %s of machine %s: %s %s", probe_id, probe.machine_id, status, reason or "")
        return True

    async def _passed(self, uow: UnitOfWork, machine: Machine, probed: set[str], now: int) -> None:
        # GPUs verified before and still valid stay verified (rented ones cannot be probed)
        gpus = frozenset(probed) | current_gpus(machine, now)
        machine.verified = Verification(endpoint_of(machine), gpus)
        machine.verified_until = now + VERIFIED_FOR_S
        machine.probe_requested_at = None
        if await back_on_market(uow, machine):
            await self._tell_provider(uow, machine, ProbePassed(machine.name), now)
        await refresh_listings(uow, machine, now)

    async def _failed(
        self, uow: UnitOfWork, machine: Machine, probe: MachineProbe, now: int
    ) -> None:
        machine.probe_requested_at = None
        await take_off_market(uow, machine)
        await refresh_listings(uow, machine, now)
        failed = ProbeFailed(machine.name, probe.reason or "-")
        await self._tell_provider(uow, machine, failed, now, probe.id)

    async def _unchecked(
        self, uow: UnitOfWork, machine: Machine, probe: MachineProbe, now: int
    ) -> None:
        """Nothing wrong was found, but the GPUs could not be seen: unverified, and on the
        market as before a probe existed (a failing machine comes back, unverified)."""
        machine.verified_until, machine.verified = None, None
        machine.probe_requested_at = None
        await back_on_market(uow, machine)
        await refresh_listings(uow, machine, now)
        unchecked = ProbeUnchecked(machine.name, probe.reason or "-")
        await self._tell_provider(uow, machine, unchecked, now, 0)

    async def _tell_provider(
        self,
        uow: UnitOfWork,
        machine: Machine,
        notification: Notification,
        now: int,
        key: int | None = None,
    ) -> None:
        provider = await uow.providers.get(machine.provider_id)
        if provider is not None:
            kind = notification.KIND
            await enqueue(
                uow,
                notification,
                user_id=provider.user_id,
                dedupe_key=f"{kind}:{machine.id}:{now if key is None else key}",
                now=now,
            )

    async def _end_finished(self) -> int:
        """Queue ``unprobe`` for finished probes, in the transaction that marks them ended."""
        now = self.clock.now()
        async with self.uow() as uow:
            probes = await uow.probes.unended()
            for p in probes:
                p.ended = True
                record = command_record(
                    p.machine_id, "unprobe", stored_id(p), {}, now, now + UNPROBE_VALID_S
                )
                await uow.agent_commands.append(record)
            await uow.commit()
        for p in probes:
            self._wake(p.machine_id)
        return len(probes)

    async def _start_due(self) -> int:
        async with self.uow(readonly=True) as uow:
            ids = [stored_id(m) for m in await uow.probes.candidates(PROBED_BACKEND)]
        started = 0
        for machine_id in ids:
            started += await self._isolated(self.start_if_due, machine_id)
        return started

    async def start_if_due(self, machine_id: int) -> bool:
        """Queue a probe of the machine's free GPUs if one is due and none is in flight."""
        now = self.clock.now()
        async with self.uow() as uow:
            machine = await uow.machines.get(machine_id)
            if machine is None or await uow.probes.open_for(machine_id) is not None:
                return False
            free = {
                g.uuid
                for g in await uow.gpus.for_machine(machine_id)
                if g.present and g.rental_id is None and g.listing_id is not None
            }
            last = await uow.probes.last_finished(machine_id)
            if not probe_due(machine, last, free, now):
                return False
            template = await uow.templates.get(machine_id, machine.default_template or "")
            probe = MachineProbe(machine_id, ProbeStatus.PENDING, sorted(free), now)
            uow.probes.add(probe)
            await uow.flush()
            machine.probe_requested_at = None
            if template is None:
                probe.status, probe.finished_at, probe.ended = ProbeStatus.FAILED, now, True
                probe.reason = "the machine offers no template to run the probe with"
                await self._failed(uow, machine, probe, now)
            else:
                request = InstanceRequest(
                    image=template.image, gpu_uuids=sorted(free), limits=PROBE_LIMITS
                )
                payload = {
                    "public_key": self.prober.public_key(),
                    "expires_at": now + PROBE_INSTANCE_S,
                    "instance": request.model_dump(mode="json"),
                }
                valid = now + PROBE_ANSWER_S
                record = command_record(machine_id, "probe", stored_id(probe), payload, now, valid)
                await uow.agent_commands.append(record)
            await uow.commit()
        self._wake(machine_id)
        return True

    def _wake(self, machine_id: int) -> None:
        if self.wake is not None:
            self.wake(machine_id)


def _answer_problem(result: CommandResult, machine: Machine, probed: list[str]) -> str | None:
    """What is wrong with the agent's answer before anyone logs in, or None."""
    if not result.ok or result.access is None:
        return f"the agent could not start the probe instance: {result.error or 'no access'}"
    a = result.access
    if a.host != machine.ssh_host:
        return f"the agent pointed the probe at {a.host}, the machine advertises {machine.ssh_host}"
    if a.gpu_uuids and sorted(a.gpu_uuids) != sorted(probed):
        return f"the agent started the probe on GPUs {sorted(a.gpu_uuids)}, not {sorted(probed)}"
    return None


async def _taken_by_rental(uow: UnitOfWork, machine_id: int, probed: set[str]) -> bool:
    """A rental holds one of the probed GPUs now: the agent gave them to it (probes yield)."""
    return any(
        g.rental_id is not None for g in await uow.gpus.for_machine(machine_id) if g.uuid in probed
    )
