#!/bin/sh
# Make sure the OpenSSH client (ssh, scp, sftp, ssh-keyscan) exists: the instance tests log in
# as a renter would, with the real client. Idempotent and quiet.
set -eu

if command -v ssh >/dev/null 2>&1 && command -v sftp >/dev/null 2>&1; then
    exit 0
fi
exec sh "$(dirname "$0")/apt-install.sh" ensure-ssh-client openssh-client
