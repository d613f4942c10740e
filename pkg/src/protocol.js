// The messages between the page (WorkerEngine) and the worker (worker.js), defined once.
//
// page → worker: { type: 'load', url, options }           options without functions/signals
//                { type: 'abortLoad' }
//                { type: 'call', id, method, args }         tokenize | detokenize | applyChatTemplate | topLogits | unload | wasmMemoryBytes | wasmHeapBytes | gpuMemoryBytes
//                { type: 'create', id, chat, request }      request without `signal`
//                { type: 'pull', id }                       streaming: send request `id`'s next chunk
//                { type: 'stop', id }                       streaming: the consumer stopped early (a `break`)
//                { type: 'abort', id }                      request `id`'s signal was aborted
// worker → page: { type: 'progress', progress }
//                { type: 'loaded', info, loadStats }
//                { type: 'result', id, value }              answers 'call'
//                { type: 'chunk', id, chunk }               answers 'pull'
//                { type: 'done', id, value }                answers a non-streaming 'create' (value: the result), a
//                                                           'pull' past the last chunk, or a 'stop' (value undefined)
//                { type: 'error', id, error }               error: serializeError(e); id undefined for load errors
//
// Streaming is pulled, never pushed: 'create' with `request.stream` starts the Engine stream in the
// worker (its generation runs one chunk ahead of what has been read from it, stream.js) and answers
// nothing; each 'pull' reads one chunk from it and is answered by one 'chunk', or 'done' after the
// last, or 'error'. The page sends a 'pull' only when its consumer waits in next() (chunkStream
// with ahead 0), so the generation is at most one chunk ahead of the page's consumer, as in the
// page. 'stop' returns the worker's stream (the generation ends at its next token) and is answered
// by 'done' once it has; 'abort' aborts the request's signal in the worker (no answer: the page
// then pulls the rest, the abort's last chunk and its AbortError, without waiting for a consumer).
// The page sends the next 'pull' or 'stop' of a request only after the answer to the previous one.

export const MSG = Object.freeze({
  LOAD: 'load',
  ABORT_LOAD: 'abortLoad',
  CALL: 'call',
  CREATE: 'create',
  PULL: 'pull',
  STOP: 'stop',
  ABORT: 'abort',
  PROGRESS: 'progress',
  LOADED: 'loaded',
  RESULT: 'result',
  CHUNK: 'chunk',
  DONE: 'done',
  ERROR: 'error',
});

export const CALLS = Object.freeze(['tokenize', 'detokenize', 'applyChatTemplate', 'topLogits', 'unload', 'wasmMemoryBytes', 'wasmHeapBytes', 'gpuMemoryBytes']);
