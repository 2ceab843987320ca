#!/bin/sh
# apt-install.sh WHO PACKAGE...: install Debian packages quietly, as root or through sudo -n;
# the apt output is shown only when it fails. WHO names the calling script in messages.
# The one place the ensure-*.sh scripts get their packages from.
set -eu

who=$1
shift

if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
else
    echo "$who: missing $*; installing needs root" >&2
    exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "$who: missing $* and apt-get is not available" >&2
    exit 1
fi

# env(1) because sudo drops the caller's environment
log=$(mktemp)
if ! {
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
        $SUDO env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -qq --no-install-recommends "$@"
} >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    echo "$who: installing $* failed" >&2
    exit 1
fi
rm -f "$log"
