#!/usr/bin/env bash
# Idempotent setup for a brand-new Debian 12 machine: system packages, the wasm toolchain, npm and Python
# packages, wasm-bindgen-cli at the version Cargo.lock pins, and the two default models.
# Re-running it skips every step whose result is already present.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
log() { printf '[setup] %s\n' "$*" >&2; }
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi

# --- Debian packages -------------------------------------------------------------------------------------
APT_PKGS=(rustc-web cargo-web rust-web-src rust-web-llvm lld-22 mesa-vulkan-drivers libvulkan1 vulkan-tools
          chromium unzip)
missing=()
for p in "${APT_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "apt: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
else
  log "apt: all packages present"
fi

# --- Firefox (Debian's firefox-esr) for the Firefox part of the browser tests and benchmarks -------------
# A separate step: tests/browser/firefox.test.mjs and scripts/bench-browser.sh drive it over WebDriver BiDi
# (puppeteer-core, never a downloaded browser) with WebGPU turned on by prefs (tests/browser/harness.mjs).
if ! dpkg-query -W -f='${Status}' firefox-esr 2>/dev/null | grep -q "install ok installed"; then
  log "apt: installing firefox-esr (a minute or two)"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends firefox-esr >/dev/null
else
  log "apt: firefox-esr present"
fi

# --- Python packages the tests need (fixture scripts need more: see docs/testing.md) --------------------
# Pinned: the generated test models (tests/fixtures/gen_models.py) must come out byte for byte as
# the ones llama.cpp's fixtures were made from.
if ! python3 -c 'from importlib.metadata import version as v; import sys; sys.exit(v("gguf") != "0.19.0" or v("numpy") != "2.4.6")' 2>/dev/null; then
  log "pip: installing test requirements"
  python3 -m pip install -q -r scripts/requirements-test.txt
else
  log "pip: test requirements present"
fi

# --- npm packages (playwright-core drives Debian's chromium, puppeteer-core Debian's firefox-esr; no browser downloads)
if [ -f package.json ]; then
  if [ ! -d node_modules ] || [ package.json -nt node_modules/.setup-stamp ] || \
     { [ -f package-lock.json ] && [ package-lock.json -nt node_modules/.setup-stamp ]; }; then
    log "npm: installing"
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-audit --no-fund --silent
    touch node_modules/.setup-stamp
  else
    log "npm: node_modules up to date"
  fi
fi

# --- wasm-bindgen-cli at the version Cargo.lock pins --------------------------------------------------
WB_VER=$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/version = |"/,""); print; exit}' Cargo.lock 2>/dev/null || true)
if [ -n "$WB_VER" ]; then
  if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$WB_VER" ]; then
    log "cargo: installing wasm-bindgen-cli $WB_VER (several minutes)"
    cargo install -q wasm-bindgen-cli --version "$WB_VER"
  else
    log "cargo: wasm-bindgen-cli $WB_VER present"
  fi
fi

# --- cargo-fuzz, for scripts/fuzz.sh (about a minute to build; the fuzz targets use nightly if rustup has
# it, else the stable compiler with RUSTC_BOOTSTRAP=1) ------------------------------------------------
if [ "$(cargo fuzz --version 2>/dev/null | awk '{print $2}')" != "0.13.2" ]; then
  log "cargo: installing cargo-fuzz 0.13.2 (about a minute)"
  cargo install -q cargo-fuzz --version 0.13.2 --locked
else
  log "cargo: cargo-fuzz 0.13.2 present"
fi

# --- Default models from PyPI ------------------------------------------------------------------------
bash scripts/fetch-models.sh
log "done"
