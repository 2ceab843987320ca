#!/usr/bin/env bash
# Start the machine's PostgreSQL and Redis when they are installed but not running.
# Tests use them at 127.0.0.1:5432 (database "test") and 127.0.0.1:6379; nothing else.
set -u
up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if ! up 5432 && command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
  for v in /etc/postgresql/*; do
    pg_ctlcluster --skip-systemctl-redirect "$(basename "$v")" main start >/dev/null 2>&1 || true
  done
fi
if ! up 6379 && command -v redis-server >/dev/null 2>&1; then
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /tmp >/dev/null 2>&1 || true
fi
for _ in $(seq 1 30); do up 5432 && break; sleep 0.5; done
exit 0
