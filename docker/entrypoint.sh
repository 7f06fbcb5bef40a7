#!/bin/sh
# Container entry point: checks what supervisord.worker.conf needs, then runs supervisord as
# PID 1 (nodaemon). docker stop sends SIGTERM to supervisord, which stops the worker (drain,
# release locks, exit 0) and Qdrant within their stopwaitsecs.
set -eu

if [ -z "${SUPERVISOR_PASSWORD:-}" ]; then
  echo "entrypoint: SUPERVISOR_PASSWORD must be set (supervisorctl authenticates with it)" >&2
  exit 78
fi

# stopwaitsecs of the worker must exceed SHUTDOWN_TIMEOUT_MS plus the lock release and client
# close after it: derive it, so raising the shutdown timeout cannot make supervisord SIGKILL a
# worker that is still draining.
shutdown_ms="${SHUTDOWN_TIMEOUT_MS:-5000}"
case "$shutdown_ms" in
  ''|*[!0-9]*) ;; # not a number: the worker itself reports SHUTDOWN_TIMEOUT_MS and exits 78
  *)
    derived=$(( shutdown_ms / 1000 + 25 ))
    if [ "$derived" -gt "${WORKER_STOP_WAIT_SECS:-0}" ]; then WORKER_STOP_WAIT_SECS=$derived; fi
    ;;
esac
export WORKER_STOP_WAIT_SECS

# Without a Qdrant binary (a slimmed image) the worker still runs; /health says qdrant unhealthy
# or disabled, and the knowledge jobs report themselves disabled.
if [ ! -x "${QDRANT_BIN:-/nonexistent}" ]; then
  echo "entrypoint: no Qdrant binary at ${QDRANT_BIN:-}; qdrant program will not start" >&2
  QDRANT_AUTOSTART=false
fi
export QDRANT_AUTOSTART

# Qdrant always runs with an API key. Without one from the operator, a random key for this
# container's life: supervisord gives it to Qdrant and, through the environment, to the worker.
if [ -z "${QDRANT_API_KEY:-}" ]; then
  QDRANT_API_KEY=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
fi
export QDRANT_API_KEY

mkdir -p "$SUPERVISOR_LOG_DIR" "$SUPERVISOR_RUN_DIR" "$QDRANT_STORAGE_PATH" "$QDRANT_SNAPSHOTS_PATH"
exec supervisord -c /etc/supervisor/supervisord.conf
