#!/usr/bin/env bash
# The checks and benchmarks for a remote machine with a real GPU (Vulkan), which cannot download models
# or build Rust. Two halves:
#
#   bash scripts/gpu-check.sh prepare   # here: release binaries (CLI, kernel conformance, generated-
#                                       # architecture goldens), speed twins of both default models
#                                       # (scripts/make_twin.py), four of the generated models and the
#                                       # Vulkan loader's .deb, all under .gpu-check/ (ignored by git; about
#                                       # 47 MB, within a remote run's 64 MB). BASE=path/to/gguf-web adds
#                                       # an older CLI, benchmarked alongside for a same-card comparison
#                                       # (as are any other .gpu-check/gguf-web-* placed before packing).
#   bash scripts/gpu-check.sh run       # there, from the repository root with .gpu-check/ copied along:
#                                       # conformance, goldens, `bench --profile` on both twins; logs into
#                                       # $OUT (or .gpu-check/out)
#
# The test binaries find models and fixtures through the path they were built in, so `run` links that
# path to the copy it runs from.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=.gpu-check
# The generated architectures tests/fixtures/archs.json marks for this check.
mapfile -t GEN < <(python3 -c 'import json; m = json.load(open("tests/fixtures/archs.json"))["models"]; print("\n".join(k for k, v in m.items() if v["gpuCheck"]))')

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
  (cd "$dir/deb" && apt-get download libvulkan1 libglvnd0 libegl1 libglx0 libgl1 >/dev/null 2>&1 || true)
  echo "$(pwd)" > "$dir/built-in"
  du -sh "$dir"
}

# Finds a Vulkan driver setup under which wgpu sees the NVIDIA GPU: the stock ICD file (it worked on an
# H200 once glvnd was there), else one naming libEGL_nvidia, which also exports the ICD entry points
# and needs no X. Prints what it tried into $1/driver.log.
driver() {
  local log=$1/driver.log probe=models/gen/llama3.gguf egl=/tmp/nvidia_egl_icd.json
  local stock=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  {
    ls -l /dev/nvidia* 2>&1; cat "$stock" 2>&1; ldconfig -p | grep -iE 'nvidia|vulkan|GLdispatch' 2>&1
    nvidia-smi --query-gpu=name,driver_version --format=csv 2>&1
  } > "$log"
  local api
  api=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ICD"]["api_version"])' "$stock" 2>/dev/null || echo 1.3.0)
  printf '{"file_format_version":"1.0.0","ICD":{"library_path":"libEGL_nvidia.so.0","api_version":"%s"}}\n' "$api" > "$egl"
  export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
  local try
  for try in stock egl; do
    if [ $try = stock ]; then export VK_DRIVER_FILES=$stock; else export VK_DRIVER_FILES=$egl; fi
    echo "== driver try: $try" >> "$log"
    if timeout 30 "$dir/gguf-web" generate --model "$probe" --prompt hi --max-tokens 1 --json >> "$log" 2>&1 &&
      grep -q '"adapter":"[^"]*NVIDIA' "$log"; then
      echo "== Vulkan driver: $try"
      return 0
    fi
  done
  echo "== no Vulkan driver found (see driver.log)"; tail -5 "$log"
  return 1
}

run() {
  local out=${OUT:-$dir/out}
  mkdir -p "$out"
  # The Vulkan loader and glvnd (NVIDIA's ICD lives in libGLX_nvidia, which needs libGLdispatch);
  # NVIDIA's driver ships its ICD file.
  for f in "$dir"/deb/*.deb; do dpkg -x "$f" /; done
  ldconfig
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
  driver "$out" || return 1
  for m in SmolLM2-135M-Instruct.Q4_1 gemma-3-270m-q4_k_m; do
    for b in $(cd "$dir" && ls gguf-web-* 2>/dev/null) gguf-web; do
      echo "== $b bench $m (speed twin)"
      timeout 60 "$dir/$b" bench --model "/tmp/$m.twin.gguf" --prompt-tokens 170 --gen-tokens 64 --runs 3 --profile 2>&1 | tee "$out/bench-$b-$m.txt"
    done
  done
  echo "== decode steps per GPU round trip: K = 1 against the adaptive K and fixed K = 8, 32, each with and without the next batch started ahead (speed twins)"
  for m in SmolLM2-135M-Instruct.Q4_1 gemma-3-270m-q4_k_m; do
    for k in adaptive 8 32; do
      local f="$out/decode-k-$m-$k.json"
      GGUF_WEB_DECODE_K=$([ $k = adaptive ] || echo $k) timeout 90 "$dir/gguf-web" bench --model "/tmp/$m.twin.gguf" --prompt-tokens 170 \
        --gen-tokens 128 --runs 3 --json > "$f" 2> "$f.err" || { echo "$m K=$k FAILED (see $f.err)"; continue; }
      python3 -c 'import json, sys; r = json.load(open(sys.argv[1])); print("%s K=%s: decode %.1f tok/s at K up to %d; K=1 %.1f tok/s; %.2fx; without batches ahead %.1f tok/s, ahead %.2fx (ahead by default: %s)" % (sys.argv[2], sys.argv[3], r["decode_tok_s"], r["decode_k"], r["decode_tok_s_k1"], r["decode_k_ratio"], r["decode_tok_s_no_ahead"], r["decode_ahead_ratio"], r["decode_ahead_default"]))' "$f" "$m" "$k"
    done
  done
  echo "== matvec variants (bench-kernels --all-variants; KTYPES=none skips)"
  [ "${KTYPES:-}" = none ] || timeout 90 "$dir/gguf-web" bench-kernels --all-variants --types "${KTYPES:-Q4_1,Q5_0,Q4_K,Q6_K,Q8_0}" > "$out/bench-kernels.txt" 2>&1 || echo "bench-kernels FAILED"
  grep -sE "^copy|all shapes" "$out/bench-kernels.txt" || true
  echo "== kernel conformance"
  timeout 150 "$dir/test-gguf_web" gpu:: --test-threads 4 > "$out/conformance.log" 2>&1 && echo ok || echo "FAILED (see conformance.log)"
  grep -E "test result" "$out/conformance.log" || true
  echo "== generated architectures against llama.cpp (GPU engine)"
  GGUF_WEB_ARCHS=$(IFS=,; echo "${GEN[*]}") timeout 150 "$dir/test-golden_arch" gpu_ --test-threads 4 > "$out/golden_arch.log" 2>&1 && echo ok || echo "FAILED (see golden_arch.log)"
  grep -E "test result" "$out/golden_arch.log" || true
}

case "${1:-}" in
  prepare) prepare ;;
  run) run ;;
  *) echo "usage: bash scripts/gpu-check.sh prepare|run" >&2; exit 2 ;;
esac
