#!/usr/bin/env bash
# The fast CPU engine natively next to llama.cpp's CPU backend on the same cores: for each default
# model, `gguf-web bench --backend cpu` (GGUF_WEB_THREADS threads) and scripts/bench_llamacpp.py
# (llama-cpp-python, as many threads) on the same pseudo-prompt, alternated ROUNDS times so that
# both see the same machine load; prints each engine's median prefill and decode tok/s and their
# ratio (gguf-web / llama.cpp). Needs `pip install llama-cpp-python`.
#   scripts/bench-cpu.sh [THREADS=2] [PROMPT=128] [GEN=64] [ROUNDS=3]
set -euo pipefail
cd "$(dirname "$0")/.."
T=${1:-2}; P=${2:-128}; G=${3:-64}; R=${4:-3}
cargo build --release -q
for m in models/SmolLM2-135M-Instruct.Q4_1.gguf models/gemma-3-270m-q4_k_m.gguf; do
  ours=(); theirs=()
  for _ in $(seq "$R"); do
    ours+=("$(GGUF_WEB_THREADS=$T target/release/gguf-web bench --backend cpu --model "$m" --prompt-tokens "$P" --gen-tokens "$G" --runs 1 --json)")
    theirs+=("$(python3 scripts/bench_llamacpp.py --model "$m" --prompt-tokens "$P" --gen-tokens "$G" --threads "$T" --runs 1)")
  done
  python3 - "$m" "$T" "${#ours[@]}" "${ours[@]}" "${theirs[@]}" <<'PY'
import json, statistics, sys
m, t, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
runs = [json.loads(x) for x in sys.argv[4:]]
ours, theirs = runs[:n], runs[n:]
med = lambda rs, k: statistics.median(r[k] for r in rs)
print(f"{m} ({t} threads, {ours[0]['prompt_tokens']}-token prompt, {ours[0]['gen_tokens']} generated, median of {n}):")
for k, name in [("prefill_tok_s", "prefill"), ("decode_tok_s", "decode")]:
    a, b = med(ours, k), med(theirs, k)
    print(f"  {name:8} gguf-web {a:7.1f} tok/s   llama.cpp {b:7.1f} tok/s   ratio {a / b:.2f}")
print(f"  engine: {ours[0]['engine']}")
PY
done
