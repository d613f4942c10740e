#!/usr/bin/env bash
# The browser benchmark (tests/browser/bench.mjs), for both default models: gguf-web in headless Chromium
# next to the native engine on the same SwiftShader (and wllama in the same browser), and gguf-web in
# Debian's Firefox next to the native engine on Mesa's lavapipe, in the same run. Prints one JSON object
# per model. Arguments go to bench.mjs (e.g. --n-predict 64, --browsers firefox, --skip-wllama, --no-nudge).
# Then the CPU path (tests/browser/bench-cpu.mjs): gguf-web's `backend: 'cpu'` at 1 and 2 threads next to
# wllama at the same thread counts in the same Chromium, with the ratios and the WASM memory; one JSON
# object per model. BENCH_CPU_ONLY=1 runs only that part.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >/dev/null
bash scripts/build-wasm.sh >/dev/null 2>&1
cargo build --release --quiet
models=(models/SmolLM2-135M-Instruct.Q4_1.gguf models/gemma-3-270m-q4_k_m.gguf)
if [ "${BENCH_CPU_ONLY:-0}" != 1 ]; then
  for model in "${models[@]}"; do
    node tests/browser/bench.mjs --model "$model" "$@"
  done
fi
for model in "${models[@]}"; do
  node tests/browser/bench-cpu.mjs --model "$model"
done
