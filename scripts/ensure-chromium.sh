#!/bin/sh
# Make sure Debian's chromium exists for the signing-page browser test (Playwright drives it
# through executable_path=/usr/bin/chromium; nothing ever runs `playwright install`).
# Idempotent and quiet: does nothing when chromium is already installed.
set -eu

if [ -x /usr/bin/chromium ]; then
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
else
    echo "ensure-chromium: chromium is missing and installing it needs root" >&2
    exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-chromium: chromium is missing and apt-get is not available; install chromium" >&2
    exit 1
fi

# env(1) because sudo drops the caller's environment; output is shown only on failure.
log=$(mktemp)
if ! {
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
        $SUDO env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -qq --no-install-recommends chromium
} >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    echo "ensure-chromium: installing chromium failed" >&2
    exit 1
fi
rm -f "$log"
