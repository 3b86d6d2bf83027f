#!/usr/bin/env bash
# Starts a throwaway PostgreSQL cluster on loopback for the tests and prints its URL.
# Runs the server as an unprivileged user (postgres when called as root). Usage:
#   scripts/start-test-postgres.sh [DIR]      (stop it with: pg_ctl -D DIR/data stop)
set -euo pipefail
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -z "$pgbin" ]; then
  echo "PostgreSQL is not installed (Debian: apt-get install postgresql)" >&2
  exit 1
fi
dir=${1:-/tmp/kbts-test-postgres}
port=${KBTS_TEST_POSTGRES_PORT:-54329}

as_server_user() {
  if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$1"; else sh -c "$1"; fi
}

if [ -f "$dir/data/postmaster.pid" ]; then
  as_server_user "'$pgbin/pg_ctl' -D '$dir/data' -m immediate stop" >/dev/null 2>&1 || true
fi
rm -rf "$dir"
mkdir -p "$dir"
[ "$(id -u)" = 0 ] && chown postgres "$dir"
as_server_user "'$pgbin/initdb' -D '$dir/data' -A trust -U kbts --no-sync" >/dev/null
# fsync off: a test cluster is thrown away, and the suite should not wait on the disk.
as_server_user "'$pgbin/pg_ctl' -D '$dir/data' -l '$dir/server.log' -w \
  -o \"-p $port -k '$dir' -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c max_connections=200\" start" >/dev/null
echo "postgres://kbts@127.0.0.1:$port/postgres"
