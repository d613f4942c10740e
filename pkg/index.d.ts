// Types of the gguf-web package (src/index.js).

export type Phase = 'header' | 'device' | 'download' | 'cache' | 'retry' | 'ready';

export interface Progress {
  phase: Phase;
  /** Bytes of the file processed so far. */
  loaded: number;
  total: number;
}

export interface LoadOptions {
  onProgress?: (p: Progress) => void;
  signal?: AbortSignal;
  /** Expected sha256 (hex) of the whole file; checked while streaming, a mismatch caches nothing. */
  sha256?: string;
  /** KV-cache length in tokens (default: min(4096, the model's training context)). */
  contextLength?: number;
  /** Keep the file in the Origin Private File System for the next load (default true). */
  cache?: boolean;
  /**
   * Check a cached file with the server before using it (default true): a conditional request (a 304
   * uses the cache; a changed file is downloaded anew; an unreachable server leaves the cached copy in
   * use). `false` uses the cache without any request (offline).
   */
  revalidate?: boolean;
  /** Resume attempts in a row, each from where the stream broke, without new bytes arriving (default 2). */
  retries?: number;
  /** Where the .wasm file is (default: next to the package's JS). */
  wasmUrl?: string | URL;
  /** Create the WebGPU device with the default limits only (for testing small devices). */
  defaultLimits?: boolean;
  /**
   * Kernel shapes: `'gpu'` (many threads per row, workgroup reductions) or `'cpu'` (several rows per
   * invocation, no barriers: CPU-emulated adapters such as SwiftShader). Default: from the adapter.
   * For testing and benchmarking; both give the same results.
   */
  tuning?: 'cpu' | 'gpu';
  /**
   * Decode steps per GPU round trip, fixed for every request (for tests and benchmarks: any K gives
   * the same tokens). Default: adaptive, 1 for the first token, then doubling up to 32 within a
   * batch time of 50 ms at the measured step time (an abort waits for the batch in flight).
   */
  decodeBatch?: number;
  /**
   * Where the model runs (default `'auto'`): `'webgpu'`, `'cpu'` (the core's SIMD kernels in
   * WebAssembly, the weights in its memory; a model that cannot fit in wasm32's 4 GiB is an
   * AdapterTooSmallError before any weight is downloaded), or `'auto'`: WebGPU on an adapter that is
   * a GPU, the CPU path when there is no WebGPU, no adapter, or a fallback or software adapter
   * (SwiftShader, lavapipe/llvmpipe). `engine.info.backend` says which ran.
   */
  backend?: 'auto' | 'webgpu' | 'cpu';
  /**
   * CPU path: threads to run on (default: the browser's `hardwareConcurrency`, at most 16). Threads
   * need a cross-origin isolated page (COOP/COEP headers, see the README); elsewhere it runs on one.
   */
  threads?: number;
  /** CPU path on several threads: where the threaded build's .wasm file is (default: the package's wasm-threads/, its relaxed-SIMD file gguf_web_relaxed_bg.wasm where the browser has relaxed SIMD). */
  threadsWasmUrl?: string | URL;
  /** WorkerEngine only: the worker script URL (default: the package's worker.js). */
  workerUrl?: string | URL;
}

export interface ModelInfo {
  name: string | null;
  architecture: string | null;
  license: string | null;
  contextLength: number;
  parameters: { layers: number; embedding: number; heads: number; kvHeads: number; headDim: number; feedForward: number; vocabulary: number };
  /** Bytes per ggml type in the file. */
  quantTypes: Record<string, number>;
  fileBytes: number;
  weightsBytes: number;
  /** WebGPU only. */
  gpuBytes?: number;
  /** WebGPU only. */
  adapter?: string;
  /** Where the model runs. */
  backend: 'webgpu' | 'cpu';
  /** Why `auto` (or the `backend` option) chose it. */
  backendReason: string;
  /** CPU path: the threads it runs on (1 unless the page is cross-origin isolated). */
  threads?: number;
  /** CPU path: the vector instructions of its kernels ('wasm simd128', or 'wasm simd128, relaxed-simd' for the threaded build where the browser has relaxed SIMD). */
  simd?: string;
  chatTemplate: string;
  /** The `decodeBatch` load option, or `'adaptive'`. */
  decodeBatch: number | 'adaptive';
  supported: boolean;
  url: string;
}

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | 'tool' | string;
  /** May be null for an assistant message that only calls tools. */
  content: string | null;
  /** An assistant message's calls (as a reply's `message.tool_calls`). */
  tool_calls?: ToolCall[];
  /** A `tool` message: the call it answers. */
  tool_call_id?: string;
  name?: string;
}

