#!/usr/bin/env bash
# Builds the cargo-fuzz targets of crate/fuzz/ (AddressSanitizer, release) and runs each for a while,
# its corpus seeded from the models (crate/fuzz/make_seeds.py: header prefixes, cut vocabularies, the
# real chat templates, the tokenizer fixtures). One summary line per target, then `fuzz summary:`.
# Exits non-zero on a crash; libFuzzer saves the input under crate/fuzz/artifacts/TARGET/.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]    (default: 60 s for each of the four targets)
#
# FUZZ_ARGS adds libFuzzer options (e.g. -jobs=2). FUZZ_NICE=19 runs the fuzzers at that niceness (long runs on a shared machine). The corpora stay in
# crate/fuzz/corpus/ (ignored by git) and grow from run to run; delete it to start again from the seeds.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SECS=${1:-60}
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(gguf_header tokenizer chat_template tokenizer_meta)
log() { printf '[fuzz] %s\n' "$*" >&2; }

# cargo-fuzz needs nightly flags (-Zsanitizer): a nightly toolchain if rustup has one, else the
# stable compiler with RUSTC_BOOTSTRAP=1 (its AddressSanitizer runtime works the same).
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  CARGO=(cargo +nightly)
else
  export RUSTC_BOOTSTRAP=1
  CARGO=(cargo)
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz summary: FAILED (cargo-fuzz is not installed: run scripts/setup.sh)"; exit 1
fi

cd crate/fuzz
log "building ${TARGETS[*]} with ${CARGO[*]} (AddressSanitizer)"
t0=$(date +%s)
if [ $# -eq 0 ] && [ ${#TARGETS[@]} -eq 4 ]; then build=("${CARGO[@]}" fuzz build -O); else build=(); fi
ok=1
if [ ${#build[@]} -gt 0 ]; then
  "${build[@]}" >build.log.tmp 2>&1 || ok=0
else
  for t in "${TARGETS[@]}"; do "${CARGO[@]}" fuzz build -O "$t" >>build.log.tmp 2>&1 || { ok=0; break; }; done
fi
if [ $ok = 0 ]; then
  tail -30 build.log.tmp; rm -f build.log.tmp
  echo "fuzz summary: FAILED (build)"; exit 1
fi
rm -f build.log.tmp
log "built in $(( $(date +%s) - t0 )) s"
BIN=target/x86_64-unknown-linux-gnu/release

# Seeds, once (models/ is written by setup; make_seeds.py reads it with gguf-py).
if [ ! -f corpus/.seeded ]; then
  log "seeding corpora from models/ and tests/fixtures/"
  python3 make_seeds.py "$ROOT/models" "$ROOT/tests/fixtures" corpus >&2 || { echo "fuzz summary: FAILED (seeds)"; exit 1; }
  touch corpus/.seeded
fi

status=0
summary=()
for t in "${TARGETS[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t"
  out=$(mktemp)
  start=$(date +%s)
  # -detect_leaks=0: a render leaks its bounded template values by design (tokenizer/chat docs: a
  # namespace that holds itself is a reference cycle); ASAN_OPTIONS's detect_leaks=0 too, or
  # LeakSanitizer still reports those at exit (the chat_template run of 2026-12-07 failed so);
  # -timeout=10: a hostile template must fail in about a second, ten under the sanitizer is a hang.
  ASAN_OPTIONS="detect_leaks=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}" nice -n "${FUZZ_NICE:-0}" "$BIN/$t" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -detect_leaks=0 \
    -print_final_stats=1 -artifact_prefix="artifacts/$t/" ${FUZZ_ARGS:-} "corpus/$t" >"$out" 2>&1
  rc=$?
  secs=$(( $(date +%s) - start ))
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$out" | grep -o '[0-9]*$' | tail -1)
  cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+' "$out" | tail -1)
  crash=$(grep -oE "Test unit written to \S+" "$out" | tail -1 | sed 's/Test unit written to //')
  if [ $rc = 0 ]; then
    line="$t: ok, ${execs:-?} runs in ${secs} s, ${cov:-no stats}"
  else
    status=1
    line="$t: CRASH (exit $rc) after ${execs:-?} runs, input saved to crate/fuzz/${crash:-artifacts/$t/ (none written)}"
    grep -E 'panicked at|ERROR: (AddressSanitizer|libFuzzer)|^SUMMARY' -A2 "$out" | head -12 >&2
    cp "$out" "artifacts/$t/last-crash.log"
    log "reproduce: (cd crate/fuzz && ${CARGO[*]} fuzz run $t ${crash:-INPUT})"
  fi
  echo "fuzz $line"
  summary+=("$t $([ $rc = 0 ] && echo ok || echo CRASH)")
  rm -f "$out"
done
echo "fuzz summary: ${SECS} s per target: $(IFS=,; echo "${summary[*]}" | sed 's/,/, /g'); result: $([ $status = 0 ] && echo PASS || echo FAIL)"
exit $status
