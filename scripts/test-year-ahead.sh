#!/usr/bin/env bash
# The whole suite with the clock a year ahead: proves no test depends on today's date.
# Same as scripts/test.sh (installs what is missing, builds), but the tests run against a
# private PostgreSQL and Redis, and every process of the run (jest, the workers it spawns, the
# two servers) sees the wall clock moved by CRMW_TEST_CLOCK_OFFSET (default +365d) through
# libfaketime. Extra arguments go to jest, as with scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
export CRMW_TEST_CLOCK_OFFSET="${CRMW_TEST_CLOCK_OFFSET:-+365d}"
exec bash scripts/test.sh "$@"
