#!/usr/bin/env bash
# Builds the wasm core (release, wasm32-unknown-unknown, the recipe of docs/toolchain.md) and
# generates its JS bindings into pkg/wasm/ with wasm-bindgen --target web.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
wasm_build "$@"
# --experimental-reset-state-function: the JS glue can replace a trapped instance with a fresh one
# (pkg/src/wasm.js does after a WebAssembly.RuntimeError; objects of the old instance then refuse use).
wasm-bindgen --target web --experimental-reset-state-function --out-dir pkg/wasm target/wasm/wasm32-unknown-unknown/release/gguf_web.wasm
echo "[build-wasm] pkg/wasm: $(du -h pkg/wasm/gguf_web_bg.wasm | cut -f1) wasm" >&2
