#!/usr/bin/env bash
# Samples the shared PostgreSQL's client connections by test file while a suite runs, to size the
# files' connection reservations (test/support/connection-budget.ts). Each test database carries
# its file in its comment (createTestDatabase); connections to other databases count as "(other)".
#
#   bash scripts/pg-connections-by-file.sh > conn.tsv &     # every 0.5 s until killed: time, file, connections
#   bash scripts/pg-connections-by-file.sh --summary conn.tsv  # each file's peak, and the server's
set -euo pipefail
url=${TEST_DATABASE_URL:-postgres://root@127.0.0.1:5432/test}

if [ "${1:-}" = --summary ]; then
  awk -F'\t' '
    $2 == "*total*" { if ($3 > total) total = $3; next }
    { if ($3 > peak[$2]) peak[$2] = $3 }
    END {
      printf "server peak\t%d\n", total
      for (f in peak) printf "%s\t%d\n", f, peak[f] | "sort -t\"\t\" -k2,2nr"
    }' "$2"
  exit 0
fi

while :; do
  psql "$url" -qtAF $'\t' -c "
    WITH c AS (
      SELECT coalesce(shobj_description(d.oid, 'pg_database'), '(other)') AS file
      FROM pg_stat_activity a LEFT JOIN pg_database d ON d.datname = a.datname
      WHERE a.backend_type = 'client backend' AND a.pid <> pg_backend_pid())
    SELECT extract(epoch FROM now())::bigint, file, count(*) FROM c GROUP BY file
    UNION ALL SELECT extract(epoch FROM now())::bigint, '*total*', count(*) FROM c" 2>/dev/null || true
  sleep 0.5
done
