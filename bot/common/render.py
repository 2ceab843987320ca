"""DTO -> text, platform-neutral (no Markdown/HTML: front ends add their own formatting)."""

from __future__ import annotations

from bot.common import formats, render_notices, wallet_render
from bot.common.i18n import t, word
from bot.common.render_instances import instance_line, machine_line, share_line
from bot.common.render_instances import templates as templates  # noqa: PLC0414 - re-export
from bot.common.render_receipts import explorer_base as explorer_base  # noqa: PLC0414
from bot.common.render_receipts import receipts as receipts  # noqa: PLC0414 - re-export
from core.domain.durations import format_duration
from core.domain.listings import COUNT_CAP
from core.domain.regions import broad as broad_regions
from core.domain.regions import vocabulary as region_vocabulary
from core.notifications import from_payload
from core.services.notifications import DueMessage
from core.services.views import (
    AgentTokenView,
    EarningsView,
    EvidenceView,
    MachineView,
    Notice,
    OfferView,
    PaymentPendingView,
    QuoteView,
    RentalView,
    SearchPage,
)
from core.wire import printable

when = formats.when
_count = formats.count_prefix


def _pct_bps(lang: str, bps: int) -> str:
    return formats.fee_percent(lang, bps)


def reliability(lang: str, bps: int, new_host: bool) -> str:
    """'reliability 98.8%', or 'new' for a host with too little history for a score."""
    if new_host:
        return t(lang, "gpus.new_host")
    return t(lang, "gpus.reliability", pct=formats.percent_bps(lang, bps))


def verified_mark(lang: str, o: OfferView) -> str:
    """ "verified" only for what the service's own probe checked; a simulated host says it
    can never be (core.services.verification)."""
    if o.verified:
        return t(lang, "gpus.verified")
    simulated = o.specs.backend == "simulated"
    return t(lang, "gpus.unverified_simulated" if simulated else "gpus.unverified")


def format_count(lang: str, n: int) -> str:
    """1,000 in English, 1.000 in German."""
    return formats.count(lang, n)


# The market hands one SearchPage object to every renter who asks the same thing within a
# moment (core.services.search_cache), so its text is made once per language and given again
# while that object is the page: kept by the object's id, with the object itself so the id
# cannot be reused by another page while it is kept.
_PAGE_TEXTS_KEPT = 256
_page_texts: dict[tuple[int, str], tuple[SearchPage, str]] = {}


def search_page(lang: str, page: SearchPage) -> str:
    key = (id(page), lang)
    kept = _page_texts.get(key)
    if kept is not None and kept[0] is page:
        return kept[1]
    text = _search_page(lang, page)
    if len(_page_texts) >= _PAGE_TEXTS_KEPT:
        _page_texts.clear()
    _page_texts[key] = (page, text)
    return text


def _search_page(lang: str, page: SearchPage) -> str:
    if not page.offers:
        return t(lang, "gpus.empty") + "\n" + regions_line(lang, full=True)
    sort = word(lang, "sort", page.sort)
    if page.total_available > COUNT_CAP:  # counted up to the cap only
        total = t(lang, "gpus.over", cap=format_count(lang, COUNT_CAP))
        head = t(lang, "gpus.header", total=total, sort=sort, page=page.page)
    elif page.total_available >= 0:
        total = format_count(lang, page.total_available)
        head = t(lang, "gpus.header", total=total, sort=sort, page=page.page)
    else:
        head = t(lang, "gpus.header_more", sort=sort, page=page.page)
    lines = [head]
    places = formats.places_for(*(o.price_per_hour for o in page.offers))
    for o in page.offers:
        free = t(lang, "gpus.free", free=o.free_gpus, total=o.gpu_count) if o.gpu_count > 1 else ""
        lines.append(
            t(
                lang,
                "gpus.row",
                listing=o.listing_id,
                free=free,
                count=_count(o.gpu_count),
                gpu=o.gpu_name,
                vram=o.vram_gb,
                price=formats.usd(lang, o.price_per_hour, places),
                region=o.region,
                reliability=reliability(lang, o.reliability_bps, o.new_host),
                verified=verified_mark(lang, o),
            )
        )
        lines += [x for x in (machine_line(lang, o.specs), share_line(lang, o.specs)) if x]
    if page.has_more:
        lines.append(t(lang, "gpus.more", next=page.page + 1))
    lines.append(t(lang, "gpus.footer", listing=page.offers[0].listing_id))
    lines.append(regions_line(lang))
    return "\n".join(lines)


