// Typed errors. The wasm core throws Error objects with a `code`; they are rebuilt here (and on
// the page side of a worker) as instances of these classes, so apps can `instanceof` them.

export class GgufWebError extends Error {
  constructor(message, code = 'Internal', details = undefined) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    if (details !== undefined) this.details = details;
  }
}

export class WebGPUUnavailableError extends GgufWebError {}
export class AdapterTooSmallError extends GgufWebError {}
export class InvalidGGUFError extends GgufWebError {}
export class UnsupportedArchitectureError extends GgufWebError {}
export class UnsupportedQuantTypeError extends GgufWebError {}
export class NetworkError extends GgufWebError {}
export class IntegrityError extends GgufWebError {}
export class AbortError extends GgufWebError {}
export class DeviceLostError extends GgufWebError {}
export class ContextFullError extends GgufWebError {}
export class InvalidArgumentError extends GgufWebError {}
export class BusyError extends GgufWebError {}

const BY_CODE = {
  WebGPUUnavailable: WebGPUUnavailableError,
  AdapterTooSmall: AdapterTooSmallError,
  InvalidGGUF: InvalidGGUFError,
  UnsupportedArchitecture: UnsupportedArchitectureError,
  UnsupportedQuantType: UnsupportedQuantTypeError,
  NetworkError: NetworkError,
  IntegrityError: IntegrityError,
  Aborted: AbortError,
  DeviceLost: DeviceLostError,
  ContextFull: ContextFullError,
  InvalidArgument: InvalidArgumentError,
  Busy: BusyError,
};

/** Any thrown value as a typed error (wasm errors carry `code`; DOM AbortErrors map to AbortError). */
export function toTyped(err) {
  if (err instanceof GgufWebError) return err;
  if (err && (err.name === 'AbortError' || err.code === 20)) return new AbortError(err.message || 'aborted', 'Aborted');
  const code = err && typeof err.code === 'string' ? err.code : 'Internal';
  const Cls = BY_CODE[code] || GgufWebError;
  return new Cls(err && err.message ? err.message : String(err), code, err && err.details);
}

/** `fn()` as a promise, what it throws as a typed rejection (`create` always returns a promise). */
export function promised(fn) {
  try {
    return Promise.resolve(fn());
  } catch (e) {
    return Promise.reject(toTyped(e));
  }
}

/** A structured-clone-safe form for postMessage, and back. */
export function serializeError(err) {
  const e = toTyped(err);
  return { code: e.code, message: e.message, details: e.details };
}

export function deserializeError(plain) {
  const Cls = BY_CODE[plain.code] || GgufWebError;
  return new Cls(plain.message, plain.code, plain.details);
}
