#!/usr/bin/env python3
"""llama.cpp's CPU speed (through llama-cpp-python) on the prompt `gguf-web bench` uses: prefill
and decode tok/s for one model at a given thread count, as JSON on stdout. scripts/bench-cpu.sh
runs it next to `gguf-web bench --backend cpu` and prints the ratio.

The prompt is bench's pseudo-prompt (crate/src/bin/cli/bench_cpu.rs, `pseudo_prompt`): ordinary
ids spread over the vocabulary. Prefill is the time to the first greedy token (the prompt's
evaluation and one draw, as bench times it); decode the time of the next `--gen-tokens` tokens.
"""
import argparse
import json
import statistics
import time

import llama_cpp.llama_cpp as low
from llama_cpp import Llama

# ggml's extra CPU buffer types (AMX tiles, repacked weight layouts) are switched off: the AMX
# kernels trap with SIGILL on a VM whose kernel does not grant the tile state (this machine's), and
# llama-cpp-python exposes only the one switch (`use_extra_bufts`) for both. Repacking covers
# Q4_0, Q4_K and IQ4_NL here: not SmolLM2's Q4_1, a few of Gemma's tensors.
_default_params = low.llama_model_default_params


def _params():
    p = _default_params()
    p.use_extra_bufts = False
    return p


low.llama_model_default_params = _params


def pseudo_prompt(n_vocab, n):
    base = min(1000, n_vocab // 2)
    return [base + (i * 7919) % (n_vocab - base) for i in range(n)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--prompt-tokens", type=int, default=128)
    ap.add_argument("--gen-tokens", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    llm = Llama(
        model_path=a.model,
        n_ctx=a.prompt_tokens + a.gen_tokens + 8,
        n_batch=512,
        n_threads=a.threads,
        n_threads_batch=a.threads,
        n_gpu_layers=0,
        verbose=False,
    )
    prompt = pseudo_prompt(llm.n_vocab(), a.prompt_tokens)
    prefill, decode, ids = [], [], []
    for _ in range(a.runs):
        llm.reset()
        ids = []
        t0 = time.perf_counter()
        t1 = None
        for tok in llm.generate(prompt, top_k=1, temp=0.0, reset=True):
            ids.append(tok)
            if t1 is None:
                t1 = time.perf_counter()
            if len(ids) == a.gen_tokens + 1:
                break
        t2 = time.perf_counter()
        prefill.append(a.prompt_tokens / (t1 - t0))
        decode.append(a.gen_tokens / (t2 - t1))
    print(json.dumps({
        "engine": "llama.cpp (llama-cpp-python)",
        "threads": a.threads,
        "prompt_tokens": a.prompt_tokens,
        "gen_tokens": a.gen_tokens,
        "prefill_tok_s": statistics.median(prefill),
        "decode_tok_s": statistics.median(decode),
        "ids": ids,
    }))


if __name__ == "__main__":
    main()
