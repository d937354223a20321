#!/usr/bin/env bash
# Runs every test of bgsession on a fresh machine (installs what is missing):
#   1. native unit tests of the pure core          (cargo test)
#   2. the local test server's own tests           (node --test tests/server)
#   3. the API contract against the built package: tsc on tests/api/sample.ts
#      (uses every name of API.md) and the names test (node --test tests/api)
#   4. wasm suites in a page and in a Service Worker, headless Chromium and Firefox (wasm-pack test)
#   5. end-to-end tests: real tabs, real daemon, real IndexedDB (node --test tests/e2e),
#      then one minute of the chaos soak in Chromium (tests/soak/soak.mjs; ./scripts/soak.sh
#      runs longer ones)
#   6. the packages as published: the crate (cargo package, which builds it from the
#      packaged sources; the README's Rust example built for wasm32) and the npm
#      tarball (scripts/package.sh) installed into a Vite app and a no-bundler page,
#      each driven in headless Chromium (node --test tests/package)
#   7. the browser-behaviour scenarios in every engine: Firefox ESR (puppeteer-core over
#      WebDriver BiDi), WebKitGTK (selenium + WebKitWebDriver + MiniBrowser under xvfb-run)
#      and Chromium through the same driver (ENGINE=... node --test tests/e2e/engines/*.engine.mjs);
#      known engine gaps are reported as TODO with their reason. BGSESSION_ENGINES=firefox,webkit
#      (say) picks engines; figures go to tests/out/engine-figures.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
step() { printf '\n=== %s\n' "$*"; }
# TAP as before, then the failures again at the end of the step's output.
report=(--test-reporter=tap --test-reporter-destination=stdout --test-reporter=./tests/failures-reporter.mjs --test-reporter-destination=stdout)
t0=$(date +%s)

step "1/7 native core tests and the simulator (cargo test --all-features)"
cargo test --quiet --all-features

step "2/7 test server (node --test tests/server)"
node --test "${report[@]}" tests/server/

step "build www/pkg"
./scripts/build.sh
# 2ddb749's www/ for tests/e2e/upgrade.test.mjs (offline, cached by hash in target/old-www/).
./scripts/old-build.sh > /dev/null

step "3/7 API contract (tsc --noEmit --strict tests/api/sample.ts; node --test tests/api)"
node_modules/.bin/tsc -p tests/api/tsconfig.json --noEmit --strict
node --disable-warning=MODULE_TYPELESS_PACKAGE_JSON --test "${report[@]}" tests/api/

step "4/7 wasm-pack test --headless --chrome (page + Service Worker suites)"
CHROMEDRIVER="$(command -v chromedriver)" WASM_BINDGEN_TEST_TIMEOUT=120 wasm-pack --log-level warn test --headless --chrome
echo "--- the same suites in Firefox ESR (geckodriver from crates.io)"
GECKODRIVER="$(command -v geckodriver)" WASM_BINDGEN_TEST_TIMEOUT=120 wasm-pack --log-level warn test --headless --firefox

step "5/7 end-to-end tests in headless Chromium (node --test tests/e2e)"
mkdir -p tests/out
node --test "${report[@]}" --test-concurrency=1 tests/e2e/
echo "--- one minute of the chaos soak (./scripts/soak.sh for longer runs; SEED= replays one)"
MINUTES=1 ENGINE=chromium node tests/soak/soak.mjs

step "6/7 packages: cargo package, the README's Rust example (wasm32), the npm tarball in a Vite app and a plain page"
# --allow-dirty only when the work tree has uncommitted changes (a fresh clone has none).
dirty=""
[ -z "$(git status --porcelain 2>/dev/null)" ] || { dirty="--allow-dirty"; echo "(uncommitted changes: cargo package --allow-dirty)"; }
cargo package --locked --quiet $dirty
cargo build --quiet --target wasm32-unknown-unknown --examples
node --test "${report[@]}" --test-concurrency=1 tests/package/

step "7/7 the browser-behaviour scenarios in Firefox, WebKit and Chromium (tests/e2e/engines)"
rm -f tests/out/engine-figures.jsonl
for engine in $(echo "${BGSESSION_ENGINES:-firefox,webkit,chromium}" | tr , ' '); do
  printf -- '--- %s\n' "$engine"
  ENGINE="$engine" node --test "${report[@]}" --test-concurrency=1 tests/e2e/engines/*.engine.mjs
done

echo
echo "all tests passed in $(( $(date +%s) - t0 )) s"
