// A soak test (issue 19): hundreds of mixed requests and tens of load/unload cycles on one page, in
// the page and in a worker, with WASM memory, the page's JS heap and the engine's live GPU buffer
// bytes measured throughout. The requests mix multi-turn chats that reuse the KV cache, aborts,
// early breaks, invalid requests and greedy and seeded determinism checks, on a small generated
// model (models/gen/llama3.gguf: fast on SwiftShader, SmolLM2's tokenizer and template).
//
// Short form by default (CI: 96 requests and 6 cycles per host); the long form, with the figures in
// docs/security.md: SOAK_REQUESTS=600 SOAK_CYCLES=40 bash scripts/soak.sh. The body is soak.mjs;
// soak-worker.test.mjs runs it in a worker (one file each: each fits the runner's 300 s per file).
// Targets: after a warm-up (12 requests and 3 loads), WASM memory grows by at most 1 MiB over the
// requests and 2.25 MiB over the loads (fragmentation: see soak.mjs), the live WASM heap by at most
// 256 KiB over the requests and 2 KiB per load, the JS heap by at most 16 MiB; live GPU bytes come
// back to the same figure after every request and
// every load, and to 0 after the last unload (the core destroys a freed model's device: wgpu's
// WebGPU backend destroys nothing it drops; the soak found 17 MB held per load before).
import { soakTest } from './soak.mjs';

soakTest('Engine');
