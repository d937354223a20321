#!/usr/bin/env bash
# Benchmarks bgsession against the browser's own limits (prints a table and
# JSON). SIZE_MIB=256 RUNS=3 by default. Not a test.
#   ./scripts/bench.sh                     headless Chromium, every section
#                                          (tests/bench/bench.mjs; memory, kill and
#                                          tasks need CDP)
#   ENGINE=chromium|firefox|webkit|all ./scripts/bench.sh   (or BENCH_ENGINES=a,b)
#                                          throughput ((d)/(b)) and the replay of
#                                          1,000 events in each engine, through the
#                                          engine tests' driver (tests/bench/engines.mjs)
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
BGSESSION_SKIP_RUST_APP=1 ./scripts/build.sh
if [ -n "${ENGINE:-}" ] || [ -n "${BENCH_ENGINES:-}" ]; then
  exec node tests/bench/engines.mjs
fi
exec node tests/bench/bench.mjs