def regions_line(lang: str, *, full: bool = False) -> str:
    """The region codes a renter can filter by (core.domain.regions): the broad ones under a
    page of offers (a page must fit one Discord message), all of them with what the broad
    ones cover when nothing matched."""
    if full:
        return t(lang, "gpus.regions_all", regions=region_vocabulary())
    return t(lang, "gpus.regions", broad=broad_regions())


def quote(lang: str, q: QuoteView) -> str:
    o = q.offer
    places = formats.places_for(o.total_per_hour, q.deposit)
    text = t(
        lang,
        "quote.body",
        rental_id=q.rental_id,
        listing=o.listing_id,
        count=_count(o.gpu_count),
        gpu=o.gpu_name,
        vram=o.vram_gb,
        region=o.region,
        reliability=reliability(lang, o.reliability_bps, o.new_host),
        verified=verified_mark(lang, o),
        price_per_hour=formats.price(lang, o.total_per_hour, places),
        duration=format_duration(q.duration_s),
        deposit=formats.amount(lang, q.deposit, places),
        fee_pct=_pct_bps(lang, q.fee_bps),
        expires=when(q.expires_at),
    )
    return text if q.instance is None else text + "\n" + instance_line(lang, q.instance)


def payment(lang: str, p: PaymentPendingView, kind: str = "open") -> str:
    key = {
        "open": "pay.body",
        "extend": "pay.extend",
        "stop": "pay.stop",
        "dispute": "pay.dispute",
    }[kind]
    text = t(
        lang,
        key,
        deposit=formats.amount(lang, p.deposit),
        rental_id=p.rental_id,
        expires=when(p.expires_at),
        url=p.url,
        summary=p.summary,
    )
    return text + "\n" + wallet_render.how_to_sign(lang, p.wc_uri, p.url, p.expires_at)


def rental(lang: str, r: RentalView) -> str:
    state = word(lang, "state", r.state)
    places = formats.places_for(r.price_per_hour, r.deposit, r.cost_so_far)
    if r.started_at is None:
        return t(
            lang,
            "status.waiting",
            rental_id=r.rental_id,
            state=state,
            count=_count(r.gpu_count),
            gpu=r.gpu_name,
            deposit=formats.amount(lang, r.deposit, places),
        )
    end = r.ended_at or r.now
    text = t(
        lang,
        "status.body" if r.ended_at is None else "status.ended",
        ended_at=when(r.ended_at) if r.ended_at is not None else "",
        rental_id=r.rental_id,
        state=state,
        count=_count(r.gpu_count),
        gpu=r.gpu_name,
        machine=r.machine_name or "-",
        price_per_hour=formats.price(lang, r.price_per_hour, places),
        elapsed=format_duration(max(0, end - r.started_at)),
        cost=formats.amount(lang, r.cost_so_far, places),
        remaining=format_duration(r.remaining_s) if r.remaining_s is not None else "-",
    )
    if r.gpu_uuids:
        text += "\n" + t(lang, "status.gpus", gpus=", ".join(r.gpu_uuids))
    if r.instance is not None:
        text += "\n" + instance_line(lang, r.instance)
    na = t(lang, "status.na")
    live = r.metrics.get("gpus", []) if r.ended_at is None else []  # the host's now, not then
    for i, g in enumerate(live):
        text += "\n" + t(
            lang,
            "status.metrics",
            gpu=g.get("id") or f"GPU {i}",
            util=formats.percent_bps(lang, int(g["u"]) * 100, decimals=0)
            if isinstance(g.get("u"), int)
            else na,
            temp=f"{g['t']}°C" if g.get("t") is not None else na,
            mem=g.get("m") if g.get("m") is not None else na,
        )
    return text


