"""``GET /health``: is this process up, and is it the leader (chain watcher and keeper)?

A load balancer uses the status code (200 while the process serves); operators and the
scale-out tests read the body to see which of several processes leads.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

from aiohttp import web


@dataclass
class Health:
    """What this process reports; ``leader`` follows ``bot.leadership.Leadership``."""

    instance: str = field(default_factory=lambda: f"{os.uname().nodename}:{os.getpid()}")
    started_at: float = field(default_factory=time.time)
    leader: bool = False
    leader_terms: int = 0

    def set_leader(self, leading: bool) -> None:
        if leading and not self.leader:
            self.leader_terms += 1
        self.leader = leading

    def view(self) -> dict:
        return {
            "ok": True,
            "instance": self.instance,
            "pid": os.getpid(),
            "leader": self.leader,
            "leader_terms": self.leader_terms,
            "uptime_s": round(time.time() - self.started_at, 1),
        }


def add_health_route(web_app: web.Application, health: Health) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.json_response(health.view(), headers={"Cache-Control": "no-store"})

    web_app.router.add_get("/health", handler)
