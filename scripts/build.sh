#!/usr/bin/env bash
# Builds the ready-to-serve www/ folder: www/pkg/bgsession.js + .wasm
# (wasm-pack --target web) next to www/bgsession-sw.js.
# BGSESSION_PROFILE=dev for a fast unoptimised build. Also builds the Rust
# test app (tests/rust-app) unless BGSESSION_SKIP_RUST_APP=1.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
profile_flag="--release"
[ "${BGSESSION_PROFILE:-release}" = "dev" ] && profile_flag="--dev"
wasm-pack --log-level warn build "$profile_flag" --target web --out-dir www/pkg --no-pack
rm -f www/pkg/.gitignore
# The test app written against the Rust API (tests/rust-app), for
# tests/e2e/rust-app.test.mjs; BGSESSION_SKIP_RUST_APP=1 skips it (the demo
# does not need it). It shares target/ with the library's build.
if [ "${BGSESSION_SKIP_RUST_APP:-0}" != "1" ]; then
  CARGO_TARGET_DIR="$PWD/target" wasm-pack --log-level warn build tests/rust-app --dev --target web --out-dir ../fixtures/rust-app/pkg --no-pack
  rm -f tests/fixtures/rust-app/pkg/.gitignore
fi
echo "[build] www/ is ready: www/pkg/bgsession.js, www/pkg/bgsession_bg.wasm ($(du -k www/pkg/bgsession_bg.wasm | cut -f1) KiB), www/bgsession-sw.js"
