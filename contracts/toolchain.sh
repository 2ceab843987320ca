#!/usr/bin/env bash
# Installs the pinned npm toolchain (solc, OpenZeppelin, anvil) into contracts/toolchain/node_modules
# with `npm ci` from the committed lockfile, unless it is already installed from that lockfile.
# usage: bash contracts/toolchain.sh   (prints the toolchain directory)
set -euo pipefail
toolchain="$(cd "$(dirname "${BASH_SOURCE[0]}")/toolchain" && pwd)"
stamp="$toolchain/node_modules/.rigshare-lock.sha256"
want="$(sha256sum "$toolchain/package-lock.json" | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    (cd "$toolchain" && npm ci --no-audit --no-fund --loglevel=error >&2)
    echo "$want" >"$stamp"
fi
echo "$toolchain"
