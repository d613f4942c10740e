# Shared by the scripts: the wasm32 build recipe of docs/toolchain.md (Debian's rustc-web with
# std built from source, its own target dir so the two compilers never invalidate each other).
# simd128 is on: every browser with WebGPU has it (Chromium 91+, Firefox 89+, Safari 16.4+), and the
# CPU path's kernels are written for it.
WASM_FLAGS="-C target-feature=+simd128"
wasm_build() {
  PATH=/usr/bin:$PATH RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 \
  RUSTFLAGS="$WASM_FLAGS" \
  CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=/usr/bin/rust-lld \
  CARGO_TARGET_DIR="${WASM_TARGET_DIR:-target/wasm}" \
  /usr/bin/cargo build --release --target wasm32-unknown-unknown -Zbuild-std=std,panic_abort -p gguf-web --lib "$@"
}

# The threaded build of the CPU path (pkg/wasm-threads/): atomics, bulk memory and mutable globals
# (std rebuilt with them), and a memory that lld makes shared and imported (the pool's workers
# instantiate the module on the same memory), growing to wasm32's 4 GiB, with the thread-local
# storage symbols that wasm-bindgen's thread support initialises in each thread. Its own target dir:
# other flags, other artifacts.
WASM_THREAD_LINK="-C link-arg=--shared-memory -C link-arg=--import-memory -C link-arg=--max-memory=4294967296 -C link-arg=--export=__wasm_init_tls -C link-arg=--export=__tls_size -C link-arg=--export=__tls_align -C link-arg=--export=__tls_base"
wasm_build_threads() {
  PATH=/usr/bin:$PATH RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 \
  RUSTFLAGS="$WASM_FLAGS -C target-feature=+atomics,+bulk-memory,+mutable-globals $WASM_THREAD_LINK" \
  CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=/usr/bin/rust-lld \
  CARGO_TARGET_DIR="${WASM_THREADS_TARGET_DIR:-target/wasm-threads}" \
  /usr/bin/cargo build --release --target wasm32-unknown-unknown -Zbuild-std=std,panic_abort -p gguf-web --lib "$@"
}

# The threaded build again with relaxed SIMD (its byte dot product: one instruction where the plain
# build needs four), for browsers that have it (pkg/src/wasm.js checks): its own target dir.
wasm_build_threads_relaxed() {
  WASM_FLAGS="$WASM_FLAGS -C target-feature=+relaxed-simd" \
  WASM_THREADS_TARGET_DIR="${WASM_THREADS_RELAXED_TARGET_DIR:-target/wasm-threads-relaxed}" \
  wasm_build_threads "$@"
}
