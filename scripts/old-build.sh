#!/usr/bin/env bash
# Builds the www/ of an earlier commit of this repository (default 2ddb749,
# the build users have today, whose IndexedDB schema predates the machine
# redesign), for tests/e2e/upgrade.test.mjs, and prints the folder:
#   target/old-www/<full hash>/www        its www/ (pkg/ built as that commit built it)
#   target/old-www/<full hash>/fixtures   its tests/fixtures (the test app of that time)
# Its crates come from cargo's cache, or from crates.io when the old lock
# names one the current build no longer uses (serde-wasm-bindgen); kept by
# hash, so a second run costs nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
rev="${1:-2ddb749}"
if ! git rev-parse --verify --quiet "${rev}^{commit}" > /dev/null && [ "$(git rev-parse --is-shallow-repository)" = "true" ]; then
  echo "[old-build] a shallow clone: fetching the history that holds $rev from origin" >&2
  git fetch --quiet --unshallow origin >&2 || true
fi
hash=$(git rev-parse --verify --quiet "${rev}^{commit}") || { echo "[old-build] no commit $rev in this clone (a shallow clone? fetch its history)" >&2; exit 1; }
root="$PWD/target/old-www"
out="$root/$hash"
if [ -f "$out/.built" ]; then echo "$out"; exit 0; fi
src="$root/src-$hash"
rm -rf "$src" "$out"
mkdir -p "$src"
git archive "$hash" | tar -x -C "$src"
t0=$(date +%s)
# Its own build script, as it built then (wasm-pack --release, no wasm-opt
# at that time); the Rust test app is not needed. One target dir for every
# old build, apart from the current one's (different sources, same crates).
(cd "$src" && CARGO_TARGET_DIR="$root/target" BGSESSION_SKIP_RUST_APP=1 ./scripts/build.sh) >&2
mkdir -p "$out"
cp -r "$src/www" "$out/www"
cp -r "$src/tests/fixtures" "$out/fixtures"
rm -rf "$src"
echo "$(( $(date +%s) - t0 ))" > "$out/.built"
echo "[old-build] $hash built in $(cat "$out/.built") s" >&2
echo "$out"
