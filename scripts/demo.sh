#!/usr/bin/env bash
# Builds bgsession and serves the demo (and the test files it downloads) at
# http://127.0.0.1:${PORT:-8080}/ — installs whatever is missing first.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
BGSESSION_SKIP_RUST_APP=1 ./scripts/build.sh
export PORT="${PORT:-8080}"
echo "[demo] open http://127.0.0.1:${PORT}/ (Ctrl-C stops the server)"
exec node tests/server/server.mjs --port "$PORT"
