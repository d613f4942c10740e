// Which engine runs a model: WebGPU, or the CPU path (the core's SIMD kernels in WebAssembly, on a
// pool of workers when the page is cross-origin isolated). `auto` takes WebGPU only on an adapter
// that is a real GPU: a fallback or software adapter (SwiftShader, lavapipe/llvmpipe) runs WGSL
// at a few CPU instructions per vector operation, slower than the CPU path on the same cores.
import { InvalidArgumentError, WebGPUUnavailableError } from './errors.js';

export const BACKENDS = Object.freeze(['auto', 'webgpu', 'cpu']);

/** Adapters that are the CPU under another name, by what `adapter.info` says of them. */
const SOFTWARE = /swiftshader|llvmpipe|lavapipe|softpipe|microsoft basic render/i;

/** Whether `adapter` is a CPU fallback: flagged as one, or a known software rasterizer. */
export function isSoftwareAdapter(adapter) {
  const info = adapter.info || {};
  if (adapter.isFallbackAdapter || info.isFallbackAdapter) return true;
  return SOFTWARE.test([info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' '));
}

/**
 * Resolves `backend` ('auto' | 'webgpu' | 'cpu') to the one to use, with why: `{ backend, reason }`.
 * 'webgpu' without WebGPU is a WebGPUUnavailableError, as before the CPU path existed.
 */
export async function chooseBackend(backend = 'auto') {
  if (!BACKENDS.includes(backend)) throw new InvalidArgumentError(`backend must be one of ${BACKENDS.join(', ')}, not ${JSON.stringify(backend)}`);
  const gpu = globalThis.navigator && navigator.gpu;
  if (backend === 'webgpu') {
    if (!gpu) throw new WebGPUUnavailableError('this browser does not expose WebGPU (navigator.gpu is missing)');
    return { backend, reason: 'asked for' };
  }
  if (backend === 'cpu') return { backend, reason: 'asked for' };
  if (!gpu) return { backend: 'cpu', reason: 'no WebGPU in this browser' };
  let adapter = null;
  try {
    adapter = await gpu.requestAdapter();
  } catch {
    adapter = null;
  }
  if (!adapter) return { backend: 'cpu', reason: 'no WebGPU adapter' };
  if (isSoftwareAdapter(adapter)) {
    const i = adapter.info || {};
    return { backend: 'cpu', reason: `software adapter (${[i.vendor, i.architecture, i.description].filter(Boolean).join(' ') || 'fallback'})` };
  }
  return { backend: 'webgpu', reason: 'GPU adapter' };
}

/**
 * The threads the CPU path runs on: 1 unless the page is cross-origin isolated (shared memory for
 * the threaded build); then `threads` if given, else the cores the browser reports.
 */
export function cpuThreads(threads) {
  if (threads !== undefined && !(Number.isInteger(threads) && threads >= 1 && threads <= 64)) {
    throw new InvalidArgumentError(`threads must be an integer from 1 to 64, not ${JSON.stringify(threads)}`);
  }
  if (!globalThis.crossOriginIsolated) return 1;
  return threads ?? Math.max(1, Math.min(16, (globalThis.navigator && navigator.hardwareConcurrency) || 1));
}
