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

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from core.domain.billing import billed
from core.domain.limits import EPOCH_MAX

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


class BadEvidence(ValueError):
    """A stored record that lacks what its kind must say (an old row, or one written before
    the agent API checked evidence): it is left out of the decision, never fatal."""


def _epoch(data: Mapping[str, object], key: str, default: int | None = None) -> int:
    value = data.get(key, default)
    # bool is an int in Python; a time or a count never is one
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= EPOCH_MAX:
        raise BadEvidence(f"{key!r} is {value!r}, not a time or a count")
    return value


def outage_of(kind: str, at: int, data: object, grace_s: int) -> Interval | None:
    """The down interval one ``(kind, at, data)`` record shows, or None.

    A service-side silence counts after ``grace_s`` (one heartbeat coverage: a beat may be
    late that long without anything being wrong). A late beat in which the agent reported a
    lost GPU makes the time it was queued count as down. Raises BadEvidence for a gap record
    without sound numbers.
    """
    if kind != "heartbeat_gap":
        return None
    if not isinstance(data, Mapping):
        raise BadEvidence(f"data is {type(data).__name__}, not an object")
    if data.get("source") == "service":
        return _epoch(data, "from") + grace_s, _epoch(data, "to")
    if data.get("source") == "agent" and _epoch(data, "gpus_lost", 0) > 0:
        sent = _epoch(data, "sent_at", at)
        return sent, sent + max(1, _epoch(data, "queued_s", 0))
    return None


def outages_from(
    evidence: Iterable[tuple[str, int, Mapping[str, object]]],
    grace_s: int,
    on_bad: Callable[[int, BadEvidence], object] | None = None,
) -> list[Interval]:
    """Down intervals from ``(kind, at, data)`` evidence records (:func:`outage_of`).

    A record that raises BadEvidence is left out; ``on_bad(position, error)`` hears of it.
    """
    spans: list[Interval] = []
    for position, (kind, at, data) in enumerate(evidence):
        try:
            span = outage_of(kind, at, data, grace_s)
        except BadEvidence as exc:
            if on_bad is not None:
                on_bad(position, exc)
            continue
        if span is not None:
            spans.append(span)
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