/** A function the model may call; `parameters` is a JSON Schema of its arguments (an object). */
export interface Tool {
  type: 'function';
  function: { name: string; description?: string; parameters?: object };
}

export type ToolChoice = 'auto' | 'none' | 'required' | { type: 'function'; function: { name: string } };

/** One call in a reply; `arguments` is JSON text valid against the function's `parameters`. */
export interface ToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

/** A streamed piece of a call: `id`, `type` and `function.name` when it starts, then `function.arguments` fragments. */
export interface ToolCallDelta {
  index: number;
  id?: string;
  type?: 'function';
  function: { name?: string; arguments: string };
}

export interface SamplingOptions {
  max_tokens?: number;
  /** 0 is greedy. Default 0.8. */
  temperature?: number;
  /** 0 to 1; 0 keeps the most likely token alone. Default 0.95. */
  top_p?: number;
  /** 0 (or negative) disables. Default 40. */
  top_k?: number;
  /** 0 to 1. Default 0.05. */
  min_p?: number;
  /** Above 0 (1 is none). Default 1. */
  repetition_penalty?: number;
  /** An integer from 0 to 2^53: the same seed, the same draws. Default: random. */
  seed?: number;
  stop?: string | string[];
  signal?: AbortSignal;
  /** Keep generating past end-of-generation tokens. */
  ignore_eos?: boolean;
  /** Decode steps per GPU round trip for this request (overrides the `decodeBatch` load option). */
  decode_k?: number;
  /** Whether each batch of decode steps starts the next one on the GPU ahead, before its ids are read. Default: yes with a GPU, no on a CPU-emulated adapter (SwiftShader, lavapipe), whose "GPU" is the cores the page records on. `false`/`true` force it off or on (for measuring what it buys). */
  decode_ahead?: boolean;
  /** Output that must parse: any JSON object, or JSON valid against a schema. */
  response_format?: ResponseFormat;
  /** Output that must match a grammar: llguidance's Lark syntax (a string or `{ lark }`) or a regular expression (`{ regex }`). */
  grammar?: string | { lark: string } | { regex: string };
}

export type ResponseFormat =
  | { type: 'text' }
  | { type: 'json_object' }
  | { type: 'json_schema'; json_schema: { name?: string; schema: object; strict?: boolean; description?: string } };

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  /** Prompt tokens whose KV cache was reused from the previous request. */
  reused_prompt_tokens: number;
  time_to_first_token_ms: number;
  prefill_tokens_per_second: number;
  decode_tokens_per_second: number;
  /** The most decode steps run per GPU round trip (1 with a constraint or a repetition penalty). */
  decode_k: number;
  /** Batches of decode steps the GPU started ahead, while the host read the batch before, and the request then took over (0 on the CPU path, at `decode_k: 1`, with a constraint or a penalty). */
  decode_batches_ahead: number;
  /** What the request's constraint (`response_format`, `grammar`) cost; absent without one. */
  constraint?: {
    /** Sampled tokens checked against the grammar. */
    checked_tokens: number;
    /** Draws the grammar refused, each followed by a full mask and a second draw. */
    masked_draws: number;
    /** Milliseconds spent in the grammar engine (checks, masks, parser steps). */
    ms: number;
  };
}

export type FinishReason = 'stop' | 'length' | 'abort' | 'tool_calls';

