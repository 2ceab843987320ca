"""How a dispute is decided: from objective evidence, within the escrow's bounds.

The evidence is what the service and the agent recorded, never what either party says:
- ``heartbeat_gap`` seen by the service: the machine was silent from ``from`` to ``to``;
- ``heartbeat_gap`` reported late by the agent (beats buffered while the service was
  unreachable): the host was up, so the silence was the network's or the service's, not
  the provider's, unless the agent itself reported GPUs lost in those beats;
- ``selftest`` failures and GPUs reported lost;
- ``service_probe``: the service's own probe of the machine (``core.domain.verification``),
  which weighs over everything the agent says about itself.

The provider is paid for the billed time minus every second inside the rental during which
the machine was down (silent beyond the heartbeat coverage, or reporting a lost GPU) or not
backed by a passed service probe (:func:`unbacked_spans`: the agent's own heartbeats and
self-tests cannot win a dispute alone); the renter is refunded the rest. The award never exceeds the time-based bill, which is exactly the
bound the contract's ``resolve`` enforces (``providerGross <= billed``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from core.domain.billing import billed

Interval = tuple[int, int]


@dataclass(frozen=True, slots=True)
class Decision:
    billed_seconds: int
    outage_seconds: int
    billed: int  # the time-based bill (micro-USDC)
    provider_gross: int  # what the arbiter awards the provider (fee comes out of it)
    outages: tuple[Interval, ...]

    @property
    def renter_credit(self) -> int:
        """What the renter gets back on top of the time-based refund."""
        return self.billed - self.provider_gross


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted, non-overlapping union of half-open ``[start, end)`` intervals."""
    out: list[Interval] = []
    for start, end in sorted(i for i in intervals if i[1] > i[0]):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def outages_from(evidence: Iterable[tuple[str, int, Mapping]], grace_s: int) -> list[Interval]:
    """Down intervals from ``(kind, at, data)`` evidence records.

    A service-side silence counts after ``grace_s`` (one heartbeat coverage: a beat may be
    late that long without anything being wrong). A late beat in which the agent reported a
    lost GPU makes the time it was queued count as down.
    """
    spans: list[Interval] = []
    for kind, at, data in evidence:
        if kind != "heartbeat_gap":
            continue
        if data.get("source") == "service":
            start, end = int(data.get("from", 0)) + grace_s, int(data.get("to", 0))
            spans.append((start, end))
        elif data.get("source") == "agent" and int(data.get("gpus_lost", 0)) > 0:
            sent = int(data.get("sent_at", at))
            spans.append((sent, sent + max(1, int(data.get("queued_s", 0)))))
    return merge(spans)


def unbacked_spans(
    probes: Iterable[tuple[int, bool]], start: int, end: int, valid_s: int
) -> list[Interval]:
    """The parts of ``[start, end)`` no passed service probe backs, from ``(at, passed)``
    probe results of the machine.

    The rental is backed from its start when the machine's last probe before it passed no
    more than ``valid_s`` earlier; a probe inside the rental then switches the backing on
    (passed) or off (failed) from its time on. Without a probe, nothing is backed: a
    provider's self-reports alone never outweigh a renter's claim.
    """
    ordered = sorted(probes)
    last = [(at, ok) for at, ok in ordered if at <= start][-1:]
    backed = bool(last) and last[0][1] and last[0][0] >= start - valid_s
    spans: list[Interval] = []
    since = start
    for at, ok in ordered:
        if not start < at < end or ok == backed:
            continue
        if not backed:
            spans.append((since, at))
        since, backed = at, ok
    if not backed:
        spans.append((since, end))
    return merge(spans)


def decide(
    started_at: int,
    ended_at: int,
    price_per_hour: int,
    outages: Iterable[Interval],
) -> Decision:
    """The award for a rental that ran ``[started_at, ended_at)`` given its down intervals."""
    seconds = max(0, ended_at - started_at)
    inside = merge((max(s, started_at), min(e, ended_at)) for s, e in outages)
    down = min(seconds, sum(e - s for s, e in inside))
    bill = billed(seconds, price_per_hour)
    gross = billed(seconds - down, price_per_hour)
    return Decision(seconds, down, bill, min(gross, bill), tuple(inside))
