#!/usr/bin/env bash
# The checks and benchmarks for a remote machine with a real GPU (Vulkan), which cannot download models
# or build Rust. Two halves:
#
#   bash scripts/gpu-check.sh prepare   # here: release binaries (CLI, kernel conformance, generated-
#                                       # architecture goldens), speed twins of both default models
#                                       # (scripts/make_twin.py), four of the generated models and the
#                                       # Vulkan loader's .deb, all under .gpu-check/ (ignored by git; about
#                                       # 47 MB, within a remote run's 64 MB). BASE=path/to/gguf-web adds
#                                       # an older CLI, benchmarked alongside for a same-card comparison.
#   bash scripts/gpu-check.sh run       # there, from the repository root with .gpu-check/ copied along:
#                                       # conformance, goldens, `bench --profile` on both twins; logs into
#                                       # $OUT (or .gpu-check/out)
#
# The test binaries find models and fixtures through the path they were built in, so `run` links that
# path to the copy it runs from.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=.gpu-check
GEN=(llama3 qwen3 gemma2 qwen3moe)

prepare() {
  mkdir -p "$dir/gen" "$dir/deb"
  cargo build --release -p gguf-web --bin gguf-web
  local bins
  bins=$(cargo test --release -p gguf-web --lib --test golden_arch --no-run --message-format=json 2>/dev/null |
    python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("executable") and m.get("profile", {}).get("test"):
        print(m["target"]["name"], m["executable"])')
  cp target/release/gguf-web "$dir/gguf-web"
  rm -f "$dir/gguf-web-base"
  [ -n "${BASE:-}" ] && cp "$BASE" "$dir/gguf-web-base"
  while read -r name exe; do cp "$exe" "$dir/test-$name"; done <<< "$bins"
  strip "$dir"/gguf-web* "$dir"/test-*
  (cd "$dir" && tar cJf bins.tar.xz gguf-web* test-* && rm gguf-web* test-*)
  for m in SmolLM2-135M-Instruct.Q4_1 gemma-3-270m-q4_k_m; do
    [ -f "$dir/$m.twin.gguf.gz" ] || python3 scripts/make_twin.py "models/$m.gguf" "$dir/$m.twin.gguf.gz"
  done
  # The generated models with the most quant types, sliding windows and experts (all six are 48 MB).
  for g in "${GEN[@]}"; do cp "models/gen/$g.gguf" "$dir/gen/"; done
  (cd "$dir/deb" && apt-get download libvulkan1 >/dev/null 2>&1 || true)
  echo "$(pwd)" > "$dir/built-in"
  du -sh "$dir"
}

run() {
  local out=${OUT:-$dir/out}
  mkdir -p "$out"
  # The Vulkan loader, if the machine lacks it; NVIDIA's driver ships its ICD file.
  if ! ldconfig -p | grep -q libvulkan.so.1; then
    for f in "$dir"/deb/*.deb; do dpkg -x "$f" /; done
    ldconfig
  fi
  local icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  [ -f "$icd" ] && export VK_DRIVER_FILES=${VK_DRIVER_FILES:-$icd}
  local built
  built=$(cat "$dir/built-in")
  if [ "$(pwd)" != "$built" ] && [ ! -e "$built" ]; then
    mkdir -p "$(dirname "$built")"
    ln -s "$(pwd)" "$built"
  fi
  (cd "$dir" && tar xJf bins.tar.xz)
  mkdir -p models/gen
  cp "$dir"/gen/*.gguf models/gen/
  for m in SmolLM2-135M-Instruct.Q4_1 gemma-3-270m-q4_k_m; do
    gunzip -c "$dir/$m.twin.gguf.gz" > "/tmp/$m.twin.gguf"
  done
  echo "== kernel conformance"
  timeout 300 "$dir/test-gguf_web" gpu:: --test-threads 4 > "$out/conformance.log" 2>&1 && echo ok || echo "FAILED (see conformance.log)"
  grep -E "test result" "$out/conformance.log" || true
  echo "== generated architectures against llama.cpp (GPU engine)"
  timeout 300 "$dir/test-golden_arch" "${GEN[@]/#/gpu_engine::}" --test-threads 4 > "$out/golden_arch.log" 2>&1 && echo ok || echo "FAILED (see golden_arch.log)"
  grep -E "test result" "$out/golden_arch.log" || true
  for m in SmolLM2-135M-Instruct.Q4_1 gemma-3-270m-q4_k_m; do
    for b in gguf-web-base gguf-web; do
      [ -f "$dir/$b" ] || continue
      echo "== $b bench $m (speed twin)"
      timeout 120 "$dir/$b" bench --model "/tmp/$m.twin.gguf" --prompt-tokens 170 --gen-tokens 64 --runs 3 --profile 2>&1 | tee "$out/bench-$b-$m.txt"
    done
  done
}

case "${1:-}" in
  prepare) prepare ;;
  run) run ;;
  *) echo "usage: bash scripts/gpu-check.sh prepare|run" >&2; exit 2 ;;
esac
