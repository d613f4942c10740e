#!/usr/bin/env bash
# Builds the wasm core (release, wasm32-unknown-unknown, the recipe of docs/toolchain.md) and
# generates its JS bindings into pkg/wasm/ with wasm-bindgen --target web.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
wasm_build "$@"
wasm-bindgen --target web --out-dir pkg/wasm target/wasm/wasm32-unknown-unknown/release/gguf_web.wasm
echo "[build-wasm] pkg/wasm: $(du -h pkg/wasm/gguf_web_bg.wasm | cut -f1) wasm" >&2
