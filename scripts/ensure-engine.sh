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

# shellcheck disable=SC2086 # one word per package
exec sh "$(dirname "$0")/apt-install.sh" ensure-engine $missing
