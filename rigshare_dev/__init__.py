"""The development kit: what the embedded default and ``rigshare demo`` run on instead of the
outside world. None of it is the product.

- ``chain``: the embedded development chain (py-evm in process, MockUSDC and the escrow
  deployed at start; needs the ``dev`` extra), ``CHAIN=dev``;
- ``fakes``: the in-memory chain (escrow, signatures, wallet), ``CHAIN=fake``;
- ``wallet``: development wallets that sign inside the service process; ``recovery`` hands
  them the requests a dead process left unanswered;
- ``hosts`` and ``simulation``: the simulated provider agents (``SIMULATED_PROVIDERS``);
- ``walletconnect``: a loopback WalletConnect relay and a scripted wallet (the demo's wallets);
- ``demo``: ``rigshare demo``.

Only the composition roots (``bot/bootstrap.py``, ``bot/cli.py``) import this package, and
only where the settings or the command choose it; nothing else in ``core``, ``bot``,
``contracts`` or ``provider_agent`` does (import-linter holds that, pyproject.toml). Test and
benchmark harnesses live under ``tests/``.
"""
