"""What the web application (``bot/web/app.py``) is given: narrow, typed facades.

The composition root builds the application; ``bot/serve.py`` hands it to the web server.
The web modules never import the root (an import-linter layers contract holds that) and type
against these protocols, each naming only the services its sub-application uses. The root's
``App`` has every member (tests/bot/test_facades.py).
"""

from __future__ import annotations

from typing import Protocol

from bot.settings import Settings
from bot.web.hub import CommandHub
from core.ports import Clock
from core.services.agent_commands import AgentCommandService
from core.services.agents import AgentService
from core.services.signing import SigningPages


class AgentApiServices(Protocol):
    """What the agent API (``/agent/v1``) calls."""

    clock: Clock
    agents: AgentService  # tokens, heartbeats
    agent_commands: AgentCommandService  # grants and revokes polled, results recorded
    command_hub: CommandHub  # wakes the long-polls of the machines a command is for


class SigningServices(Protocol):
    """What the one-time signing page (``/sign``) calls."""

    settings: Settings  # the reverse proxies whose X-Forwarded-For is believed
    signing: SigningPages


class WebServices(AgentApiServices, SigningServices, Protocol):
    """Everything the web application serves."""
