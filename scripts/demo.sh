#!/usr/bin/env bash
# The main job: sets everything up (idempotent), builds the wasm package and serves the demo chat
# on 127.0.0.1 with the default models. Open the printed URL in a WebGPU browser (Chrome, Edge;
# headless: chromium --enable-unsafe-webgpu). PORT=8080 by default.
# `bash scripts/demo.sh --cli [generate options]` chats natively on the GPU engine instead.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ "${1:-}" = "--cli" ]; then
  shift
  cargo build --release --quiet
  PROMPT="${PROMPT:-Explain in two sentences why the sky is blue.}"
  exec ./target/release/gguf-web generate --model models/SmolLM2-135M-Instruct.Q4_1.gguf --chat \
    --prompt "$PROMPT" --max-tokens 200 "$@"
fi
bash scripts/build-wasm.sh
PORT="${PORT:-8080}"
echo "[demo] serving the chat at http://127.0.0.1:${PORT}/www/ (models: /models/*.gguf); Ctrl-C stops" >&2
exec node tests/browser/server.mjs --port "$PORT"
