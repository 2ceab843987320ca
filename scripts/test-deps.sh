#!/usr/bin/env bash
# Test-only system parts: the OpenSSH client, the container engine (scripts/ensure-engine.sh),
# Debian's chromium (the signing-page browser test) and the Solidity toolchain from npm. Each
# step is idempotent and quiet; nothing is downloaded outside the package registries.
set -eu
cd "$(dirname "$0")/.."
bash scripts/ensure-ssh-client.sh
if [ -f scripts/ensure-engine.sh ]; then bash scripts/ensure-engine.sh; fi
if [ -f scripts/ensure-chromium.sh ]; then
  bash scripts/ensure-chromium.sh
fi
if [ -f contracts/toolchain.sh ] && command -v npm >/dev/null 2>&1; then
  bash contracts/toolchain.sh >/dev/null
fi
if command -v npm >/dev/null 2>&1; then bash tests/contracts/walletconnect/js/install.sh; fi
