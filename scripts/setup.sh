#!/usr/bin/env bash
# Installs everything bgsession needs to build, serve the demo and run tests.
# Idempotent: each step checks first, so a second run takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

WASM_PACK_VERSION=0.15.1
# Must equal the wasm-bindgen version pinned in Cargo.toml (and Cargo.lock).
WASM_BINDGEN_VERSION=$(sed -n 's/^wasm-bindgen = "=\([0-9.]*\)".*/\1/p' Cargo.toml | head -1)
WASM_BINDGEN_VERSION=${WASM_BINDGEN_VERSION:-0.2.130}

log() { printf '[setup] %s\n' "$*"; }
export PATH="$HOME/.cargo/bin:$PATH"

SUDO=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null; then SUDO=sudo; fi

pids=()
# 1. the wasm32 target
if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  log "adding rust target wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

# 2. Browsers from Debian, in one apt run (two apt-gets at once would fight over the lock):
#    Chromium + chromedriver; Firefox ESR (driven by puppeteer-core over WebDriver BiDi);
#    WebKitGTK's WebKitWebDriver + MiniBrowser, which has no headless mode: xvfb + xauth for xvfb-run.
apt_pkgs=()
command -v chromium >/dev/null || apt_pkgs+=(chromium)
command -v chromedriver >/dev/null || apt_pkgs+=(chromium-driver)
command -v firefox-esr >/dev/null || apt_pkgs+=(firefox-esr)
[ -x /usr/bin/WebKitWebDriver ] || apt_pkgs+=(webkit2gtk-driver)
command -v xvfb-run >/dev/null || apt_pkgs+=(xvfb)
command -v xauth >/dev/null || apt_pkgs+=(xauth)
if [ "${#apt_pkgs[@]}" -gt 0 ]; then
  log "installing ${apt_pkgs[*]} from apt"
  ( $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${apt_pkgs[@]}" >/dev/null ) &
  pids+=($!)
fi

# Whether `$1 --version` names version $2. Its whole output is read first: with
# `| grep -q` and pipefail, grep leaving at the first match made a tool that
# prints more (geckodriver) die of a broken pipe, and look missing.
has_version() {
  local out
  out=$("$1" --version 2>/dev/null) || return 1
  [[ $out == *"$2"* ]]
}

# 3. wasm-pack (pinned) — wasm-pack's own downloads fail here, so we install the tools it would fetch.
if ! has_version wasm-pack "$WASM_PACK_VERSION"; then
  log "installing wasm-pack $WASM_PACK_VERSION (cargo install, ~3 min)"
  cargo install --locked wasm-pack --version "$WASM_PACK_VERSION" -q &
  pids+=($!)
fi

# 4. wasm-bindgen-cli equal to the pinned wasm-bindgen (--locked fails on this registry)
if ! has_version wasm-bindgen "$WASM_BINDGEN_VERSION"; then
  log "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (cargo install, ~2.5 min)"
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force -q &
  pids+=($!)
fi

# 4b. geckodriver for `wasm-pack test --firefox` (crates.io; the npm package downloads a binary: fails here)
GECKODRIVER_VERSION=0.37.1
if ! has_version geckodriver "$GECKODRIVER_VERSION"; then
  log "installing geckodriver $GECKODRIVER_VERSION (cargo install, ~2 min)"
  cargo install --locked geckodriver --version "$GECKODRIVER_VERSION" -q &
  pids+=($!)
fi

# 5. node packages, pinned in package-lock.json: playwright-core for the e2e tests and test
#    server (never downloads a browser), puppeteer-core (Firefox) and selenium-webdriver (WebKit)
#    for the cross-engine e2e runs, typescript for the API contract test (tests/api), binaryen
#    for wasm-opt in scripts/build.sh (Debian 12's binaryen 108 breaks wasm-bindgen's externref
#    table; npm's is current and runs on node). None of them downloads a browser.
export PUPPETEER_SKIP_DOWNLOAD=1 PUPPETEER_SKIP_CHROMIUM_DOWNLOAD=1 PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
if [ ! -d node_modules/playwright-core ]; then
  log "npm ci (playwright-core, puppeteer-core, selenium-webdriver, typescript, binaryen)"
  ( npm ci --no-audit --no-fund --silent || npm install --no-audit --no-fund --silent ) &
  pids+=($!)
elif [ ! -x node_modules/.bin/tsc ] || [ ! -x node_modules/.bin/wasm-opt ] || [ ! -d node_modules/puppeteer-core ] || [ ! -d node_modules/selenium-webdriver ]; then
  # Only adds what is missing (npm ci would first delete node_modules, which a running test may be using).
  log "npm install (what package-lock.json pins and node_modules lacks)"
  npm install --no-audit --no-fund --silent &
  pids+=($!)
fi

fail=0
for p in "${pids[@]}"; do wait "$p" || fail=1; done
[ "$fail" = 0 ] || { log "an install step failed"; exit 1; }
log "toolchain ready: $(wasm-pack --version), $(wasm-bindgen --version), $(chromium --version 2>/dev/null | head -1), $(firefox-esr --version 2>/dev/null | head -1), WebKitGTK $(dpkg-query -W -f='${Version}' libwebkit2gtk-4.1-0 2>/dev/null)"
