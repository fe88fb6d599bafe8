#!/usr/bin/env bash
# A throwaway PostgreSQL for the ledger tests: install it (Debian, as root), start a cluster
# of our own under /tmp on 127.0.0.1:$PORT, create a role and a database, and print
#
#     export ATMSIM_TEST_POSTGRES_URL=postgresql://atmsim:atmsim@127.0.0.1:55432/atmsim_test
#
# on stdout (everything else goes to stderr), so that .ci/run can `eval "$(bash .ci/postgres.sh)"`.
# Running it again reuses the running cluster. Stop it with:
#     runuser -u postgres -- "$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)/pg_ctl" \
#         -D /tmp/atmsim-postgres/data stop
set -euo pipefail

PORT="${ATMSIM_POSTGRES_PORT:-55432}"
BASE="${ATMSIM_POSTGRES_DIR:-/tmp/atmsim-postgres}"
ROLE=atmsim
PASSWORD=atmsim  # a loopback-only test cluster; the password just exercises the URL path
DATABASE=atmsim_test

say() { echo "postgres.sh: $*" >&2; }

if [ "$(id -u)" != 0 ]; then
  say "must run as root (it installs postgresql and runs the server as user postgres)"
  exit 1
fi

if ! ls -d /usr/lib/postgresql/*/bin >/dev/null 2>&1; then
  say "installing postgresql"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
fi
BIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
DATA="$BASE/data"
SOCKETS="$BASE/run"
as_postgres() { runuser -u postgres -- "$@"; }

mkdir -p "$BASE" "$SOCKETS"
chown postgres:postgres "$BASE" "$SOCKETS"
if [ ! -s "$DATA/PG_VERSION" ]; then
  say "creating a cluster in $DATA"
  # Local socket connections (this script's own psql) are trusted; TCP needs the password.
  as_postgres "$BIN/initdb" -D "$DATA" --auth-local=trust --auth-host=scram-sha-256 \
    --encoding=UTF8 --locale=C.UTF-8 >&2
fi

if ! as_postgres "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
  say "starting PostgreSQL on 127.0.0.1:$PORT"
  as_postgres "$BIN/pg_ctl" -D "$DATA" -l "$BASE/server.log" -w -t 60 start \
    -o "-p $PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories=$SOCKETS" >&2
fi

psql_admin() { as_postgres psql -v ON_ERROR_STOP=1 -qAt -h "$SOCKETS" -p "$PORT" -d postgres "$@"; }
if [ "$(psql_admin -c "SELECT 1 FROM pg_roles WHERE rolname = '$ROLE'")" != 1 ]; then
  psql_admin -c "CREATE ROLE $ROLE LOGIN PASSWORD '$PASSWORD'" >&2
fi
if [ "$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname = '$DATABASE'")" != 1 ]; then
  psql_admin -c "CREATE DATABASE $DATABASE OWNER $ROLE" >&2
fi

URL="postgresql://$ROLE:$PASSWORD@127.0.0.1:$PORT/$DATABASE"
say "ready: $URL"
echo "export ATMSIM_TEST_POSTGRES_URL=$URL"
