#!/usr/bin/env bash
# The browser benchmark (tests/browser/bench.mjs): gguf-web in headless Chromium against wllama in the same
# browser and against the native engine on the same SwiftShader. Prints one JSON object.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >/dev/null
bash scripts/build-wasm.sh >/dev/null 2>&1
cargo build --release --quiet
exec node tests/browser/bench.mjs "$@"
