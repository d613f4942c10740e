// Loads the wasm core once per JS realm (page or worker).
import init, * as core from '../wasm/gguf_web.js';

let ready = null;

/** Resolves to the wasm module's exports; `wasmUrl` overrides where the .wasm file is fetched from. */
export function loadCore(wasmUrl) {
  if (!ready) {
    ready = init(wasmUrl ? { module_or_path: wasmUrl } : undefined).then(() => core);
  }
  return ready;
}
