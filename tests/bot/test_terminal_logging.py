"""While the terminal chat owns the screen, log records go to a file, never into the
conversation (a WARNING of the lifecycle once reached the renter's chat)."""

from __future__ import annotations

import logging

import pytest

from bot.cli import _parser, configure_logging
from bot.settings import Settings


@pytest.fixture
def root_logging():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    root.handlers = []
    yield
    for h in root.handlers:
        h.close()
    root.handlers, root.level = handlers, level


@pytest.mark.parametrize("argv", [["chat", "--as", "alice"], ["run"]])
def test_the_terminal_chat_logs_to_a_file(tmp_path, capfd, root_logging, argv):
    settings = Settings(_env_file=None, data_dir=str(tmp_path / "var"))
    path = configure_logging(_parser().parse_args(argv), settings)
    logging.getLogger("core.services.lifecycle").warning("access failed for rental 2")
    out, err = capfd.readouterr()
    assert "access failed" not in out + err
    assert path is not None and "access failed for rental 2" in path.read_text()


def test_without_the_terminal_the_service_logs_to_stderr(tmp_path, capfd, root_logging):
    settings = Settings(_env_file=None, data_dir=str(tmp_path / "var"))
    assert configure_logging(_parser().parse_args(["run", "--no-terminal"]), settings) is None
    logging.getLogger("core.services.lifecycle").warning("access failed for rental 2")
    assert "access failed for rental 2" in capfd.readouterr().err
