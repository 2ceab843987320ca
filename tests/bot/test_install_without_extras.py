"""`pip install .` without the `dev` extra: rigshare starts against a real chain, deploys, and
says plainly what the embedded development chain would need.

The modules that only the `dev` extra brings (py-evm, eth-tester, pytest, …) are found from the
installed distributions' metadata and made unimportable in a child process, which is what an
installation without the extra looks like to the code.
"""

from __future__ import annotations

import os
import subprocess
import sys
from importlib import metadata

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

CHILD = """
import importlib.abc, sys
blocked = set(sys.argv[1].split(","))
class Uninstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.partition(".")[0] in blocked:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Uninstalled())
from bot.cli import main
sys.exit(main(sys.argv[2:]))
"""


def _closure(requirements: list[tuple[str, frozenset[str]]]) -> set[str]:
    seen: set[str] = set()
    todo = list(requirements)
    while todo:
        name, extras = todo.pop()
        key = canonicalize_name(name)
        if key in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        seen.add(key)
        for line in dist.requires or ():
            req = Requirement(line)
            wanted = [{"extra": e} for e in extras] or [{"extra": ""}]
            if req.marker is None or any(req.marker.evaluate(env) for env in wanted):
                todo.append((req.name, frozenset(req.extras)))
    return seen


def _dev_only_modules() -> set[str]:
    ours = metadata.distribution("rigshare")
    base, dev = [], []
    for line in ours.requires or ():
        req = Requirement(line)
        target = dev if req.marker is not None and req.marker.evaluate({"extra": "dev"}) else base
        target.append((req.name, frozenset(req.extras)))
    with_dev = _closure(base + dev)
    without = _closure(base)
    only_dev = with_dev - without
    modules = set()
    for module, dists in metadata.packages_distributions().items():
        if dists and all(canonicalize_name(d) in only_dev for d in dists):
            modules.add(module)
    return modules


def _rigshare(tmp_path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    blocked = _dev_only_modules()
    assert {"eth_tester", "pytest"} <= blocked  # the check knows what it is checking
    environ = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path}/rigshare.sqlite3",
        "DATA_DIR": str(tmp_path / "var"),
        **env,
    }
    return subprocess.run(
        [sys.executable, "-c", CHILD, ",".join(sorted(blocked)), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=environ,
        cwd=tmp_path,
    )


def test_without_the_dev_extra_migrate_and_deploy_start_and_the_dev_chain_says_why_not(tmp_path):
    real_chain = {
        "RPC_URL": "http://127.0.0.1:9",  # never contacted by `migrate`
        "ESCROW_ADDRESS": "0x" + "11" * 20,
        "RELAYER_KEY": "0x" + "22" * 32,
    }
    migrated = _rigshare(tmp_path, "migrate", **real_chain)
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    assert "current schema" in migrated.stdout

    deploy = _rigshare(tmp_path, "deploy", "--mock-usdc")
    assert deploy.returncode != 0 and "ModuleNotFoundError" not in deploy.stderr
    assert "needs RPC_URL" in deploy.stdout

    dev = _rigshare(tmp_path, "migrate", CHAIN="dev")
    assert dev.returncode == 2 and "ModuleNotFoundError" not in dev.stderr
    assert "development chain needs py-evm" in dev.stdout and "RPC_URL" in dev.stdout
