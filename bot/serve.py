"""What ``rigshare run|chat|migrate|demo`` do once the command line is parsed: imported only
then, so ``rigshare --help`` starts without the chain, chat and database libraries."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from bot.bootstrap import App, build_app
from bot.leadership import Leadership
from bot.settings import Settings
from bot.terminal.chat import TerminalChat
from bot.web.app import WebServer
from bot.web.health import Health
from core import runtime
from core.db.leader import LeaderLock
from core.errors import CoreError

log = logging.getLogger("rigshare")


async def _main(args: argparse.Namespace, settings: Settings) -> int:
    # `run` serves the agent API, so grants go to real agents (simulated hosts answer too)
    try:
        app = build_app(
            settings, auto_approve=True, agents="http" if args.command == "run" else None
        )
    except ValueError as exc:
        print(f"configuration error: {exc}")
        return 2
    try:
        await app.start(chain=args.command != "migrate")
    except CoreError as exc:  # the chain: no escrow at the address, another chain id ...
        print(f"cannot start: {exc.user_message}")
        await app.close()
        return 2
    try:
        if args.command == "migrate":
            print("database is at the current schema")
            return 0
        if args.command == "chat":
            return await _chat(app, args)
        return await _run(app, args)
    finally:
        await app.close()


async def _demo(args: argparse.Namespace) -> int:
    from rigshare_dev.demo.story import DemoFailed, run_demo

    try:
        await run_demo(print, dispute=args.dispute)
    except DemoFailed as exc:
        print(f"demo failed: {exc}")
        return 1
    return 0


async def _chat(app: App, args: argparse.Namespace) -> int:
    from rigshare_dev.simulation import seed_market  # the development package: only when used

    await seed_market(app, app.settings.simulated_providers)
    runtime.tune_gc_for_serving()  # an operator's session may last all day
    chat = TerminalChat(app)
    if args.script:
        errors = await chat.run_script(args.script.read_text().splitlines(), args.user)
        print(f"script done: {errors} error repl{'y' if errors == 1 else 'ies'}")
        return 0
    await chat.interactive(args.user)
    return 0


async def _run(app: App, args: argparse.Namespace) -> int:
    # the development package: simulated providers (none when SIMULATED_PROVIDERS=0) and the
    # development wallet's requests left by the last process (none with a real wallet)
    from rigshare_dev.recovery import resume_wallet_requests
    from rigshare_dev.simulation import command_loop, heartbeat_loop, seed_market

    hosts = await seed_market(app, app.settings.simulated_providers)
    await resume_wallet_requests(app)  # the development wallet died with the last process
    health = Health()
    telegram = _telegram_front(app)
    mounts = [telegram.mount] if telegram is not None and telegram.webhook else []
    web = WebServer(app, app.settings.web_host, app.settings.web_port, health=health, mounts=mounts)
    try:
        await web.start()
        app.notes.append(f"agent API: {web.url}/agent/v1/ (rigshare-agent --server {web.url})")
    except OSError as exc:
        app.notes.append(f"agent API: cannot listen on {web.url} ({exc.strerror or exc})")
    runtime.tune_gc_for_serving()
    print(f"rigshare is running on {app.settings.database_url}")
    for note in app.notes:
        print(f"  · {note}")
    print(f"  · {len(hosts)} simulated providers online")
    tasks = [
        asyncio.create_task(heartbeat_loop(app, hosts)),
        asyncio.create_task(command_loop(app, hosts)),
        asyncio.create_task(_leader_loop(app, health)),
    ]
    if telegram is not None:
        mode = f"webhook at {telegram.webhook_url}" if telegram.webhook else "long polling"
        print(f"  · telegram: connecting ({mode})")
        tasks.append(asyncio.create_task(_telegram(telegram)))
    if app.settings.discord_token is not None:
        print("  · discord: connecting (slash commands are synced on start)")
        # one gateway connection for all shards: with several processes, one runs it and a
        # standby takes over when that process dies (Discord would answer twice otherwise)
        lock = LeaderLock(app.db, _lock_name(app, "discord"))
        tasks.append(asyncio.create_task(Leadership(lock, [lambda: _discord_held(app)]).run()))
    try:
        if args.no_terminal:
            await asyncio.Event().wait()
        chat = TerminalChat(app)
        tasks.append(asyncio.create_task(_outbox_loop(chat)))
        await chat.interactive(args.user)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await web.stop()
    return 0


def _telegram_front(app: App):  # noqa: ANN202 - aiogram is imported only when it is used
    if app.settings.telegram_token is None:
        return None
    from bot.telegram.front import TelegramFrontEnd

    return TelegramFrontEnd(app)


async def _telegram(front) -> None:  # noqa: ANN001
    try:
        await front.start()
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # a refused token or no network: the rest keeps running
        log.exception("telegram front end stopped")
        print(f"  · telegram: stopped ({exc.__class__.__name__}; see the log)")
    finally:
        await front.stop()


async def _discord_held(app: App) -> None:
    await _discord(app)
    await asyncio.Event().wait()  # stopped on an error: keep the lock, a standby would fail too


async def _discord(app: App) -> None:
    from bot.discord.bot import run_discord  # discord.py is imported only when it is used

    token = app.settings.discord_token.get_secret_value()
    try:
        await run_discord(app, token, test_guild_id=app.settings.discord_guild_id)
    except Exception as exc:  # a refused token or no network: the rest keeps running
        log.exception("discord front end stopped")
        print(f"  · discord: stopped ({exc.__class__.__name__}; see the log)")


RELIABILITY_EVERY_S = 600.0


async def _leader_loop(app: App, health: Health | None = None) -> None:
    """The chain watcher and the keeper run only in the process holding the leader lock."""
    work = [lambda: _keeper_loop(app)]
    if app.watcher is not None:
        work.append(lambda: app.watcher.run(app.settings.watch_interval_s))
    # advisory locks are per database: deployments in schemas of one database lead apart
    lock = LeaderLock(app.db, _lock_name(app, "leader"))
    on_change = health.set_leader if health is not None else None
    await Leadership(lock, work, on_change=on_change).run()


def _lock_name(app: App, role: str) -> str:
    schema = app.settings.database_schema
    return f"{role}:{schema}" if schema else role


async def _keeper_loop(app: App) -> None:
    next_scores = 0.0
    loop = asyncio.get_running_loop()
    while True:
        # each job on its own: one that raises does not skip the others for this pass
        await _job("keeper tick", app.keeper.tick)
        await _job("marking silent machines offline", app.agents.mark_silent_offline)
        if loop.time() >= next_scores:  # uptime and response times move slowly
            next_scores = loop.time() + RELIABILITY_EVERY_S
            await _job("refreshing reliability", app.agents.refresh_all_reliability)
            await _job("pruning GPU samples", app.agents.prune_samples)
        # apart from the rentals' pass: a failure of one never holds up the other
        await _job("probe tick", app.probes.tick)
        await asyncio.sleep(app.settings.keeper_interval_s)


async def _job(name: str, step: Callable[[], Awaitable[object]]) -> None:
    try:
        await step()
    except Exception:
        log.exception("%s failed", name)


async def _outbox_loop(chat: TerminalChat) -> None:
    while True:
        try:
            await chat.flush()
        except Exception:
            log.exception("outbox delivery failed")
        await asyncio.sleep(1.0)
