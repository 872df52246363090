#!/usr/bin/env bash
# Start or stop a throwaway PostgreSQL cluster for tests, using the Debian server binaries.
#
#   scripts/postgres-test-cluster.sh start DIR   -> initdb in DIR, start on 127.0.0.1 at a free port,
#                                                  print the SQLAlchemy URL (postgresql+psycopg://...)
#   scripts/postgres-test-cluster.sh stop DIR    -> stop the server and delete DIR
#
# The server runs as the postgres user when invoked as root (initdb refuses to run as root), listens
# only on 127.0.0.1 (plus a Unix socket in DIR), trusts local connections and runs with fsync off:
# fast, and never for real data. PG_BIN overrides the binaries' directory. As root, DIR's parent
# directories must be enterable by the postgres user (a fresh directory under /tmp is).
set -euo pipefail

command=${1:?usage: $0 start|stop DIR}
dir=${2:?usage: $0 start|stop DIR}
bin=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
if [[ -z "$bin" || ! -x "$bin/pg_ctl" ]]; then
  echo "PostgreSQL server binaries not found (apt-get install postgresql, or set PG_BIN)" >&2
  exit 3
fi

as_owner() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "$command" in
  start)
    mkdir -p "$dir"
    chmod 755 "$dir"
    if [[ $(id -u) -eq 0 ]]; then
      chown postgres: "$dir"
      if ! runuser -u postgres -- test -w "$dir"; then
        echo "the postgres user cannot reach $dir: use a directory whose parents it can enter (e.g. under /tmp)" >&2
        exit 3
      fi
    fi
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    as_owner "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --no-sync >"$dir/initdb.log" 2>&1
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-h 127.0.0.1 -p $port -k $dir -F -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
      start >/dev/null
    echo "$port" >"$dir/port"
    echo "postgresql+psycopg://postgres@127.0.0.1:$port/postgres"
    ;;
  stop)
    if [[ -f "$dir/data/postmaster.pid" ]]; then
      as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    ;;
  *)
    echo "usage: $0 start|stop DIR" >&2
    exit 2
    ;;
esac
