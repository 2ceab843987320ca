"""The front ends type against narrow facades (bot/common/services.py, bot/web/services.py and
the front ends' own); the composition root's App must provide every member of each, with the
same type, or a front end would be handed an application that lacks what it calls."""

from __future__ import annotations

import inspect
import typing

import pytest

from bot.bootstrap import App, build_app
from bot.common.services import ChatFrontServices, ChatServices
from bot.settings import Settings
from bot.telegram.front import TelegramServices
from bot.terminal.chat import TerminalServices
from bot.web.services import AgentApiServices, SigningServices, WebServices
from core.ports import EventSource
from tests.fakes.clock import FakeClock

FACADES = [
    ChatServices,
    ChatFrontServices,
    TelegramServices,
    TerminalServices,
    AgentApiServices,
    SigningServices,
    WebServices,
]
# the development chain is imported only under TYPE_CHECKING in bot/bootstrap.py
APP_TYPES = typing.get_type_hints(App, localns={"DevChain": object})


def _members(facade: type) -> tuple[dict[str, object], set[str]]:
    """The facade's attributes with their types, and its methods' names."""
    attributes = typing.get_type_hints(facade)
    methods = {
        name
        for klass in facade.__mro__
        if klass not in (typing.Protocol, typing.Generic, object)
        for name, value in vars(klass).items()
        if inspect.isfunction(value) and not name.startswith("_")
    }
    return attributes, methods


@pytest.mark.parametrize("facade", FACADES, ids=lambda f: f.__name__)
def test_the_app_provides_every_member_of_each_facade(facade: type) -> None:
    attributes, methods = _members(facade)
    assert attributes or methods, f"{facade.__name__} names nothing"
    for name, kind in attributes.items():
        assert name in APP_TYPES, f"App has no {name} (wanted by {facade.__name__})"
        assert APP_TYPES[name] == kind, f"App.{name} is {APP_TYPES[name]}, not {kind}"
    for name in methods:
        want = getattr(facade, name)
        have = getattr(App, name, None)
        assert have is not None, f"App has no {name}() (wanted by {facade.__name__})"
        assert inspect.iscoroutinefunction(have) == inspect.iscoroutinefunction(want)


def test_the_facades_are_narrower_than_the_app() -> None:
    for facade in FACADES:
        attributes, _ = _members(facade)
        assert len(attributes) < len(APP_TYPES) // 2, facade.__name__


async def test_ports_that_report_back_are_given_the_events_router(tmp_path) -> None:
    settings = Settings(
        _env_file=None, chain="fake", database_url=f"sqlite:///{tmp_path}/rigshare.sqlite3"
    )
    app = build_app(settings, clock=FakeClock())
    try:
        reporting = [p for p in (app.wallet, app.agent_gateway) if isinstance(p, EventSource)]
        assert len(reporting) == 2  # the development wallet and the simulated agents
        for port in reporting:
            assert port.events is app.events
        assert app.agent_commands.events is app.events
    finally:
        await app.close()
