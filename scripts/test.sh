#!/usr/bin/env bash
# The whole test suite: setup (idempotent), the wasm32 build check, then every native test with
# cargo-nextest. Ends with one summary line. Options are passed on to nextest (e.g. a filter).
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
bash scripts/setup.sh || { echo "test summary: FAILED (setup)"; exit 1; }

status=0
echo "== wasm32 build check"
if wasm_build 2>&1 | tail -3; then wasm="ok"; else wasm="FAILED"; status=1; fi

echo "== native tests (cargo nextest, release profile)"
log=$(mktemp)
cargo nextest run --release --workspace --no-fail-fast "$@" 2>&1 | tee "$log"
[ "${PIPESTATUS[0]}" = 0 ] || status=1
native=$(grep -E "^\s+Summary" "$log" | tail -1 | sed 's/^ *Summary *//')
rm -f "$log"

echo "test summary: native: ${native:-no summary}; wasm32 build: $wasm; result: $([ $status = 0 ] && echo PASS || echo FAIL)"
exit $status
