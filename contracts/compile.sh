#!/usr/bin/env bash
# Compiles contracts/src into contracts/build/artifacts.json with the pinned npm toolchain.
# Installs the toolchain (npm ci, from the committed lockfile) first when it is missing or stale.
# usage: bash contracts/compile.sh [--out <file>]
set -euo pipefail
toolchain="$(cd "$(dirname "${BASH_SOURCE[0]}")/toolchain" && pwd)"
stamp="$toolchain/node_modules/.rigshare-lock.sha256"
want="$(sha256sum "$toolchain/package-lock.json" | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    (cd "$toolchain" && npm ci --no-audit --no-fund --loglevel=error >&2)
    echo "$want" >"$stamp"
fi
exec node "$toolchain/compile.mjs" "$@"
