#!/usr/bin/env bash
# Makes the npm package `bgsession` from the release build and packs it:
#   target/npm/bgsession/          the package folder (what `npm pack` packs)
#   target/npm/bgsession-<v>.tgz   the tarball (path printed on the last line)
# Contents: bgsession.js (ES module), bgsession_bg.wasm (the page's wasm),
# the wasm-bindgen snippets it imports, bgsession.d.ts (+
# bgsession_bg.wasm.d.ts), bgsession-sw.js (the daemon worker, importing
# ./bgsession_worker.js, which loads the worker's own bgsession_worker_bg.wasm
# and the same snippets), README.md
# (npm/README.md: for package users), CHANGELOG.md and a package.json written
# here: no dependencies (the library uses none at run time), an `exports` map
# with the worker as its own entry (`bgsession/sw`). Never wasm-pack's
# package.json (it merges the repository's, with the test tooling).
# BGSESSION_SKIP_BUILD=1 packs the www/ already built (by ./scripts/build.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
if [ "${BGSESSION_SKIP_BUILD:-0}" != "1" ]; then
  BGSESSION_SKIP_RUST_APP=1 ./scripts/build.sh
fi
for f in www/pkg/bgsession.js www/pkg/bgsession_bg.wasm www/pkg/bgsession.d.ts www/pkg/bgsession_worker.js www/pkg/bgsession_worker_bg.wasm www/bgsession-sw.js; do
  [ -f "$f" ] || { echo "[package] missing $f: run ./scripts/build.sh first" >&2; exit 1; }
done

out=target/npm
dir=$out/bgsession
rm -rf "$dir"
mkdir -p "$dir"
cp www/pkg/bgsession.js www/pkg/bgsession_bg.wasm www/pkg/bgsession.d.ts www/pkg/bgsession_bg.wasm.d.ts "$dir/"
cp www/pkg/bgsession_worker.js www/pkg/bgsession_worker_bg.wasm "$dir/"
[ -d www/pkg/snippets ] && cp -r www/pkg/snippets "$dir/"
# The worker script next to the library: its import of
# ./pkg/bgsession_worker.js becomes ./bgsession_worker.js (a bundler follows
# it; so does a browser).
sed 's#"\./pkg/bgsession_worker\.js"#"./bgsession_worker.js"#' www/bgsession-sw.js > "$dir/bgsession-sw.js"
grep -q '"\./bgsession_worker\.js"' "$dir/bgsession-sw.js" || { echo "[package] the worker's import of its wasm module was not rewritten" >&2; exit 1; }
cp npm/README.md "$dir/README.md"
cp CHANGELOG.md "$dir/CHANGELOG.md"

# package.json: the version is the crate's (one version for both).
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
node - "$dir" "$version" <<'JS'
const [dir, version] = process.argv.slice(2);
const fs = require("node:fs");
const files = ["bgsession.js", "bgsession_bg.wasm", "bgsession.d.ts", "bgsession_bg.wasm.d.ts", "bgsession_worker.js", "bgsession_worker_bg.wasm", "bgsession-sw.js", "README.md", "CHANGELOG.md"];
if (fs.existsSync(`${dir}/snippets`)) files.push("snippets/");
const pkg = {
  name: "bgsession",
  version,
  description: "iOS Background URLSession, emulated in the browser: a Service Worker daemon, an IndexedDB journal, Apple's API (Rust compiled to WebAssembly).",
  license: "MIT OR Apache-2.0",
  keywords: ["urlsession", "background", "download", "service-worker", "wasm", "indexeddb", "resumable"],
  type: "module",
  main: "./bgsession.js",
  module: "./bgsession.js",
  types: "./bgsession.d.ts",
  exports: {
    ".": { types: "./bgsession.d.ts", default: "./bgsession.js" },
    "./sw": "./bgsession-sw.js",
    "./bgsession-sw.js": "./bgsession-sw.js",
    "./bgsession_bg.wasm": "./bgsession_bg.wasm",
    "./bgsession_worker_bg.wasm": "./bgsession_worker_bg.wasm",
    "./package.json": "./package.json",
  },
  files,
};
fs.writeFileSync(`${dir}/package.json`, JSON.stringify(pkg, null, 2) + "\n");
JS

tarball=$(cd "$out" && npm pack ./bgsession --silent --pack-destination . | tail -1)
echo "[package] $out/$tarball ($(du -k "$out/$tarball" | cut -f1) KiB)"
echo "$PWD/$out/$tarball"
