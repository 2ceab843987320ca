"""The one-time signing page (mounted at ``/sign/``): the fallback when WalletConnect is not
an option, and the way to sign from a browser wallet.

``GET /sign/{token}`` serves the page, ``GET /sign/{token}/request.json`` the request, and
``POST /sign/{token}`` takes ``{"signature": "0x…", "address": "0x…"}``. The token is the
pending signature's own (192 random bits); the page lives as long as the request. What is
posted is checked by ``core.services.signing.SigningPages`` (the signer must be the expected
address) before it goes the same way as a WalletConnect answer. Unknown tokens get 404, used
or expired ones 410, a bad or foreign signature 400 and changes nothing, too many posts 429.
Every response forbids framing, caching and any script or connection but the page's own.
"""

from __future__ import annotations

import json
import logging
import math
import re
import secrets
from datetime import UTC, datetime

from aiohttp import web

from bot.common.i18n import catalogue
from bot.common.ratelimit import Rate, TokenBuckets
from bot.web.client_address import ClientAddress, parse_networks
from bot.web.services import SigningServices
from bot.web.signing_page import message_html, signing_html
from core.safe_json import parse_json
from core.services.views import SigningPageView

log = logging.getLogger(__name__)
APP = web.AppKey("signing_app", SigningServices)
BUCKETS = web.AppKey("signing_buckets", TokenBuckets)
CLIENT = web.AppKey("signing_client", ClientAddress)
NONCE = web.RequestKey("csp_nonce", str)
TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,64}$")
MAX_POST_BYTES = 4096
POST_RATE = Rate(per_second=0.2, burst=10)  # a person retries a few times, a script is cut off
STATUS = {"accepted": 200, "unknown": 404, "gone": 410, "refused": 400}


def create_signing_app(app: SigningServices) -> web.Application:
    """The signing sub-application (mount it at ``/sign``)."""
    sub = web.Application(middlewares=[_headers])
    sub[APP] = app
    sub[BUCKETS] = TokenBuckets(POST_RATE)
    sub[CLIENT] = ClientAddress(parse_networks(app.settings.trusted_proxies))
    sub.router.add_get("/{token}", page)
    sub.router.add_get("/{token}/request.json", request_json)
    sub.router.add_post("/{token}", submit)
    return sub


@web.middleware
async def _headers(request: web.Request, handler) -> web.StreamResponse:  # noqa: ANN001
    nonce = secrets.token_urlsafe(16)
    request[NONCE] = nonce
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        response = exc
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
        "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    )
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


async def page(request: web.Request) -> web.Response:
    view = await _view(request)
    texts = _texts(view.lang if view else "en")
    nonce = request[NONCE]
    if view is None or view.state != "pending":
        key = "page_unknown" if view is None else f"page_{view.state}"
        body = message_html(
            nonce=nonce,
            lang=view.lang if view else "en",
            title=texts["page_title"],
            text=texts[key],
        )
        return web.Response(
            status=404 if view is None else 410, text=body, content_type="text/html"
        )
    fields = {
        "summary": view.summary,
        "who": texts["page_signer"].format(signer=view.signer)
        if view.signer
        else texts["page_any"],
        "expires": texts["page_expires"].format(expires=_when(view.expires_at)),
        "details": _details(view),
    }
    body = signing_html(
        nonce=nonce, lang=view.lang, texts=texts, request=_public(view), fields=fields
    )
    return web.Response(text=body, content_type="text/html")


async def request_json(request: web.Request) -> web.Response:
    view = await _view(request)
    if view is None:
        return _answer(404, "unknown", _texts("en")["page_unknown"])
    if view.state != "pending":
        return _answer(410, view.state, _texts(view.lang)[f"page_{view.state}"])
    return web.json_response(_public(view))


async def submit(request: web.Request) -> web.Response:
    token = request.match_info["token"]
    if not TOKEN.match(token):
        return _answer(404, "unknown", _texts("en")["page_unknown"])
    buckets = request.app[BUCKETS]
    client = request.app[CLIENT].key(request.remote, request.headers.get("X-Forwarded-For"))
    wait = max(buckets.take("t:" + token), buckets.take("ip:" + client))
    if wait > 0:
        return _answer(
            429, "rate_limited", "Too many attempts; wait a little.", retry=math.ceil(wait)
        )
    if request.content_length is not None and request.content_length > MAX_POST_BYTES:
        return _answer(413, "too_large", "The request is too large.")
    raw = await request.content.read(MAX_POST_BYTES + 1)
    if len(raw) > MAX_POST_BYTES:
        return _answer(413, "too_large", "The request is too large.")
    try:
        body = parse_json(raw)
    except ValueError:  # answered below like any body without a signature
        body = None
    signature = body.get("signature") if isinstance(body, dict) else None
    address = body.get("address") if isinstance(body, dict) else None
    if not isinstance(signature, str) or len(signature) > 200:
        return _answer(400, "refused", 'Send {"signature": "0x…", "address": "0x…"}.')
    if address is not None and (not isinstance(address, str) or len(address) > 64):
        return _answer(400, "refused", "The address is not a wallet address.")
    result = await request.app[APP].signing.submit(token, signature, address)
    message = result.message  # a refusal names the addresses involved (core's text)
    if result.status != "refused":
        view = await _view(request)
        texts = _texts(view.lang if view else "en")
        if result.status == "accepted":
            message = texts["page_done"]
        elif view is None:
            message = texts["page_unknown"]
        elif view.state in ("used", "expired"):
            message = texts[f"page_{view.state}"]
    return _answer(STATUS[result.status], result.status, message)


async def _view(request: web.Request) -> SigningPageView | None:
    token = request.match_info["token"]
    if not TOKEN.match(token):
        return None
    return await request.app[APP].signing.page(token)


def _public(view: SigningPageView) -> dict:
    """What the page needs to ask the wallet (nothing about the user)."""
    out: dict = {
        "kind": view.kind,
        "method": view.method,
        "summary": view.summary,
        "signer": view.signer,
        "expires_at": view.expires_at,
    }
    if view.method == "eth_signTypedData_v4":
        domain = view.payload.get("domain") or {}
        out["chain_id"] = domain.get("chainId")
        out["typed_data_json"] = typed_data_json(view.payload)
    else:
        message = str(view.payload.get("message", ""))
        out["message"] = message
        out["message_hex"] = "0x" + message.encode().hex()
    return out


def typed_data_json(typed: dict) -> str:
    """Typed data as a wallet takes it: integers of the message as decimal strings (a uint256
    does not fit a JavaScript number)."""
    message = {
        k: str(v) if isinstance(v, int) and not isinstance(v, bool) else v
        for k, v in (typed.get("message") or {}).items()
    }
    return json.dumps({**typed, "message": message}, separators=(",", ":"))


def _details(view: SigningPageView) -> str:
    if view.method == "eth_signTypedData_v4":
        return json.dumps(view.payload.get("message") or {}, indent=2, default=str)
    return str(view.payload.get("message", ""))


def _texts(lang: str) -> dict[str, str]:
    english = catalogue("en")
    chosen = catalogue(lang) if lang in ("en", "de") else english
    return {
        key.removeprefix("pay."): chosen.get(key, english[key])
        for key in english
        if key.startswith("pay.page_")
    }


def _when(ts: int) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def _answer(status: int, code: str, message: str, *, retry: int | None = None) -> web.Response:
    headers = {"Retry-After": str(retry)} if retry is not None else None
    return web.json_response(
        {"ok": status == 200, "status": code, "message": message}, status=status, headers=headers
    )
