#!/usr/bin/env bash
# Runs the tests that used to fail under load (the supervisord restart, the delivery-crash lease,
# the DST fast clock) ROUNDS times in a row while stress-ng keeps both cores busy, and writes what
# happened to bench/results/flaky-under-load.md. Not part of the test command: it takes a while and
# measures robustness, not correctness. Needs dist/ (npm run build) and the services of scripts/test.sh.
#
#   bash scripts/flaky-under-load.sh            # 10 rounds, stress-ng --cpu <nproc>
#   ROUNDS=3 bash scripts/flaky-under-load.sh
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${ROUNDS:-10}
files=(test/container/supervisord.test.ts test/faults/delivery-crash.test.ts test/faults/dst-change.test.ts)
out=bench/results/flaky-under-load.md
command -v stress-ng >/dev/null || { echo "stress-ng is missing: apt-get install stress-ng" >&2; exit 2; }

stress-ng --cpu "$(nproc)" --cpu-method matrixprod --quiet &
stress=$!
trap 'kill "$stress" 2>/dev/null || true' EXIT
mkdir -p .test-results
sleep 5 # let the load average climb before the first round

{
  echo "# The formerly flaky tests under load"
  echo
  echo "\`bash scripts/flaky-under-load.sh\` on $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD)."
  echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/{print $2}') GiB;"
  echo "stress-ng --cpu $(nproc) (matrixprod) running throughout, beside whatever else the machine ran."
  echo
  echo "| round | load average at start | passed | failed | result |"
  echo "|---|---|---|---|---|"
} >"$out"

failures=0
for round in $(seq 1 "$rounds"); do
  load=$(cut -d' ' -f1-3 /proc/loadavg)
  set +e
  node --experimental-vm-modules --no-warnings=ExperimentalWarning node_modules/jest/bin/jest.js \
    --ci --maxWorkers=1 --json --outputFile=.test-results/flaky-round.json "${files[@]}" >.test-results/flaky-round.log 2>&1
  status=$?
  set -e
  read -r passed failed < <(node -e 'const r=require("./.test-results/flaky-round.json");console.log(r.numPassedTests, r.numFailedTests)')
  if [ "$status" -eq 0 ]; then result=ok; else result="FAILED"; failures=$((failures + 1)); cp .test-results/flaky-round.log ".test-results/flaky-round-$round.log"; fi
  echo "| $round | $load | $passed | $failed | $result |" >>"$out"
  echo "round $round: $result ($passed passed, $failed failed; load $load)"
done
echo >>"$out"
echo "$rounds rounds, $failures with a failure. Files: ${files[*]}." >>"$out"
exit $((failures > 0))
