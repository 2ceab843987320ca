"""The service's one web application: the agent API now; the signing page, health and
metrics join it here."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from aiohttp import web

from bot.web.agent_api import AgentLimits, create_agent_api
from bot.web.health import Health, add_health_route
from bot.web.services import WebServices
from bot.web.signing import create_signing_app

MAX_BODY = 1024 * 1024  # no route accepts more; each route checks its own, smaller limit
BACKLOG = 2048  # thousands of agents reconnect at once after a restart
SHUTDOWN_S = 2.0  # long-polls are released at shutdown; nothing else runs long


def build_web_app(
    app: WebServices, *, limits: AgentLimits | None = None, health: Health | None = None
) -> web.Application:
    web_app = web.Application(client_max_size=MAX_BODY)
    web_app.router.add_get("/healthz", _health)
    add_health_route(web_app, health or Health())
    web_app.add_subapp("/agent/v1", create_agent_api(app, limits))
    web_app.add_subapp("/sign", create_signing_app(app))  # the one-time signing page
    return web_app


async def _health(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


class WebServer:
    """Serves :func:`build_web_app` on ``host:port`` (port 0: a free one, see ``port``).

    ``start`` raises OSError when the address cannot be bound. It can be stopped and started
    again on the same port (the agents reconnect by themselves).
    """

    def __init__(
        self,
        app: WebServices,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        limits: AgentLimits | None = None,
        access_log: bool = False,
        health: Health | None = None,
        mounts: Sequence[Callable[[web.Application], None]] = (),
    ) -> None:
        self.app, self.host, self.port = app, host, port
        self.limits = limits
        self.health = health or Health()
        self.mounts = list(mounts)  # routes of other front ends (the Telegram webhook)
        self._access_log = access_log
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> WebServer:
        kwargs = {} if self._access_log else {"access_log": None}
        web_app = build_web_app(self.app, limits=self.limits, health=self.health)
        for mount in self.mounts:
            mount(web_app)
        runner = web.AppRunner(web_app, shutdown_timeout=SHUTDOWN_S, **kwargs)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self.port, reuse_address=True, backlog=BACKLOG)
            await site.start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = int(runner.addresses[0][1])
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()
