#!/usr/bin/env bash
# The chaos soak (tests/soak/soak.mjs): MINUTES of random downloads and
# uploads under every fault and app event we can inject, then the checks
# (exactly one didCompleteWithError per task, SHA-256 of every file and
# upload, no event lost or repeated, nothing left behind, usage() = bytes
# stored). Not part of ./scripts/test.sh, which runs a 1-minute version.
#   MINUTES=10 (default)  ENGINE=chromium|firefox (default: chromium, then firefox)
#   SEED=n to replay a run; SOAK_DEBUG=1 prints each action.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
BGSESSION_SKIP_RUST_APP=1 ./scripts/build.sh
status=0
for engine in $(echo "${ENGINE:-chromium,firefox}" | tr , ' '); do
  ENGINE="$engine" MINUTES="${MINUTES:-10}" node tests/soak/soak.mjs || status=1
done
exit $status
