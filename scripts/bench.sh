#!/usr/bin/env bash
# Benchmarks bgsession against the browser's own limits in headless Chromium
# (prints a table and JSON). SIZE_MIB=256 RUNS=3 by default. Not a test.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
BGSESSION_SKIP_RUST_APP=1 ./scripts/build.sh
exec node tests/bench/bench.mjs
