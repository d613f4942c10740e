#!/usr/bin/env bash
# The browser benchmark (tests/browser/bench.mjs), for both default models: gguf-web in headless Chromium
# next to the native engine on the same SwiftShader (and wllama in the same browser), and gguf-web in
# Debian's Firefox next to the native engine on Mesa's lavapipe, in the same run. Prints one JSON object
# per model. Arguments go to bench.mjs (e.g. --n-predict 64, --browsers firefox, --skip-wllama, --no-nudge).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >/dev/null
bash scripts/build-wasm.sh >/dev/null 2>&1
cargo build --release --quiet
for model in models/SmolLM2-135M-Instruct.Q4_1.gguf models/gemma-3-270m-q4_k_m.gguf; do
  node tests/browser/bench.mjs --model "$model" "$@"
done
