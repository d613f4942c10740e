// Generated from crate/src/error_code.rs (UPDATE_CODES=1 cargo test -p gguf-web error_code); do not edit.
export const ERROR_CODES = Object.freeze([
  'WebGPUUnavailable', // The browser exposes no WebGPU, or no adapter could be had.
  'AdapterTooSmall', // The adapter's limits are below what the model needs.
  'DeviceLost', // The GPU device was lost (driver reset, tab in the background too long); load again.
  'GPUError', // The GPU refused or failed an operation (validation, out of memory, a failed read-back).
  'InvalidGGUF', // The file is not a valid GGUF, or its contents contradict each other.
  'UnsupportedArchitecture', // The model's architecture is not supported.
  'UnsupportedQuantType', // A tensor's quantization type is not supported.
  'NetworkError', // The download failed (HTTP status, CORS, lost connection, a short response).
  'IntegrityError', // The downloaded bytes do not match the expected sha256.
  'TemplateError', // The model's chat template failed, or exceeded its budget of work or output.
  'ContextFull', // The prompt (with the requested tokens) does not fit the context.
  'InvalidArgument', // A request or option is invalid (the message names it).
  'InvalidState', // The call does not fit the engine's state (no generation begun, the engine unloaded).
  'Busy', // Another call holds the model; await it first.
  'Aborted', // The caller aborted.
  'Internal', // A bug in gguf-web; please report it.
]);
