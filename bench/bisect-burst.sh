#!/bin/bash
# A git bisect step for the burst throughput: good (0) when a 100,000-message burst runs at 2,475 msg/s
# or more (ae46b33: 2,774; c567e50: 2,248 in bench/results/memory.md).
# Run from a git bisect in a worktree with node_modules linked in:
#   BISECT_TREE=$PWD git bisect run bash <main checkout>/bench/bisect-burst.sh
# Each step builds the worktree and times one 100,000 burst with bench/memory.ts (two, averaged, when
# the rate is between 2,350 and 2,600), appending to $TMPDIR/bisect-burst.txt.
BENCH_DIR=$(cd "$(dirname "$0")/.." && pwd)
TREE=${BISECT_TREE:?the worktree being bisected}
OUT=${TMPDIR:-/tmp}
cd "$TREE" || exit 125
rm -rf dist
node node_modules/typescript/bin/tsc -p tsconfig.build.json >"$OUT"/bisect-build.log 2>&1 || exit 125
node -e "require('fs').cpSync('src/db/migrations','dist/db/migrations',{recursive:true})"
rate() {
  (cd "$BENCH_DIR" && BENCH_MEMORY_BUILDS="x=$TREE/dist/main.js" BENCH_ROUNDS=1 BENCH_REST_MS=1000 BENCH_OUT="$OUT"/bisect-mem.md timeout 600 npx tsx bench/memory.ts > "$OUT"/bisect-mem.log 2>&1)
  grep "messages a second" "$OUT"/bisect-mem.md | awk -F'**' '{print $2}'
}
r=$(rate)
[ -z "$r" ] && { echo "$(git rev-parse --short HEAD) no result" >> "$OUT"/bisect-burst.txt; exit 125; }
if [ "$r" -gt 2350 ] && [ "$r" -lt 2600 ]; then r2=$(rate); r="$(( (r + r2) / 2 ))"; fi
echo "$(git rev-parse --short HEAD) rate=$r $(git log -1 --format=%s | cut -c1-90)" >> "$OUT"/bisect-burst.txt
[ "$r" -ge 2475 ]
