"""The ``rigshare deploy`` options, apart from the deployment itself so the command line is
built without importing web3."""

from __future__ import annotations

import argparse

from core.domain.money import UNIT as USDC


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("deploy", help="deploy the escrow to the chain at RPC_URL")
    token = p.add_mutually_exclusive_group(required=True)
    token.add_argument("--token", help="the USDC contract (Polygon: native USDC)")
    token.add_argument(
        "--mock-usdc", action="store_true", help="deploy MockUSDC too (development chains only)"
    )
    p.add_argument(
        "--mint",
        action="append",
        default=[],
        metavar="ADDRESS",
        help="with --mock-usdc: mint 1,000 USDC to ADDRESS (repeatable)",
    )
    for role in ("owner", "operator", "arbiter", "treasury"):
        p.add_argument(f"--{role}", metavar="ADDRESS")
    p.add_argument("--fee-bps", type=int, help="platform fee, 1000..1500 (default FEE_BPS)")
    p.add_argument("--min-deposit", type=int, default=USDC, help="micro-USDC (default 1 USDC)")
    p.add_argument("--min-prepaid", type=int, default=600, help="seconds (default 600)")
    p.add_argument("--accept-timeout", type=int, default=3600, help="seconds (default 1 h)")
    p.add_argument("--challenge-window", type=int, default=86_400, help="seconds (default 1 d)")
    p.add_argument("--arbiter-timeout", type=int, default=7 * 86_400, help="seconds (7 d)")
