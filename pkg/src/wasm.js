// Loads the wasm core once per JS realm (page or worker): the plain build, or for the CPU path on
// several threads the threaded build (pkg/wasm-threads/: shared memory, a pool of workers,
// threads.js), which can only be instantiated on a cross-origin isolated page.
import init, * as core from '../wasm/gguf_web.js';
import { InternalError } from './errors.js';
import { startPool } from './threads.js';

let ready = null;

// A sleep of `ms` for the core's wait on a read-back (GpuContext::nudge_until_mapped in
// crate/src/gpu/context.rs: between sleeps it submits an empty command list, which makes Firefox resolve
// mapAsync at once instead of on its ~100 ms timer). The timer is started from a MessageChannel message,
// not from the previous timer, so that browsers do not clamp it to 4 ms as a nested setTimeout.
if (!globalThis.__ggufWebYield && typeof MessageChannel === 'function') {
  const channel = new MessageChannel();
  const waiting = [];
  channel.port1.onmessage = () => {
    const { resolve, ms } = waiting.shift();
    setTimeout(resolve, ms);
  };
  globalThis.__ggufWebYield = (ms = 0) =>
    new Promise((resolve) => {
      waiting.push({ resolve, ms });
      channel.port2.postMessage(0);
    });
}

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
    return requestDevice.call(this, desc).then(trackBuffers);
  };
  Object.defineProperty(proto, '__ggufWebSubgroups', { value: true });
}

// Live GPU buffer bytes of the devices the core created in this realm: counted as wgpu creates
// buffers and as they, or their devices, are destroyed (wgpu's WebGPU backend destroys nothing it
// drops; the core destroys a freed model's device), so a leak of GPU memory shows (the soak test,
// tests/browser/soak.test.mjs, checks that it stays flat).
let liveGpuBytes = 0;
function trackBuffers(device) {
  const createBuffer = device.createBuffer;
  const live = new Map(); // buffer → bytes, while neither it nor its device is destroyed
  const free = (buffer) => {
    liveGpuBytes -= live.get(buffer) ?? 0;
    live.delete(buffer);
  };
  device.createBuffer = function (desc) {
    const buffer = createBuffer.call(this, desc);
    const size = Number(desc.size) || 0;
    liveGpuBytes += size;
    live.set(buffer, size);
    const destroy = buffer.destroy;
    buffer.destroy = function () {
      free(buffer);
      return destroy.call(this);
    };
    return buffer;
  };
  // A destroyed or lost device frees all its buffers (the core destroys a model's device when the
  // model is freed: wgpu's WebGPU backend does not destroy what it drops).
  const release = () => {
    for (const b of [...live.keys()]) free(b);
  };
  const destroyDevice = device.destroy;
  device.destroy = function () {
    release();
    return destroyDevice.call(this);
  };
  device.lost.then(release);
  return device;
}

/** Bytes of the GPU buffers the core's devices hold in this realm (page or worker). */
export function gpuMemoryBytes() {
  return liveGpuBytes;
}

// A trap inside the core (a WebAssembly.RuntimeError: a panic, an out-of-memory `unreachable`)
// leaves its instance in no state to go on: the Rust object that was running stays borrowed (its
// free() would throw), its memory may be half-updated. The engine that sees one calls
// `poisonCore`; every object of that instance is then dead (`coreFailure` says why), and the next
// `loadCore` replaces the instance with a fresh one from the same compiled module
// (wasm-bindgen's reset, see scripts/build-wasm.sh), whose objects cannot be mixed with the old.
let instance = 0; // increments with each replacement
const traps = new Map(); // instance id → the trap that poisoned it

let threaded = null; // { ready, threads }: the threaded build, once asked for

/**
 * Resolves to `{ core, instance }`: the wasm module's exports and the id of the instance behind
 * them; `wasmUrl` overrides where the .wasm file is fetched from. With `threads` > 1, the threaded
 * build (from `threadsWasmUrl`) with a pool of `threads - 1` workers (once per realm: later calls get
 * the same pool).
 */
export async function loadCore(wasmUrl, { threads = 1, threadsWasmUrl } = {}) {
  if (threads > 1) {
    try {
      return await loadThreaded(threadsWasmUrl, threads);
    } catch (e) {
      // A package built without its threaded core (GGUF_WEB_NO_THREADS), or workers that cannot
      // start: the CPU path still runs, on one thread (engine.info.threads says so).
      if (e instanceof InternalError && /trapped/.test(e.message)) throw e;
      console.warn(`gguf-web: the threaded core did not start (${e && e.message}); running on one thread`);
    }
  }
  if (!ready) {
    requestSubgroups();
    ready = init(wasmUrl ? { module_or_path: wasmUrl } : undefined).then(() => core);
  }
  await ready;
  if (traps.has(instance)) {
    if (typeof core.__wbg_reset_state !== 'function') {
      throw new InternalError('the WebAssembly core trapped and this build cannot start a fresh instance (wasm-bindgen --experimental-reset-state-function): reload the page');
    }
    core.__wbg_reset_state();
    instance++;
  }
  return { core, instance };
}

/** Whether `e` is a trap of the core (its instance cannot be used any more). */
export function isTrap(e) {
  return e instanceof WebAssembly.RuntimeError;
}

/** Marks instance `id` as trapped by `error`: its objects are dead, the next load gets a fresh one. */
export function poisonCore(id, error) {
  if (!traps.has(id)) traps.set(id, error);
}

/** Why instance `id`'s objects are dead (the trap that poisoned it), or null while it is usable. */
export function coreFailure(id) {
  return traps.get(id) ?? null;
}

/**
 * Whether this browser has relaxed SIMD: a module of one function using its byte dot product
 * (`i32x4.relaxed_dot_i8x16_i7x16_add_s`) validates.
 */
export function hasRelaxedSimd() {
  const v128 = [0xfd, 0x0c, ...new Array(16).fill(0)];
  const body = [0x00, ...v128, ...v128, ...v128, 0xfd, 0x93, 0x02, 0x0b];
  const bytes = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, 0x03, 0x02, 0x01, 0x00, 0x0a, body.length + 2, 0x01, body.length, ...body];
  try {
    return WebAssembly.validate(new Uint8Array(bytes));
  } catch {
    return false;
  }
}

async function loadThreaded(wasmUrl, threads) {
  if (!threaded) {
    threaded = {
      ready: (async () => {
        const t = await import('../wasm-threads/gguf_web.js');
        // The relaxed-SIMD build where the browser has it (the same exports, the same glue);
        // `threadsWasmUrl` picks a file instead.
        const url = wasmUrl ?? (hasRelaxedSimd() ? new URL('../wasm-threads/gguf_web_relaxed_bg.wasm', import.meta.url) : undefined);
        await t.default(url ? { module_or_path: url } : undefined);
        await startPool(t, threads - 1);
        return t;
      })(),
    };
    threaded.ready.catch(() => {
      threaded = null;
    });
  }
  const t = await threaded.ready;
  // The threaded instance shares its memory with the pool's workers: it cannot be reset in place.
  if (traps.has('threads')) throw new InternalError('the threaded WebAssembly core trapped: reload the page to use the CPU path on several threads again');
  return { core: t, instance: 'threads' };
}
