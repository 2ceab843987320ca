"""``rigshare deploy``: deploy the escrow (and MockUSDC on a development chain) to RPC_URL.

Prints the address and the settings lines to put in ``.env``. The deployer key is DEPLOYER_KEY
(else RELAYER_KEY); the operator defaults to the relayer key's address, owner, arbiter and
treasury to the deployer.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from eth_account import Account
from web3 import AsyncHTTPProvider, AsyncWeb3
from web3.exceptions import Web3Exception

from bot.deploy_args import add_parser as add_parser  # noqa: PLC0414 - re-export
from bot.settings import Settings
from contracts.deploy import USDC, EscrowConfig, deploy_escrow, mint
from contracts.errors import ChainError
from contracts.relayer import Relayer


async def run(
    args: argparse.Namespace, settings: Settings, out: Callable[[str], None] = print
) -> int:
    """Deploy and print the result; 2 for a configuration error, 1 when the chain refuses."""
    key = settings.deployer_key or settings.relayer_key
    if not settings.rpc_url or key is None:
        out("rigshare deploy needs RPC_URL and DEPLOYER_KEY (or RELAYER_KEY); see README")
        return 2
    deployer = Account.from_key(key.get_secret_value())
    operator = (
        Account.from_key(settings.relayer_key.get_secret_value()).address
        if settings.relayer_key is not None
        else deployer.address
    )
    owner = args.owner or deployer.address
    config = EscrowConfig(
        owner=owner,
        operator=args.operator or operator,
        arbiter=args.arbiter or owner,
        treasury=args.treasury or owner,
        fee_bps=args.fee_bps or settings.fee_bps,
        min_deposit=args.min_deposit,
        min_prepaid_seconds=args.min_prepaid,
        accept_timeout=args.accept_timeout,
        challenge_window=args.challenge_window,
        arbiter_timeout=args.arbiter_timeout,
    )
    w3 = AsyncWeb3(AsyncHTTPProvider(settings.rpc_url))
    try:
        chain_id = await w3.eth.chain_id
        if chain_id != settings.chain_id:
            out(f"the node is on chain {chain_id}, but CHAIN_ID is {settings.chain_id}")
            return 2
        relayer = Relayer(w3, deployer, confirmations=settings.confirmations)
        done = await deploy_escrow(relayer, config, None if args.mock_usdc else args.token)
        for address in args.mint if args.mock_usdc else ():
            await mint(relayer, done.token, address, 1_000 * USDC)
    except (ChainError, ValueError) as exc:
        out(f"deployment failed: {getattr(exc, 'user_message', exc)}")
        return 1
    except (Web3Exception, OSError) as exc:
        out(f"the node at {settings.rpc_url} did not answer: {exc}")
        return 1
    finally:
        await w3.provider.disconnect()
    out(f"RentalEscrow deployed on chain {chain_id} at block {done.block}")
    mock = f" (MockUSDC, owner {deployer.address})" if args.mock_usdc else ""
    out(f"  token {done.token}{mock}")
    out(f"  operator {config.operator} · arbiter {config.arbiter} · treasury {config.treasury}")
    out("Put these in .env:")
    out(f"ESCROW_ADDRESS={done.escrow}")
    out(f"ESCROW_START_BLOCK={done.block}")
    out(f"CHAIN_ID={chain_id}")
    return 0
