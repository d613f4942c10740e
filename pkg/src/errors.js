// Typed errors. The wasm core throws Error objects with a `code` from the one list of codes
// (crate/src/error_code.rs, generated into codes.js); they are rebuilt here (and on the page side
// of a worker) as instances of one class per code, so apps can `instanceof` them. Every code has
// exactly one class and every class one code (tests/browser/errors.test.mjs checks both ways).

import { ERROR_CODES } from './codes.js';

export { ERROR_CODES };

/** The codes by name (`CODE.Busy` is the code Busy): JS names codes through this, never as free strings. */
export const CODE = Object.freeze(Object.fromEntries(ERROR_CODES.map((c) => [c, c])));

/** The base class: `code` is the class's code (`GgufWebError` itself is only ever a base). */
export class GgufWebError extends Error {
  /** @param {string} message @param {unknown} [details] */
  constructor(message, details = undefined) {
    super(message);
    this.name = new.target.name;
    this.code = new.target.code ?? CODE.Internal;
    if (details !== undefined) this.details = details;
  }
}

export class WebGPUUnavailableError extends GgufWebError {
  static code = CODE.WebGPUUnavailable;
}
export class AdapterTooSmallError extends GgufWebError {
  static code = CODE.AdapterTooSmall;
}
export class DeviceLostError extends GgufWebError {
  static code = CODE.DeviceLost;
}
/** The GPU refused or failed an operation (not named GPUError: that is WebGPU's own global). */
export class GPUFailureError extends GgufWebError {
  static code = CODE.GPUError;
}
export class InvalidGGUFError extends GgufWebError {
  static code = CODE.InvalidGGUF;
}
export class UnsupportedArchitectureError extends GgufWebError {
  static code = CODE.UnsupportedArchitecture;
}
export class UnsupportedQuantTypeError extends GgufWebError {
  static code = CODE.UnsupportedQuantType;
}
export class NetworkError extends GgufWebError {
  static code = CODE.NetworkError;
}
export class IntegrityError extends GgufWebError {
  static code = CODE.IntegrityError;
}
export class TemplateError extends GgufWebError {
  static code = CODE.TemplateError;
}
export class ContextFullError extends GgufWebError {
  static code = CODE.ContextFull;
}
export class InvalidArgumentError extends GgufWebError {
  static code = CODE.InvalidArgument;
}
export class InvalidStateError extends GgufWebError {
  static code = CODE.InvalidState;
}
export class BusyError extends GgufWebError {
  static code = CODE.Busy;
}
export class AbortError extends GgufWebError {
  static code = CODE.Aborted;
}
export class InternalError extends GgufWebError {
  static code = CODE.Internal;
}

/** Every error class, one per code. */
export const ERROR_CLASSES = Object.freeze([
  WebGPUUnavailableError,
  AdapterTooSmallError,
  DeviceLostError,
  GPUFailureError,
  InvalidGGUFError,
  UnsupportedArchitectureError,
  UnsupportedQuantTypeError,
  NetworkError,
  IntegrityError,
  TemplateError,
  ContextFullError,
  InvalidArgumentError,
  InvalidStateError,
  BusyError,
  AbortError,
  InternalError,
]);

const BY_CODE = new Map(ERROR_CLASSES.map((C) => [C.code, C]));

/** The class of `code` (InternalError for a code not in the list). */
export function errorClass(code) {
  return BY_CODE.get(code) ?? InternalError;
}

/** A typed error of `code`. */
export function typedError(code, message, details) {
  return new (errorClass(code))(message, details);
}

/** Any thrown value as a typed error (wasm errors carry `code`; DOM AbortErrors map to AbortError). */
export function toTyped(err) {
  if (err instanceof GgufWebError) return err;
  if (err && (err.name === 'AbortError' || err.code === 20)) return new AbortError(err.message || 'aborted');
  const code = err && typeof err.code === 'string' ? err.code : CODE.Internal;
  return typedError(code, err && err.message ? err.message : String(err), err ? err.details : undefined);
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
  return typedError(plain.code, plain.message, plain.details);
}
