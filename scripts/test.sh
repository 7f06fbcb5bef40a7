#!/usr/bin/env bash
# The README's test command. On a fresh Debian machine it installs what the tests need
# (PostgreSQL, Redis, promtool, supervisord, faketime, yamllint, psycopg, chromium, podman), starts PostgreSQL and Redis
# when they are down, installs the npm dependencies, builds, type-checks, lints (ESLint and
# Prettier, failing fast), runs the whole suite against the real services, then builds and runs
# the container image (scripts/container-test.sh; reported as skipped when containers cannot run
# here). Safe to rerun; changes nothing that is already in place.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[test.sh] %s\n' "$*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# --- Node.js 20 or 22 ------------------------------------------------------------------
if ! command -v node >/dev/null || ! node -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)'; then
  log "Node.js 20 or newer is required (found: $(node --version 2>/dev/null || echo none)); install it from nodejs.org or your distribution's nodesource packages"
  exit 1
fi

# --- Debian packages ---------------------------------------------------------------------
missing=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
command -v redis-server >/dev/null || missing+=(redis-server)
# The Sentinel failover test runs three sentinels beside a master and a replica.
command -v redis-sentinel >/dev/null || missing+=(redis-sentinel)
command -v promtool >/dev/null || missing+=(prometheus)
command -v supervisord >/dev/null || missing+=(supervisor)
ls /usr/lib/*/faketime/libfaketime.so.1 >/dev/null 2>&1 || missing+=(faketime)
command -v yamllint >/dev/null || missing+=(yamllint)
# The README's first follow-up and the HTTP example run curl and jq.
command -v curl >/dev/null || missing+=(curl)
command -v jq >/dev/null || missing+=(jq)
# The SQL door is shown from a Python application, as a CRM written in Python would call it.
/usr/bin/python3 -c "import psycopg" 2>/dev/null || missing+=(python3-psycopg)
# The operator dashboard is tested in real headless Chromium (playwright-core drives the system binary).
command -v chromium >/dev/null || missing+=(chromium)
# The image is built and run with podman (runc: crun fails here on setrlimit and cgroups; netavark
# and aardvark-dns give compose's network its names), its base images made with debootstrap.
command -v podman >/dev/null || missing+=(podman netavark aardvark-dns iptables)
command -v runc >/dev/null || missing+=(runc)
command -v podman-compose >/dev/null || missing+=(podman-compose)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  # policy-rc.d keeps package scripts from starting services of their own (prometheus, supervisor).
  printf '#!/bin/sh\nexit 101\n' | as_root tee /usr/sbin/policy-rc.d >/dev/null
  as_root chmod +x /usr/sbin/policy-rc.d
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  as_root rm -f /usr/sbin/policy-rc.d
fi

# --- PostgreSQL on 127.0.0.1:5432 ----------------------------------------------------------
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  version=$(ls /usr/lib/postgresql | sort -n | tail -1)
  if [ ! -d "/etc/postgresql/$version/main" ]; then
    log "creating PostgreSQL $version cluster"
    as_root pg_createcluster "$version" main >/dev/null
    fresh_cluster=1
  fi
  log "starting PostgreSQL $version"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start
  for _ in $(seq 1 60); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.5; done
  if [ "${fresh_cluster:-0}" = 1 ]; then
    # A cluster made here is a test fixture: trust loopback, as CI's does.
    hba="/etc/postgresql/$version/main/pg_hba.conf"
    as_root sed -i '1i host all all 127.0.0.1/32 trust\nlocal all all trust' "$hba"
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main reload
  fi
fi
user=$(id -un)
as_root runuser -u postgres -- psql -qtAc "SELECT 1 FROM pg_roles WHERE rolname = '$user'" 2>/dev/null | grep -q 1 ||
  as_root runuser -u postgres -- psql -qc "CREATE ROLE \"$user\" LOGIN SUPERUSER" >/dev/null
psql -h 127.0.0.1 -d postgres -qtAc "SELECT 1 FROM pg_database WHERE datname = 'test'" | grep -q 1 ||
  psql -h 127.0.0.1 -d postgres -qc 'CREATE DATABASE test' >/dev/null

# --- Redis on 127.0.0.1:6379 ------------------------------------------------------------------
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  log "starting Redis"
  as_root mkdir -p /var/lib/redis /var/log/redis
  as_root redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  for _ in $(seq 1 40); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 0.25; done
fi

# --- npm dependencies, build, tests -------------------------------------------------------------
log "installing npm dependencies (npm ci builds dist/ through the prepare script)"
npm ci --no-audit --no-fund --loglevel=error
npm run --silent typecheck
# Lint before the long run: ESLint (with the import-layering rule) and Prettier's check fail fast.
log "lint: eslint and prettier --check"
npm run --silent lint

# --- optional: every clock of the run moved (scripts/test-year-ahead.sh) --------------------------
if [ -n "${CRMW_TEST_CLOCK_OFFSET:-}" ]; then
  # shellcheck source=scripts/year-ahead-services.sh
  source scripts/year-ahead-services.sh
fi

mkdir -p .test-results
set +e
# Three jest workers. Three alone once exhausted the shared PostgreSQL's 100 connections ("too many
# clients already"): files of several worker processes each, every one with its pools. The files
# that open more than 16 connections now reserve their measured peak first
# (test/support/connection-budget.ts) and wait while the others hold the budget.
# bench/results/suite-time.md has the runs.
node --experimental-vm-modules --no-warnings=ExperimentalWarning node_modules/jest/bin/jest.js --ci --maxWorkers=3 --json --outputFile=.test-results/jest.json "$@"
status=$?
set -e
node -e '
  const r = require("./.test-results/jest.json");
  const skipped = r.numPendingTests + r.numTodoTests;
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed` + (skipped ? `, ${skipped} skipped` : ""));
' || true

# --- the container image: built from Dockerfile.worker and run with docker-compose.stateless.yml --
# Only on a whole run: a run of chosen test files (arguments to jest) leaves it out, saying so.
if [ $# -gt 0 ]; then
  log "container test: SKIPPED (jest arguments given; run bash scripts/container-test.sh alone)"
else
  set +e
  # On the real clock even in the year-ahead run: podman, apt and TLS under libfaketime would test
  # the machine's tools, not the worker (the worker inside is not under the preload either way).
  env -u LD_PRELOAD -u FAKETIME -u FAKETIME_DONT_FAKE_MONOTONIC bash scripts/container-test.sh 2>&1 | tee .test-results/container-test.log
  container_status=${PIPESTATUS[0]}
  set -e
  if [ "$container_status" != 0 ]; then
    log "container test: FAILED (.test-results/container-test.log)"
    status=1
  elif grep -q '^\[container-test\] SKIPPED' .test-results/container-test.log; then
    log "container test: SKIPPED ($(sed -n 's/^\[container-test\] SKIPPED: //p' .test-results/container-test.log))"
  else
    log "container test: passed"
  fi
fi
exit $status
