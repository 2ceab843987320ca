#!/bin/sh
# Make sure an OpenSSH server binary exists for the SSH integration tests (which start their
# own private sshd on 127.0.0.1; they never use the system sshd or port 22).
# Idempotent and quiet: does nothing when sshd is already installed.
set -eu

if [ -x /usr/sbin/sshd ] || command -v sshd >/dev/null 2>&1; then
    mkdir -p /run/sshd 2>/dev/null || true
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
else
    echo "ensure-sshd: sshd is missing and installing openssh-server needs root" >&2
    exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-sshd: sshd is missing and apt-get is not available; install openssh-server" >&2
    exit 1
fi

# env(1) because sudo drops the caller's environment; output is shown only on failure.
log=$(mktemp)
if ! {
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
        $SUDO env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -qq --no-install-recommends openssh-server &&
        $SUDO mkdir -p /run/sshd
} >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    echo "ensure-sshd: installing openssh-server failed" >&2
    exit 1
fi
rm -f "$log"
