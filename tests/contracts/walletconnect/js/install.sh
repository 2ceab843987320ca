#!/usr/bin/env bash
# Installs the pinned official WalletConnect SDK (sign-client, WalletKit, ox for signing) into
# tests/contracts/walletconnect/js/node_modules with `npm ci` from the committed lockfile, unless
# it is already installed from that lockfile. Quiet unless npm fails.
# usage: bash tests/contracts/walletconnect/js/install.sh
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
stamp="$here/node_modules/.rigshare-lock.sha256"
want="$(sha256sum "$here/package-lock.json" | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    (cd "$here" && npm ci --no-audit --no-fund --loglevel=error >&2)
    echo "$want" >"$stamp"
fi
