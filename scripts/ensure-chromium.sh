#!/bin/sh
# Make sure Debian's chromium exists for the signing-page browser test (Playwright drives it
# through executable_path=/usr/bin/chromium; nothing ever runs `playwright install`).
# Idempotent and quiet: does nothing when chromium is already installed.
set -eu

if [ -x /usr/bin/chromium ]; then
    exit 0
fi

exec sh "$(dirname "$0")/apt-install.sh" ensure-chromium chromium
