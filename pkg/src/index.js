// gguf-web: run stock GGUF language models in the browser on WebGPU.
export { Engine } from './engine.js';
export { WorkerEngine } from './worker-engine.js';
export { clearCache } from './fetcher.js';
export * from './errors.js';
