#!/usr/bin/env bash
# Sets everything up and runs the main job: chat with the default model (SmolLM2-135M-Instruct).
# Extra arguments go to `gguf-web generate` (e.g. --backend cpu, --max-tokens 200).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build --release --quiet
PROMPT="${PROMPT:-Explain in two sentences why the sky is blue.}"
exec ./target/release/gguf-web generate --model models/SmolLM2-135M-Instruct.Q4_1.gguf --chat \
  --prompt "$PROMPT" --max-tokens 200 "$@"
