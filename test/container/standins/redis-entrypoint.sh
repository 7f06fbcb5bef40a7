#!/bin/sh
# The stand-in redis image's entry point: redis-server as the redis user in /data, reachable
# from the other containers (protected mode off, as in the official image).
set -eu
if [ "${1:-}" = redis-server ]; then
  shift
  chown redis:redis /data
  exec setpriv --reuid=redis --regid=redis --init-groups redis-server "$@" --protected-mode no --dir /data
fi
exec "$@"
