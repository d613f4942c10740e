#!/usr/bin/env bash
# The whole test suite: setup (idempotent), the house rules (rustfmt, clippy with -D warnings), the
# wasm build with its JS bindings, the browser tests (headless Chromium on WebGPU), then every
# native test with cargo-nextest, then the fuzzers' CI budget (scripts/fuzz.sh, about 1.5 minutes
# after a build of a few minutes). Ends with one summary line. Options are passed on to nextest
# (e.g. a filter).
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || { echo "test summary: FAILED (setup)"; exit 1; }

# Seconds per stage, for the summary: CI's budget is 90 minutes and the suite aims at under 40.
times=""
stage_start=$SECONDS
stage_done() { times="$times $1 $((SECONDS - stage_start))s"; stage_start=$SECONDS; }
stage_done setup

status=0
echo "== lints (cargo fmt --check, cargo clippy -D warnings)"
lints=ok
cargo fmt --all -- --check >/dev/null 2>&1 || { cargo fmt --all -- --check 2>&1 | head -40; lints="FAILED (rustfmt)"; status=1; }
if ! cargo clippy --release --workspace --all-targets -- -D warnings 2>&1 | tail -25; then
  lints="FAILED (clippy)"; status=1
fi
echo "lints: $lints"
stage_done lints

echo "== wasm32 build and bindings"
if bash scripts/build-wasm.sh 2>&1 | tail -3; then wasm="ok"; else wasm="FAILED"; status=1; fi
stage_done wasm

browser="not run"
if [ "$wasm" = ok ]; then
  echo "== browser tests (Chromium, WebGPU on SwiftShader)"
  log=$(mktemp)
  bash scripts/test-browser.sh 2>&1 | tee "$log"
  [ "${PIPESTATUS[0]}" = 0 ] || status=1
  browser=$(grep -E '^ℹ (pass|fail) ' "$log" | tail -2 | sed 's/^ℹ //' | paste -sd, - | sed 's/,/, /')
  rm -f "$log"
fi
stage_done browser

echo "== native tests (cargo nextest, release profile)"
log=$(mktemp)
cargo nextest run --release --workspace --no-fail-fast "$@" 2>&1 | tee "$log"
[ "${PIPESTATUS[0]}" = 0 ] || status=1
native=$(grep -E "^\s+Summary" "$log" | tail -1 | sed 's/^ *Summary *//')
rm -f "$log"
stage_done native

# Fuzzing: the CI budget of scripts/fuzz.sh (20 s per target, after an AddressSanitizer build; the
# logged runs in docs/security.md are the long ones).
echo "== fuzzing (scripts/fuzz.sh, 20 s per target)"
log=$(mktemp)
bash scripts/fuzz.sh 20 2>&1 | tee "$log"
[ "${PIPESTATUS[0]}" = 0 ] || status=1
fuzz=$(grep -E '^fuzz summary: ' "$log" | tail -1 | sed 's/^fuzz summary: //')
rm -f "$log"
stage_done fuzz

echo "test times:$times (total ${SECONDS}s)"
echo "test summary: native: ${native:-no summary}; fuzz: ${fuzz:-no summary}; browser: ${browser:-no summary}; wasm32 build: $wasm; lints: $lints; result: $([ $status = 0 ] && echo PASS || echo FAIL)"
exit $status
