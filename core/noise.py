"""Warnings that say nothing to a user of rigshare, silenced one by one (never wholesale)."""

from __future__ import annotations

import warnings


def quiet_asyncssh_dsa() -> None:
    """asyncssh's type hints name cryptography's DSA classes, and cryptography warns "DSA is
    deprecated" for each at import: five lines before every ``rigshare`` and
    ``rigshare-agent`` command. rigshare never uses DSA (the grammar refuses DSA keys). Only
    that message, only from asyncssh; called from the package ``__init__`` so it is in place
    before anything imports asyncssh."""
    warnings.filterwarnings("ignore", message="DSA is deprecated", module=r"asyncssh\.")
