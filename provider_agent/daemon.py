"""The agent's two loops: heartbeats on a jittered cadence, and the command long-poll.

Heartbeats that cannot be sent are buffered (bounded, newest kept) and resent, oldest first,
after the next beat that gets through. The command loop runs commands in ``seq`` order,
remembers results until the service has them (so a redelivered command is answered, not run
twice) and reconnects with exponential backoff when the service is away, or at once when a
heartbeat gets through again (a restarted service). Only a refused token stops the daemon
(TokenRefused), or ``request_stop()`` (SIGTERM): it runs no new command, lets the one in
flight finish (a revoke cut in half would leave the instance's files and no answer) and
sends the results it holds before it returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from core.wire import AgentCommand, CommandResult, ResultBatch
from provider_agent.client import ServiceClient
from provider_agent.errors import (
    AgentError,
    RequestRejected,
    ServiceUnreachable,
    TokenRefused,
)
from provider_agent.executor import CommandExecutor
from provider_agent.heartbeats import (
    GpuInventory,
    HeartbeatBuffer,
    SshEndpoint,
    build_heartbeat,
)
from provider_agent.host_specs import HostSpecs
from provider_agent.nvml_probe import GpuProbe

log = logging.getLogger(__name__)
AGENT_VERSION = "rigshare-agent/0.1"
REMEMBERED_RESULTS = 1000


@dataclass(frozen=True)
class AgentTiming:
    interval_s: float = 15.0
    jitter: float = 0.2  # each wait is interval * (1 ± jitter)
    poll_wait_s: float = 25.0
    buffer_size: int = 240  # an hour of beats
    backoff_first_s: float = 0.5
    backoff_max_s: float = 30.0
    drain_s: float = 60.0  # how long a stop waits for the command in flight


class _Stopped(Exception):
    """Raised inside the task group to end it after a requested stop."""


@dataclass
class AgentStats:
    beats_sent: int = 0
    beats_failed: int = 0
    beats_resent: int = 0
    commands_run: int = 0
    reconnects: int = 0


class AgentDaemon:
    """``await run()`` until cancelled; raises TokenRefused when the service refuses the token."""

    def __init__(
        self,
        client: ServiceClient,
        probe: GpuProbe,
        executor: CommandExecutor,
        *,
        endpoint: SshEndpoint | None,
        timing: AgentTiming | None = None,
        version: str = AGENT_VERSION,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        specs: HostSpecs | None = None,
        inventory: GpuInventory | None = None,
    ) -> None:
        self.client, self.probe, self.executor = client, probe, executor
        self.endpoint = endpoint
        self.specs = specs
        self.inventory = inventory
        self._speedtest: asyncio.Task[object] | None = None
        self.timing = timing or AgentTiming()
        self.version = version
        self._clock = clock
        self._rng = rng or random.Random()
        self.buffer = HeartbeatBuffer(self.timing.buffer_size)
        self.stats = AgentStats()
        self._seq = 0
        self._after = 0
        self._results: OrderedDict[int, CommandResult] = OrderedDict()
        self._unsent: list[CommandResult] = []
        self._service_back = asyncio.Event()  # a heartbeat got through: stop backing off
        self._stop_requested = asyncio.Event()
        self._idle = asyncio.Event()  # no command is running
        self._idle.set()

    def request_stop(self) -> None:
        """End ``run()`` gracefully: no new command, the one in flight finishes first."""
        self._stop_requested.set()

    @property
    def stop_requested(self) -> bool:
        return self._stop_requested.is_set()

    async def run(self) -> None:
        await self.probe.start()
        log.info("started: %s, service %s", self.version, self.client)
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._heartbeat_loop())
                group.create_task(self._command_loop())
                group.create_task(self._stop_when_requested())
        except* TokenRefused as refused:
            raise refused.exceptions[0] from None
        except* _Stopped:
            pass
        finally:
            if self._speedtest is not None:
                self._speedtest.cancel()
            await self.probe.close()
            await self.client.close()
            log.info("stopped")

    async def _stop_when_requested(self) -> None:
        await self._stop_requested.wait()
        try:
            await asyncio.wait_for(self._idle.wait(), self.timing.drain_s)
        except TimeoutError:
            log.warning("stopping with a command still running after %.0f s", self.timing.drain_s)
        with contextlib.suppress(AgentError, TimeoutError):
            await asyncio.wait_for(self._send_results(), 5.0)
        raise _Stopped

    # -- heartbeats ----------------------------------------------------------------------
    def next_interval(self) -> float:
        t = self.timing
        return t.interval_s * self._rng.uniform(1 - t.jitter, 1 + t.jitter)

    async def _heartbeat_loop(self) -> None:
        while True:
            try:
                await self.beat()
            except TokenRefused:
                raise
            except Exception:
                log.exception("heartbeat failed unexpectedly")
            await asyncio.sleep(self.next_interval())

    async def beat(self) -> None:
        """Enforce expiries, read the GPUs, send one heartbeat, then the backlog."""
        try:
            await self.executor.enforce()
        except AgentError as exc:
            log.warning("enforcing key expiry failed: %s", exc)
        try:
            readings = await self.probe.snapshot()
        except AgentError as exc:
            log.error("cannot read the GPUs, skipping this heartbeat: %s", exc)
            return
        if self.inventory is not None:
            self.inventory.update(readings)
        self._seq += 1
        now = self._clock()
        hb = build_heartbeat(
            readings,
            seq=self._seq,
            sent_at=int(now),
            version=self.version,
            endpoint=self.endpoint,
            machine=self.specs.current() if self.specs else None,
            offer=self.executor.backend.offer(),
        )
        try:
            await self.client.heartbeat(hb)
        except ServiceUnreachable as exc:
            self.stats.beats_failed += 1
            self._lost(exc)
            self.buffer.add(hb, now)
            log.warning("heartbeat %d not sent (%s); %d buffered", hb.seq, exc, len(self.buffer))
            return
        except RequestRejected as exc:
            log.error("heartbeat %d rejected: %s", hb.seq, exc)
            return
        self.stats.beats_sent += 1
        if not self._service_back.is_set():
            log.info("online: heartbeat %d accepted", hb.seq)
        self._service_back.set()
        self._measure_rate()
        await self._resend_backlog()

    def _measure_rate(self) -> None:
        """Start a network rate measurement when one is due (off the heartbeat's path)."""
        if self.specs is None or not self.specs.due():
            return
        if self._speedtest is not None and not self._speedtest.done():
            return
        self._speedtest = asyncio.create_task(
            self.specs.measure(self.client.download, self.client.upload), name="speedtest"
        )

    async def _resend_backlog(self) -> None:
        while (hb := self.buffer.oldest(self._clock())) is not None:
            try:
                await self.client.heartbeat(hb)
            except ServiceUnreachable:
                return  # still (or again) unreachable, or over the rate limit: next beat
            except RequestRejected as exc:
                log.error("buffered heartbeat %d rejected, dropped: %s", hb.seq, exc)
            else:
                self.stats.beats_resent += 1
            self.buffer.pop_oldest()

    def _lost(self, exc: Exception) -> None:
        """The service stopped answering: said once in the log (whichever loop notices
        first), and "online" again once a heartbeat gets through."""
        if self._service_back.is_set():
            log.warning("offline: the service is unreachable (%s)", exc)
        self._service_back.clear()

    # -- commands ------------------------------------------------------------------------
    async def _command_loop(self) -> None:
        failures = 0
        while True:
            try:
                await self._send_results()
                batch = await self.client.commands(self._after, self.timing.poll_wait_s)
            except ServiceUnreachable as exc:
                failures += 1
                self.stats.reconnects += 1
                delay = self._backoff(failures, exc.retry_after)
                self._lost(exc)
                log.warning("service unreachable (%s); retrying in %.1f s", exc, delay)
                # a restarted service is found by the next heartbeat, not after the backoff
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._service_back.wait(), delay)
                continue
            except RequestRejected as exc:
                log.error("command poll rejected: %s", exc)
                await asyncio.sleep(self.timing.backoff_max_s)
                continue
            failures = 0
            for cmd in sorted(batch.commands, key=lambda c: c.seq):
                if self._stop_requested.is_set():
                    break  # not acknowledged: the service delivers it again after a restart
                self._idle.clear()
                try:
                    await self._handle(cmd)
                finally:
                    self._idle.set()
                try:
                    await self._send_results()
                except ServiceUnreachable as exc:
                    # the service went away after handing out the batch: run the rest, the
                    # results wait in _unsent for the next connection
                    log.warning("results not sent (%s); kept until the service is back", exc)

    def _backoff(self, failures: int, retry_after: float | None) -> float:
        t = self.timing
        delay = min(t.backoff_max_s, t.backoff_first_s * 2 ** min(failures - 1, 16))
        delay *= self._rng.uniform(0.8, 1.0)
        return max(delay, retry_after or 0.0)

    async def _handle(self, cmd: AgentCommand) -> None:
        self._after = max(self._after, cmd.seq)
        done = self._results.get(cmd.id)
        if done is not None:  # delivered again: the service has not got our answer yet
            if done not in self._unsent:
                self._unsent.append(done)
            return
        try:
            result = await self.executor.run(cmd)
        except Exception:
            log.exception("%s for rental %s failed unexpectedly", cmd.kind, cmd.rental_id)
            result = CommandResult(command_id=cmd.id, ok=False, error="internal agent error")
        self.stats.commands_run += 1
        self._results[cmd.id] = result
        while len(self._results) > REMEMBERED_RESULTS:
            self._results.popitem(last=False)
        self._unsent.append(result)

    async def _send_results(self) -> None:
        """Post what the service has not acknowledged yet; raises ServiceUnreachable."""
        while self._unsent:
            chunk = self._unsent[:32]
            try:
                await self.client.results(ResultBatch(results=chunk))
            except RequestRejected as exc:
                log.error("results rejected, dropped: %s", exc)
            del self._unsent[: len(chunk)]