export interface ChatCompletion {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  choices: [{ index: 0; message: { role: 'assistant'; content: string | null; tool_calls?: ToolCall[] }; finish_reason: FinishReason }];
  usage: Usage;
  token_ids: number[];
}

export interface ChatCompletionChunk {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  choices: [{ index: 0; delta: { content: string; tool_calls?: ToolCallDelta[] }; finish_reason: FinishReason | null }];
  /** On the last chunk. */
  usage?: Usage;
  token_ids?: number[];
}

export interface Completion {
  id: string;
  object: 'text_completion';
  created: number;
  model: string;
  choices: [{ index: 0; text: string; finish_reason: FinishReason }];
  usage: Usage;
  /** The generated ids. */
  token_ids: number[];
}

export interface CompletionChunk {
  id: string;
  object: 'text_completion';
  created: number;
  model: string;
  choices: [{ index: 0; text: string; finish_reason: FinishReason | null }];
  usage?: Usage;
  token_ids?: number[];
}

export interface ChatRequest extends SamplingOptions {
  messages: ChatMessage[];
  /** Functions the model may call (not with `response_format` or `grammar`); docs/api.md, "Tool calls". */
  tools?: Tool[];
  /** Default 'auto'; 'none' does not offer the tools. */
  tool_choice?: ToolChoice;
  /** `false`: at most one call per reply (default: up to 8). */
  parallel_tool_calls?: boolean;
}

export interface CompletionRequest extends SamplingOptions {
  prompt: string;
}

type MaybePromise<T> = T | Promise<T>;

export interface EngineInterface {
  readonly info: ModelInfo;
  chat: {
    completions: {
      create(req: ChatRequest & { stream: true }): Promise<AsyncIterable<ChatCompletionChunk>>;
      create(req: ChatRequest & { stream?: false }): Promise<ChatCompletion>;
    };
  };
  completions: {
    create(req: CompletionRequest & { stream: true }): Promise<AsyncIterable<CompletionChunk>>;
    create(req: CompletionRequest & { stream?: false }): Promise<Completion>;
  };
  tokenize(text: string, opts?: { addSpecial?: boolean; parseSpecial?: boolean }): MaybePromise<number[]>;
  detokenize(ids: number[]): MaybePromise<string>;
  applyChatTemplate(messages: ChatMessage[], options?: { tools?: Tool[]; tool_choice?: ToolChoice }): MaybePromise<string>;
  /** One teacher-forced pass over `ids` from position 0: the `top` (default 5) largest next-token logits at every position. */
  topLogits(ids: number[], opts?: { top?: number }): Promise<TokenLogit[][]>;
  /** The WebAssembly memory's size: it only grows, and counts free space that fragmentation left. */
  wasmMemoryBytes(): MaybePromise<number>;
  /** Bytes the core has allocated and not freed: back to the same figure after every request and load unless something leaks. */
  wasmHeapBytes(): MaybePromise<number>;
  /** Bytes of the live GPU buffers of every engine in this page (or worker): 0 once all are unloaded. */
  gpuMemoryBytes(): MaybePromise<number>;
  unload(): Promise<void>;
}

export declare class Engine implements EngineInterface {
  static load(url: string | URL, options?: LoadOptions): Promise<Engine>;
  readonly info: ModelInfo;
  /** How the load went: its wall time, the files (parts) read and the HTTP requests made. */
  readonly loadStats: { ms: number; parts: number; requests: number };
  chat: EngineInterface['chat'];
  completions: EngineInterface['completions'];
  tokenize(text: string, opts?: { addSpecial?: boolean; parseSpecial?: boolean }): number[];
  detokenize(ids: number[]): string;
  applyChatTemplate(messages: ChatMessage[], options?: { tools?: Tool[]; tool_choice?: ToolChoice }): string;
  topLogits(ids: number[], opts?: { top?: number }): Promise<TokenLogit[][]>;
  wasmMemoryBytes(): number;
  wasmHeapBytes(): number;
  gpuMemoryBytes(): number;
  unload(): Promise<void>;
}