def notice(lang: str, n: Notice) -> str:
    params = dict(n.params)
    if "price" in params:
        params["price_fmt"] = formats.usd(lang, params["price"])
    return t(lang, f"notice.{n.key}", **params)


def machines(lang: str, views: list[MachineView]) -> str:
    if not views:
        return t(lang, "machines.empty")
    out = []
    for m in views:
        places = formats.places_for(*(price for _, _, price, _ in m.listings))
        listings = (
            ", ".join(
                t(
                    lang,
                    "machines.listing",
                    gpu=gpu,
                    price=formats.price(lang, price, places),
                    status=word(lang, "listing_status", st),
                )
                for _, gpu, price, st in m.listings
            )
            or "-"
        )
        out.append(
            t(
                lang,
                "machines.row",
                name=m.name,
                region=m.region,
                status=word(lang, "machine_status", m.status),
                uptime=formats.percent_bps(lang, m.uptime_bps)
                if m.last_heartbeat_at is not None
                else "-",  # never heard from: no share of time up to speak of
                reliability=reliability(lang, m.reliability_bps, m.new_host),
                gpus=", ".join(m.gpus) or "-",
                listings=listings,
                last=when(m.last_heartbeat_at),
                current=t(lang, "machines.current", rental_id=m.current_rental_id)
                if m.current_rental_id
                else "",
            )
            + (t(lang, "machines.failing", name=m.name) if m.status == "failing" else "")
        )
    return "\n\n".join(out)


def agent_token(lang: str, v: AgentTokenView) -> str:
    return t(lang, "machines.token", name=v.machine_name, command=v.command)


def earnings(lang: str, e: EarningsView) -> str:
    """What was earned; with payouts the escrow still holds, what is paid and what is not;
    and the paid rentals that failed on the provider's machines, with why."""
    text = _earned(lang, e)
    if not e.failed:
        return text
    reasons = "\n".join(
        f"  {count}× {t(lang, f'notify.provider_why.{why}')}" for why, count in e.failed
    )
    total = sum(count for _, count in e.failed)
    return text + "\n" + t(lang, "earnings.failed", count=total, reasons=reasons)


def _earned(lang: str, e: EarningsView) -> str:
    places = formats.places_for(e.gross, e.fees, e.net, e.held)

    def usdc(micro: int) -> str:
        return formats.amount(lang, micro, places)

    return t(
        lang,
        "earnings.body_held" if e.held else "earnings.body",
        completed=e.completed_rentals,
        active=e.active_rentals,
        gross=usdc(e.gross),
        fees=usdc(e.fees),
        net=usdc(e.net),
        paid=usdc(e.net - e.held),
        held=usdc(e.held),
    )


def evidence(lang: str, rental_id: int, views: list[EvidenceView]) -> str:
    """What the agent and the service recorded about a rental (dispute evidence)."""
    if not views:
        return t(lang, "evidence.none", rental_id=rental_id)
    lines = [t(lang, "evidence.header", rental_id=rental_id, count=len(views))]
    for v in views[-15:]:
        # the agent wrote these: one short printable line each, whatever it sent
        details = ", ".join(f"{k}={printable(str(v.data[k]), 80)}" for k in sorted(v.data)[:6])
        lines.append(t(lang, "evidence.row", at=when(v.at), kind=v.kind, details=details or "-"))
    return "\n".join(lines)


def outbox(m: DueMessage, lang: str | None = None, *, explorer: str | None = None) -> str:
    """Text of a notification from the outbox, in ``lang`` (the recipient's language by
    default); receipts link their transactions to ``explorer``. Raises
    ``MalformedNotification`` for a row that does not decode into its type."""
    return render_notices.text(from_payload(m.kind, m.payload), lang or m.lang, explorer)
