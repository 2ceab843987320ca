#!/usr/bin/env bash
# Compiles contracts/src into contracts/build/artifacts.json with the pinned npm toolchain
# (installed first by toolchain.sh when missing or stale).
# usage: bash contracts/compile.sh [--out <file>]
set -euo pipefail
toolchain="$(bash "$(dirname "${BASH_SOURCE[0]}")/toolchain.sh")"
exec node "$toolchain/compile.mjs" "$@"
