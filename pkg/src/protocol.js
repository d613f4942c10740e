// The messages between the page (WorkerEngine) and the worker (worker.js), defined once.
//
// page → worker: { type: 'load', url, options }           options without functions/signals
//                { type: 'abortLoad' }
//                { type: 'call', id, method, args }         tokenize | detokenize | applyChatTemplate | topLogits | unload | wasmMemoryBytes
//                { type: 'create', id, chat, request }      request without `signal`
//                { type: 'abort', id }                      abort request `id`
// worker → page: { type: 'progress', progress }
//                { type: 'loaded', info, loadStats }
//                { type: 'result', id, value }
//                { type: 'chunk', id, chunk }
//                { type: 'done', id, value }                value: the non-streaming result, or undefined
//                { type: 'error', id, error }               error: serializeError(e); id undefined for load errors

export const MSG = Object.freeze({
  LOAD: 'load',
  ABORT_LOAD: 'abortLoad',
  CALL: 'call',
  CREATE: 'create',
  ABORT: 'abort',
  PROGRESS: 'progress',
  LOADED: 'loaded',
  RESULT: 'result',
  CHUNK: 'chunk',
  DONE: 'done',
  ERROR: 'error',
});

export const CALLS = Object.freeze(['tokenize', 'detokenize', 'applyChatTemplate', 'topLogits', 'unload', 'wasmMemoryBytes']);