/** The same interface with the model in a Web Worker. */
export declare class WorkerEngine implements EngineInterface {
  static load(url: string | URL, options?: LoadOptions): Promise<WorkerEngine>;
  readonly info: ModelInfo;
  /** How the load went: its wall time, the files (parts) read and the HTTP requests made. */
  readonly loadStats: { ms: number; parts: number; requests: number };
  chat: EngineInterface['chat'];
  completions: EngineInterface['completions'];
  tokenize(text: string, opts?: { addSpecial?: boolean; parseSpecial?: boolean }): Promise<number[]>;
  detokenize(ids: number[]): Promise<string>;
  applyChatTemplate(messages: ChatMessage[], options?: { tools?: Tool[]; tool_choice?: ToolChoice }): Promise<string>;
  topLogits(ids: number[], opts?: { top?: number }): Promise<TokenLogit[][]>;
  wasmMemoryBytes(): Promise<number>;
  wasmHeapBytes(): Promise<number>;
  gpuMemoryBytes(): Promise<number>;
  unload(): Promise<void>;
}

/** A token id and its logit (unnormalized log-probability). */
export interface TokenLogit {
  id: number;
  logit: number;
}

/** Deletes every model file the package cached. */
export declare function clearCache(): Promise<void>;

// BEGIN ERROR CODES (generated from crate/src/error_code.rs; do not edit)
export type ErrorCode =
  /** The browser exposes no WebGPU, or no adapter could be had. */
  | 'WebGPUUnavailable'
  /** The adapter's limits are below what the model needs. */
  | 'AdapterTooSmall'
  /** The GPU device was lost (driver reset, tab in the background too long); load again. */
  | 'DeviceLost'
  /** The GPU refused or failed an operation (validation, out of memory, a failed read-back). */
  | 'GPUError'
  /** The file is not a valid GGUF, or its contents contradict each other. */
  | 'InvalidGGUF'
  /** The model's architecture is not supported. */
  | 'UnsupportedArchitecture'
  /** A tensor's quantization type is not supported. */
  | 'UnsupportedQuantType'
  /** The download failed (HTTP status, CORS, lost connection, a short response). */
  | 'NetworkError'
  /** The downloaded bytes do not match the expected sha256. */
  | 'IntegrityError'
  /** The model's chat template failed, or exceeded its budget of work or output. */
  | 'TemplateError'
  /** The prompt (with the requested tokens) does not fit the context. */
  | 'ContextFull'
  /** A request or option is invalid (the message names it). */
  | 'InvalidArgument'
  /** The call does not fit the engine's state (no generation begun, the engine unloaded). */
  | 'InvalidState'
  /** Another call holds the model; await it first. */
  | 'Busy'
  /** The caller aborted. */
  | 'Aborted'
  /** A bug in gguf-web; please report it. */
  | 'Internal';
// END ERROR CODES

/** Every code, in the order of crate/src/error_code.rs. */
export declare const ERROR_CODES: readonly ErrorCode[];
/** The codes by name: `CODE.NetworkError === 'NetworkError'`. */
export declare const CODE: { readonly [C in ErrorCode]: C };

/**
 * The base of every error the package throws; each code has its own subclass (`ERROR_CLASSES`,
 * `errorClass(code)`), so `err instanceof NetworkError` and `err.code === 'NetworkError'` agree.
 */
