#!/usr/bin/env bash
# Builds the ready-to-serve www/ folder: www/pkg/bgsession.js + .wasm
# (wasm-pack --target web) next to www/bgsession-sw.js.
# BGSESSION_PROFILE=dev for a fast unoptimised build.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
profile_flag="--release"
[ "${BGSESSION_PROFILE:-release}" = "dev" ] && profile_flag="--dev"
wasm-pack --log-level warn build "$profile_flag" --target web --out-dir www/pkg --no-pack
rm -f www/pkg/.gitignore
echo "[build] www/ is ready: www/pkg/bgsession.js, www/pkg/bgsession_bg.wasm ($(du -k www/pkg/bgsession_bg.wasm | cut -f1) KiB), www/bgsession-sw.js"
