# Shared by the scripts: the wasm32 build recipe of docs/toolchain.md (Debian's rustc-web with
# std built from source, its own target dir so the two compilers never invalidate each other).
wasm_build() {
  PATH=/usr/bin:$PATH RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 \
  CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=/usr/bin/rust-lld \
  CARGO_TARGET_DIR="${WASM_TARGET_DIR:-target/wasm}" \
  /usr/bin/cargo build --release --target wasm32-unknown-unknown -Zbuild-std=std,panic_abort -p gguf-web --lib "$@"
}
