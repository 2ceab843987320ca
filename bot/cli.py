"""``rigshare`` command line: run the service, chat in a terminal, migrate the database."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from bot.deploy_args import add_parser as add_deploy_parser
from core import runtime  # the standard library only: --help stays fast

if TYPE_CHECKING:
    from bot.settings import Settings

# The service's modules (chain, chat libraries, database) are imported only once a command
# needs them (bot/serve.py, bot/deploy.py): `rigshare --help` answers at once.


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rigshare", description="GPU rental marketplace in chat")
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the service on its embedded defaults (or .env)")
    run.add_argument("--as", dest="user", default="you", help="terminal user name")
    run.add_argument("--no-terminal", action="store_true", help="no terminal front end")
    chat = sub.add_parser("chat", help="talk to the marketplace in the terminal")
    chat.add_argument("--as", dest="user", default="you", help="user name to speak as")
    chat.add_argument("--script", type=Path, help="replay a conversation from a file")
    sub.add_parser("migrate", help="upgrade the database schema and exit")
    demo = sub.add_parser("demo", help="play one whole rental end to end on this machine")
    demo.add_argument(
        "--dispute", action="store_true", help="an agent outage and the evidence-based refund"
    )
    add_deploy_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from bot.settings import Settings

    settings = Settings()
    configure_logging(args, settings)
    try:
        if args.command == "deploy":
            from bot import deploy

            return runtime.run(deploy.run(args, settings))
        from bot import serve

        if args.command == "demo":
            logging.getLogger().setLevel(logging.ERROR)  # the story owns the screen
            return runtime.run(serve._demo(args))
        return runtime.run(serve._main(args, settings))
    except KeyboardInterrupt:
        return 130


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(args: argparse.Namespace, settings: Settings) -> Path | None:
    """Log to stderr, except while the terminal chat owns the screen: then to a file in the
    data directory (returned), so no log record is printed into the conversation."""
    terminal = args.command == "chat" or (args.command == "run" and not args.no_terminal)
    if not terminal:
        logging.basicConfig(
            level=settings.log_level, format=LOG_FORMAT, stream=sys.stderr, force=True
        )
        return None
    path = Path(settings.data_dir) / "rigshare.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=settings.log_level, format=LOG_FORMAT, filename=path, force=True)
    return path


if __name__ == "__main__":
    raise SystemExit(main())
