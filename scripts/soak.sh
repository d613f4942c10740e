#!/usr/bin/env bash
# The soak test's long form (tests/browser/soak.mjs): SOAK_REQUESTS mixed requests (default 600) and
# SOAK_CYCLES load/unload cycles (default 40), in the page and in a worker, each file with a long
# timeout. The figures it prints go in docs/security.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export SOAK_REQUESTS=${SOAK_REQUESTS:-600} SOAK_CYCLES=${SOAK_CYCLES:-40}
for f in tests/browser/soak.test.mjs tests/browser/soak-worker.test.mjs; do
  node --test --test-reporter=spec --test-timeout=3600000 "$f" 2>&1 | grep -vE '^\[page console' | grep -E '^(Engine|WorkerEngine)|^ℹ (pass|fail)|✖'
done
