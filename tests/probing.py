"""Helpers for the service's probes in tests: a machine whose agent runs real instances and
probes, and that agent's answers through the real command channel (``app.agent_commands``)."""

from __future__ import annotations

from bot.bootstrap import App
from core.wire import AccessDetails, CommandResult, Heartbeat, ResultBatch
from tests.fakes.probe_hosts import FakeProbeHosts
from tests.support import heartbeat

PROBE_FP = "SHA256:probeinstancehostkeyAAAAAAAAAAAAAAAAAAAAAAAA"
PROBE_PORT = 40_022


def probed_heartbeat(gpus: list[str], seq: int = 1, *, host: str = "127.0.0.1") -> Heartbeat:
    """A beat of an agent that runs rentals in containers and runs the service's probes."""
    hb = heartbeat(gpus, seq)
    offer = hb.offer.model_copy(update={"backend": "container", "probes": True})
    return hb.model_copy(update={"offer": offer, "ssh_host": host, "ssh_port": None})


def use_fake_hosts(app: App) -> FakeProbeHosts:
    hosts = FakeProbeHosts()
    app.probes.prober = hosts
    return hosts


async def answer_probes(
    app: App,
    machine_id: int,
    hosts: FakeProbeHosts,
    *,
    reported_fp: str = PROBE_FP,
    real_fp: str = PROBE_FP,
    shown_uuids: list[str] | None = None,
    nvidia_smi: bool = True,
    host: str = "127.0.0.1",
    ok: bool = True,
) -> list[CommandResult]:
    """Act as the machine's agent: run every queued probe (a fake SSH server with host key
    ``real_fp`` showing ``shown_uuids``, the probed GPUs by default; the agent reports
    ``reported_fp``) and unprobe; post the results. Returns them."""
    batch = await app.agent_commands.pending(machine_id, 0)
    results = []
    for cmd in batch.commands:
        if cmd.kind == "probe":
            uuids = list(cmd.instance.gpu_uuids) if shown_uuids is None else shown_uuids
            port = PROBE_PORT + cmd.rental_id
            hosts.serve(host, port, real_fp, uuids if nvidia_smi else None)
            access = AccessDetails(
                username="root",
                host=host,
                port=port,
                host_key_fingerprint=reported_fp,
                gpu_uuids=list(cmd.instance.gpu_uuids),
            )
            result = (
                CommandResult(command_id=cmd.id, ok=True, access=access)
                if ok
                else CommandResult(command_id=cmd.id, ok=False, error="engine down")
            )
            results.append(result)
        elif cmd.kind == "unprobe":
            results.append(CommandResult(command_id=cmd.id, ok=True))
    if results:
        await app.agent_commands.record_results(machine_id, ResultBatch(results=results))
    return results


async def verify(app: App, machine_id: int, hosts: FakeProbeHosts | None = None, **kw) -> dict:
    """Run the service's probe of the machine end to end (queue, agent answers, login)."""
    hosts = hosts or use_fake_hosts(app)
    await app.probes.tick()
    await answer_probes(app, machine_id, hosts, **kw)
    return await app.probes.tick()
