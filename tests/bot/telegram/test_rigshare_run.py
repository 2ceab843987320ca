"""`rigshare run` with TELEGRAM_TOKEN serves the bot: the real process polls the Bot API
stand-in and answers."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys

from tests.bot.telegram.fake_telegram import TOKEN, BotApiServer, FakeTelegram
from tests.bot.telegram.support import ALICE, message_json


async def test_rigshare_run_answers_on_telegram(tmp_path):
    telegram = FakeTelegram()
    server = await BotApiServer(telegram).start()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path}/run.sqlite3",
        "CHAIN": "fake",
        "SIMULATED_PROVIDERS": "3",
        "WEB_PORT": "0",
        "TELEGRAM_TOKEN": TOKEN,
        "TELEGRAM_API_URL": server.url,
        "TELEGRAM_POLLING_TIMEOUT_S": "1",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "run",
        "--no-terminal",
        env=env,
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        await _until(lambda: telegram.sent("deleteWebhook"), 60)
        telegram.push_update(
            {
                "message": message_json(1, telegram.now, ALICE.id, ALICE, "/gpus"),
            }
        )
        await _until(lambda: telegram.sent("sendMessage", ALICE.id), 30)
        (page,) = telegram.sent("sendMessage", ALICE.id)
        assert re.match(r"Free GPUs \(\d+ in all\)", page.text)
        assert len(telegram.commands) == 4  # the menus
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
        out, err = await asyncio.wait_for(proc.communicate(), 30)
        await server.stop()
    assert "telegram: connecting (long polling)" in out.decode(), err.decode()[-2000:]


async def _until(condition, seconds: float) -> None:
    for _ in range(int(seconds / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("timed out")