export declare class GgufWebError extends Error {
  constructor(message: string, details?: unknown);
  /** The code of the class (each subclass has one). */
  static readonly code: ErrorCode;
  code: ErrorCode;
  details?: unknown;
}
/** `WebGPUUnavailable`: the browser exposes no WebGPU, or no adapter could be had. */
export declare class WebGPUUnavailableError extends GgufWebError {
  static readonly code: 'WebGPUUnavailable';
  code: 'WebGPUUnavailable';
}
/** `AdapterTooSmall`: the adapter's limits are below what the model needs. */
export declare class AdapterTooSmallError extends GgufWebError {
  static readonly code: 'AdapterTooSmall';
  code: 'AdapterTooSmall';
}
/** `DeviceLost`: the GPU device was lost; unload and load again. */
export declare class DeviceLostError extends GgufWebError {
  static readonly code: 'DeviceLost';
  code: 'DeviceLost';
}
/** `GPUError`: the GPU refused or failed an operation (named so as not to shadow WebGPU's own `GPUError`). */
export declare class GPUFailureError extends GgufWebError {
  static readonly code: 'GPUError';
  code: 'GPUError';
}
/** `InvalidGGUF`: not a valid GGUF, or its contents contradict each other. */
export declare class InvalidGGUFError extends GgufWebError {
  static readonly code: 'InvalidGGUF';
  code: 'InvalidGGUF';
}
/** `UnsupportedArchitecture`: found from the header, before any weight is downloaded. */
export declare class UnsupportedArchitectureError extends GgufWebError {
  static readonly code: 'UnsupportedArchitecture';
  code: 'UnsupportedArchitecture';
}
/** `UnsupportedQuantType`: a tensor's quantization type is not supported. */
export declare class UnsupportedQuantTypeError extends GgufWebError {
  static readonly code: 'UnsupportedQuantType';
  code: 'UnsupportedQuantType';
}
/**
 * `NetworkError`: HTTP status (`details.status`), CORS, a lost connection, a short response, a file that
 * changed on the server during the download (`details.fileChanged`; `Engine.load` retries those once
 * from zero).
 */
export declare class NetworkError extends GgufWebError {
  static readonly code: 'NetworkError';
  code: 'NetworkError';
  /** `{ status }`: the HTTP status of an answer that was not OK; `{ fileChanged: true }`: another version of the file. */
  details?: { status: number } | { fileChanged: true };
}
/** `IntegrityError`: the bytes do not match `sha256` (nothing is cached). */
export declare class IntegrityError extends GgufWebError {
  static readonly code: 'IntegrityError';
  code: 'IntegrityError';
}
/** `TemplateError`: the model's chat template failed, or exceeded its budget. */
export declare class TemplateError extends GgufWebError {
  static readonly code: 'TemplateError';
  code: 'TemplateError';
}
/** `ContextFull`: the prompt does not fit the context. */
export declare class ContextFullError extends GgufWebError {
  static readonly code: 'ContextFull';
  code: 'ContextFull';
}
/** `InvalidArgument`: a request or option is invalid (the message names it). */
export declare class InvalidArgumentError extends GgufWebError {
  static readonly code: 'InvalidArgument';
  code: 'InvalidArgument';
}
/** `InvalidState`: the call does not fit the engine's state (a call after `unload()`). */
export declare class InvalidStateError extends GgufWebError {
  static readonly code: 'InvalidState';
  code: 'InvalidState';
}
/** `Busy`: another call holds the model. */
export declare class BusyError extends GgufWebError {
  static readonly code: 'Busy';
  code: 'Busy';
}
/** `Aborted`: the caller's signal was aborted (a `break` out of a stream is not an error). */
export declare class AbortError extends GgufWebError {
  static readonly code: 'Aborted';
  code: 'Aborted';
}
/**
 * `Internal`: a bug in gguf-web; please report it. With `details.trap` the WebAssembly core
 * trapped (a panic, an out-of-memory): that engine is gone (its calls fail with this error), so
 * `unload()` it (which then always succeeds) and load the model again, which starts a fresh
 * WebAssembly instance.
 */
export declare class InternalError extends GgufWebError {
  static readonly code: 'Internal';
  code: 'Internal';
  /** `{ trap: true }` when the WebAssembly core trapped. */
  details?: { trap: true };
}

/** Every error class, one per code. */
export declare const ERROR_CLASSES: readonly (typeof GgufWebError)[];
/** The class of a code (InternalError for one not in the list). */
export declare function errorClass(code: string): typeof GgufWebError;
