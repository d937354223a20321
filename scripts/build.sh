#!/usr/bin/env bash
# Builds the ready-to-serve www/ folder: www/pkg/bgsession.js + .wasm (the
# page's) and www/pkg/bgsession_worker.js + .wasm (the daemon's), wasm-pack
# --target web, next to www/bgsession-sw.js.
# BGSESSION_PROFILE=dev for a fast unoptimised build. Also builds the Rust
# test app (tests/rust-app) unless BGSESSION_SKIP_RUST_APP=1.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
profile_flag="--release"
[ "${BGSESSION_PROFILE:-release}" = "dev" ] && profile_flag="--dev"
# Two wasms from the one crate (cargo features): the page's
# (www/pkg/bgsession.js + bgsession_bg.wasm: the API, the replay) and the
# daemon worker's (www/pkg/bgsession_worker.js + bgsession_worker_bg.wasm,
# imported by www/bgsession-sw.js). Each host loads only its own half
# (issue 11: at most 500 KiB raw and 180 KB gzipped per wasm).
WASM_OPT="$PWD/node_modules/.bin/wasm-opt"
# wasm-opt -Oz from npm's binaryen (pinned in package.json; wasm-pack's own
# wasm-opt step is off because it downloads binaryen). Not Debian 12's
# binaryen 108: it mistakes wasm-bindgen's externref table for another type
# and the page fails at init ("WebAssembly.Table.set(): Argument 1 is
# invalid"). Cached by the input's SHA-256, so a rebuild with no change costs
# nothing (the run itself takes ~20 s). BGSESSION_WASM_OPT=0 skips it.
optimize() {
  local wasm=$1 cache=target/wasm-opt-cache key raw_before
  [ -x "$WASM_OPT" ] || { echo "[build] $WASM_OPT missing: run ./scripts/setup.sh (npm binaryen)" >&2; exit 1; }
  mkdir -p "$cache"
  key=$( { sha256sum < "$wasm"; "$WASM_OPT" --version; echo "$WASM_OPT_FLAGS"; } | sha256sum | cut -c1-32)  # the input, the tool, the flags
  if [ ! -f "$cache/$key.wasm" ]; then
    raw_before=$(stat -c %s "$wasm")
    # shellcheck disable=SC2086
    "$WASM_OPT" $WASM_OPT_FLAGS "$wasm" -o "$cache/$key.tmp"
    mv "$cache/$key.tmp" "$cache/$key.wasm"
    echo "[build] wasm-opt $WASM_OPT_FLAGS: $wasm $((raw_before / 1024)) KiB -> $(( $(stat -c %s "$cache/$key.wasm") / 1024 )) KiB"
    ls -t "$cache"/*.wasm | tail -n +9 | xargs -r rm -f
  fi
  cp "$cache/$key.wasm" "$wasm"
}
# --merge-similar-functions before -Oz: monomorphised copies that differ
# only in constants become one (after -Oz's inlining it finds none):
# -1.2 KB gzipped for the page's wasm, -0.9 KB for the worker's (2026-12-06).
# --low-memory-unused: the low 1 KiB of memory is never addressed (rustc
# links wasm32 stack-first: 0..1 MiB is the stack, growing down from 1 MiB),
# so constant address offsets fold into loads and stores: -0.5 KB gzipped
# for the worker's wasm (2026-12-06).
WASM_OPT_FLAGS="--merge-similar-functions -Oz --low-memory-unused --strip-debug --strip-producers"
# build_wasm OUT_NAME FEATURE [wasm-pack flags]
build_wasm() {
  local name=$1 feature=$2
  shift 2
  # Panic locations name source files: short paths (crate-relative) in the wasm.
  CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="--remap-path-prefix=$HOME/.cargo/registry/src/= --remap-path-prefix=$PWD/=" \
    wasm-pack --log-level warn build "$profile_flag" --target web --out-dir www/pkg --out-name "$name" --no-pack "$@" -- --no-default-features --features "$feature"
  if [ "$profile_flag" = "--release" ] && [ "${BGSESSION_WASM_OPT:-1}" != "0" ]; then
    optimize "www/pkg/${name}_bg.wasm"
  fi
}
build_wasm bgsession page
build_wasm bgsession_worker worker --no-typescript
rm -f www/pkg/.gitignore www/pkg/package.json
# The simulator for the demo's "What would happen" view (crates/sim-wasm:
# the pure core and src/sim, no browser host) into www/sim/: its own wasm, so
# www/pkg's size budget is untouched. Skipped when www/sim is newer than
# every input; BGSESSION_SKIP_SIM=1 skips it.
if [ "${BGSESSION_SKIP_SIM:-0}" != "1" ]; then
  sim_js=www/sim/bgsession_sim.js
  if [ ! -f "$sim_js" ] || [ -n "$(find src/core src/sim crates/sim-wasm/src crates/sim-wasm/Cargo.toml -newer "$sim_js" -print -quit)" ]; then
    CARGO_TARGET_DIR="$PWD/target" cargo build --quiet --release --target wasm32-unknown-unknown --manifest-path crates/sim-wasm/Cargo.toml
    wasm-bindgen --target web --no-typescript --out-dir www/sim --out-name bgsession_sim target/wasm32-unknown-unknown/release/bgsession_sim_wasm.wasm
    if [ -x "$WASM_OPT" ] && [ "${BGSESSION_WASM_OPT:-1}" != "0" ]; then
      "$WASM_OPT" -Oz --strip-debug --strip-producers www/sim/bgsession_sim_bg.wasm -o www/sim/bgsession_sim_bg.wasm.tmp
      mv www/sim/bgsession_sim_bg.wasm.tmp www/sim/bgsession_sim_bg.wasm
    fi
    touch "$sim_js"
    echo "[build] www/sim/: the simulator, $(( $(stat -c %s www/sim/bgsession_sim_bg.wasm) / 1024 )) KiB raw"
  fi
fi
# The test app written against the Rust API (tests/rust-app), for
# tests/e2e/rust-app.test.mjs; BGSESSION_SKIP_RUST_APP=1 skips it (the demo
# does not need it). It shares target/ with the library's build.
if [ "${BGSESSION_SKIP_RUST_APP:-0}" != "1" ]; then
  CARGO_TARGET_DIR="$PWD/target" wasm-pack --log-level warn build tests/rust-app --dev --target web --out-dir ../fixtures/rust-app/pkg --no-pack
  rm -f tests/fixtures/rust-app/pkg/.gitignore
fi
size_of() {
  local raw gz
  raw=$(stat -c %s "$1")
  gz=$(gzip -9 -c "$1" | wc -c)
  echo "$1 ($raw bytes = $((raw / 1024)) KiB raw, $gz bytes = $((gz / 1000)) KB gzipped -9)"
}
echo "[build] www/ is ready: www/pkg/bgsession.js + the page's $(size_of www/pkg/bgsession_bg.wasm);"
echo "[build]   www/bgsession-sw.js + the worker's www/pkg/bgsession_worker.js + $(size_of www/pkg/bgsession_worker_bg.wasm)"
