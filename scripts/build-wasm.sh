#!/usr/bin/env bash
# Builds the wasm core (release, wasm32-unknown-unknown, the recipe of docs/toolchain.md) and
# generates its JS bindings with wasm-bindgen --target web: the plain build into pkg/wasm/, and the
# threaded build of the CPU path (shared memory, a pool of workers; only on cross-origin isolated
# pages) into pkg/wasm-threads/, with its relaxed-SIMD twin pkg/wasm-threads/gguf_web_relaxed_bg.wasm
# (the same exports, so the same JS glue; loaded where the browser validates relaxed SIMD).
# GGUF_WEB_NO_THREADS=1 skips both threaded builds.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
t0=$SECONDS
wasm_build "$@"
# --experimental-reset-state-function: the JS glue can replace a trapped instance with a fresh one
# (pkg/src/wasm.js does after a WebAssembly.RuntimeError; objects of the old instance then refuse use).
wasm-bindgen --target web --experimental-reset-state-function --out-dir pkg/wasm target/wasm/wasm32-unknown-unknown/release/gguf_web.wasm
echo "[build-wasm] pkg/wasm: $(du -h pkg/wasm/gguf_web_bg.wasm | cut -f1) wasm ($((SECONDS - t0)) s)" >&2
if [ "${GGUF_WEB_NO_THREADS:-0}" != 1 ]; then
  t1=$SECONDS
  wasm_build_threads "$@"
  # No reset function: the threaded instance shares its memory with the pool's workers.
  wasm-bindgen --target web --out-dir pkg/wasm-threads target/wasm-threads/wasm32-unknown-unknown/release/gguf_web.wasm
  echo "[build-wasm] pkg/wasm-threads: $(du -h pkg/wasm-threads/gguf_web_bg.wasm | cut -f1) wasm ($((SECONDS - t1)) s)" >&2
  t2=$SECONDS
  wasm_build_threads_relaxed "$@"
  relaxed=$(mktemp -d)
  trap 'rm -rf "$relaxed"' EXIT
  wasm-bindgen --target web --out-dir "$relaxed" target/wasm-threads-relaxed/wasm32-unknown-unknown/release/gguf_web.wasm
  # One glue serves both .wasm files: a difference would be a build that cannot be swapped in. The
  # glue binds exports by name; its comments also name closure shims by table index, which may
  # differ between the two builds and are not code.
  code() { grep -v '^ *// Cast intrinsic for ' "$1"; }
  if ! cmp -s <(code "$relaxed/gguf_web.js") <(code pkg/wasm-threads/gguf_web.js); then
    echo "error: the relaxed-SIMD build's JS glue differs from the threaded build's" >&2
    exit 1
  fi
  cp "$relaxed/gguf_web_bg.wasm" pkg/wasm-threads/gguf_web_relaxed_bg.wasm
  echo "[build-wasm] pkg/wasm-threads/gguf_web_relaxed_bg.wasm: $(du -h pkg/wasm-threads/gguf_web_relaxed_bg.wasm | cut -f1) wasm ($((SECONDS - t2)) s)" >&2
fi
