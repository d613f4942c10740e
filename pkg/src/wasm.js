// Loads the wasm core once per JS realm (page or worker).
import init, * as core from '../wasm/gguf_web.js';

let ready = null;

// wgpu's WebGPU backend (v30) neither requests the 'subgroups' feature nor reports it, so the core
// would run without its subgroup fast paths (x shared across a subgroup, the CPU adapters'
// attention lanes: a quarter to a third of SwiftShader's decode and prefill time). Devices are
// requested with 'subgroups' wherever the adapter has it and reports its subgroup size, and the
// size is left where the core looks for it (GpuContext::new, web_subgroup_size). Enabling a
// feature changes nothing for other users of the page's WebGPU.
function requestSubgroups() {
  const proto = globalThis.GPUAdapter?.prototype;
  if (!proto || Object.prototype.hasOwnProperty.call(proto, '__ggufWebSubgroups')) return;
  const requestDevice = proto.requestDevice;
  proto.requestDevice = function (desc) {
    const size = this.info?.subgroupMinSize ?? 0;
    globalThis.__ggufWebSubgroupSize = 0;
    if (this.features.has('subgroups') && size > 0) {
      const features = [...(desc?.requiredFeatures ?? [])];
      if (!features.includes('subgroups')) features.push('subgroups');
      desc = { ...desc, requiredFeatures: features };
      globalThis.__ggufWebSubgroupSize = size;
    }
    return requestDevice.call(this, desc);
  };
  Object.defineProperty(proto, '__ggufWebSubgroups', { value: true });
}

/** Resolves to the wasm module's exports; `wasmUrl` overrides where the .wasm file is fetched from. */
export function loadCore(wasmUrl) {
  if (!ready) {
    requestSubgroups();
    ready = init(wasmUrl ? { module_or_path: wasmUrl } : undefined).then(() => core);
  }
  return ready;
}
