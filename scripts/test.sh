#!/usr/bin/env bash
# Runs every test of bgsession on a fresh machine (installs what is missing):
#   1. native unit tests of the pure core          (cargo test)
#   2. the local test server's own tests           (node --test tests/server)
#   3. wasm suites in a page and in a Service Worker, headless Chromium (wasm-pack test)
#   4. end-to-end tests: real tabs, real daemon, real IndexedDB (node --test tests/e2e)
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
step() { printf '\n=== %s\n' "$*"; }
t0=$(date +%s)

step "1/4 native core tests (cargo test)"
cargo test --quiet

step "2/4 test server (node --test tests/server)"
node --test tests/server/

step "build www/pkg"
./scripts/build.sh

step "3/4 wasm-pack test --headless --chrome (page + Service Worker suites)"
CHROMEDRIVER="$(command -v chromedriver)" WASM_BINDGEN_TEST_TIMEOUT=120 wasm-pack --log-level warn test --headless --chrome

step "4/4 end-to-end tests in headless Chromium (node --test tests/e2e)"
mkdir -p tests/out
node --test --test-concurrency=1 tests/e2e/

echo
echo "all tests passed in $(( $(date +%s) - t0 )) s"
