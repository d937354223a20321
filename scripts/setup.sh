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

# 2. Chromium + chromedriver from Debian
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  log "installing chromium and chromium-driver from apt"
  ( $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null ) &
  pids+=($!)
fi

# 3. wasm-pack (pinned) — wasm-pack's own downloads fail here, so we install the tools it would fetch.
if ! command -v wasm-pack >/dev/null || ! wasm-pack --version | grep -q "$WASM_PACK_VERSION"; then
  log "installing wasm-pack $WASM_PACK_VERSION (cargo install, ~3 min)"
  cargo install --locked wasm-pack --version "$WASM_PACK_VERSION" -q &
  pids+=($!)
fi

# 4. wasm-bindgen-cli equal to the pinned wasm-bindgen (--locked fails on this registry)
if ! command -v wasm-bindgen >/dev/null || ! wasm-bindgen --version | grep -q "$WASM_BINDGEN_VERSION"; then
  log "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (cargo install, ~2.5 min)"
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force -q &
  pids+=($!)
fi

# 5. node packages, pinned in package-lock.json: playwright-core for the e2e tests and test
#    server (never downloads a browser), typescript for the API contract test (tests/api),
#    binaryen for wasm-opt in scripts/build.sh (Debian 12's binaryen 108 breaks
#    wasm-bindgen's externref table; npm's is current and runs on node)
if [ ! -d node_modules/playwright-core ]; then
  log "npm ci (playwright-core, typescript, binaryen)"
  ( npm ci --no-audit --no-fund --silent || npm install --no-audit --no-fund --silent ) &
  pids+=($!)
elif [ ! -x node_modules/.bin/tsc ] || [ ! -x node_modules/.bin/wasm-opt ]; then
  # Only adds what is missing (npm ci would first delete node_modules, which a running test may be using).
  log "npm install (typescript, binaryen's wasm-opt, as pinned in package-lock.json)"
  npm install --no-audit --no-fund --silent &
  pids+=($!)
fi

fail=0
for p in "${pids[@]}"; do wait "$p" || fail=1; done
[ "$fail" = 0 ] || { log "an install step failed"; exit 1; }
log "toolchain ready: $(wasm-pack --version), $(wasm-bindgen --version), $(chromium --version 2>/dev/null | head -1)"
