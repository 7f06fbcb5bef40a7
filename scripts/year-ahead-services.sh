#!/usr/bin/env bash
# Sourced by scripts/test.sh when CRMW_TEST_CLOCK_OFFSET is set (scripts/test-year-ahead.sh sets
# it): starts a private PostgreSQL whose clock runs at that offset through libfaketime, points the
# tests at it (TEST_DATABASE_URL) and exports the libfaketime variables, so that jest, every
# worker process it spawns and the database share one moved clock. The database's clock must move
# with the workers': leases and due times are read from it. Redis keeps the real clock: crm-worker
# gives it only relative times (SET PX, PEXPIRE, rate-limit windows), and redis-server hangs under
# libfaketime (its jemalloc calls clock_gettime while libfaketime initialises). Monotonic clocks are
# left alone (FAKETIME_DONT_FAKE_MONOTONIC), as on a real machine whose calendar is a year on.
# Everything is removed again by the EXIT trap.

faketime_lib=$(ls /usr/lib/*/faketime/libfaketime.so.1 2>/dev/null | head -1)
[ -n "$faketime_lib" ] || { log "libfaketime is missing (Debian package faketime)"; exit 1; }

free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }

moved_dir=$(mktemp -d /tmp/crmw-moved-clock-XXXXXX)
chmod 755 "$moved_dir"
pg_port=$(free_port)
pg_bin=/usr/lib/postgresql/$(ls /usr/lib/postgresql | sort -n | tail -1)/bin
as_postgres() { if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$moved_dir"; runuser -u postgres -- "$@"; else "$@"; fi; }
clock_env=(LD_PRELOAD="$faketime_lib" FAKETIME="$CRMW_TEST_CLOCK_OFFSET" FAKETIME_DONT_FAKE_MONOTONIC=1)

stop_moved_services() {
  as_postgres env "${clock_env[@]}" "$pg_bin/pg_ctl" -D "$moved_dir/pg" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$moved_dir"
}
trap stop_moved_services EXIT

log "starting PostgreSQL on port $pg_port with the clock at $CRMW_TEST_CLOCK_OFFSET"
as_postgres "$pg_bin/initdb" -D "$moved_dir/pg" -A trust -U postgres --no-sync >/dev/null
as_postgres env "${clock_env[@]}" "$pg_bin/pg_ctl" -D "$moved_dir/pg" -l "$moved_dir/pg.log" -w \
  -o "-p $pg_port -k $moved_dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" start >/dev/null

export TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$pg_port/postgres"
export LD_PRELOAD="$faketime_lib" FAKETIME="$CRMW_TEST_CLOCK_OFFSET" FAKETIME_DONT_FAKE_MONOTONIC=1
log "clock check: the database says $(psql "$TEST_DATABASE_URL" -qtAc 'SELECT now()'), node says $(node -e 'console.log(new Date().toISOString())')"
