#!/bin/sh
# Make sure the Debian packages behind the container-engine tests (tests/engine) are installed:
# dockerd and podman (each started privately inside a network namespace by the tests, never as
# a host service), Debian's registry, mmdebstrap and static busybox for the offline test images,
# file system tools for a quota-capable dockerd data root, dropbear and sftp-server for SSH in
# images that ship none, iptables, and catatonit (podman's container init; dockerd brings tini).
# Idempotent and quiet: does nothing (in a few milliseconds) when everything is installed.
set -eu

PACKAGES="docker.io docker-registry podman mmdebstrap busybox-static dropbear-bin
openssh-sftp-server xfsprogs btrfs-progs iptables catatonit"

missing=""
for package in $PACKAGES; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null || true)
    if [ "$status" != "installed" ]; then
        missing="$missing $package"
    fi
done
if [ -z "$missing" ]; then
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
else
    echo "ensure-engine: missing$missing; installing them needs root" >&2
    exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-engine: missing$missing and apt-get is not available" >&2
    exit 1
fi

# env(1) because sudo drops the caller's environment; output is shown only on failure.
log=$(mktemp)
# shellcheck disable=SC2086 # one word per package
if ! {
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
        $SUDO env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -qq --no-install-recommends $missing
} >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    echo "ensure-engine: installing$missing failed" >&2
    exit 1
fi
rm -f "$log"
