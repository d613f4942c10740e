// The error classes against the one list of codes (pkg/src/codes.js, generated from
// crate/src/error_code.rs), from Node: no browser needed. Every code has exactly one class, every
// class exactly one code, index.d.ts declares them all, and no JS source spells a code as a string.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from './harness.mjs';
import { ERROR_CODES } from '../../pkg/src/codes.js';
import * as errors from '../../pkg/src/errors.js';

const { GgufWebError, ERROR_CLASSES, CODE, errorClass, toTyped, serializeError, deserializeError, InternalError } = errors;
const exportedClasses = Object.values(errors).filter((v) => typeof v === 'function' && v.prototype instanceof GgufWebError);

test('every code has one class and every class one code', () => {
  assert.ok(ERROR_CODES.length > 0);
  assert.equal(new Set(ERROR_CODES).size, ERROR_CODES.length, 'codes are unique');
  for (const C of exportedClasses) {
    assert.ok(ERROR_CLASSES.includes(C), `${C.name} is exported but not in ERROR_CLASSES`);
    assert.ok(ERROR_CODES.includes(C.code), `${C.name} has no code of the list (code ${C.code})`);
  }
  for (const code of ERROR_CODES) {
    const classes = ERROR_CLASSES.filter((C) => C.code === code);
    assert.equal(classes.length, 1, `code ${code}: ${classes.length} classes (${classes.map((C) => C.name)})`);
    assert.equal(errorClass(code), classes[0]);
    assert.ok(exportedClasses.includes(classes[0]), `${classes[0].name} is not exported`);
    assert.equal(CODE[code], code);
  }
  assert.equal(ERROR_CLASSES.length, ERROR_CODES.length);
  assert.equal(Object.keys(CODE).length, ERROR_CODES.length);
});

test('the classes keep their names; GPUError is GPUFailureError (WebGPU has its own GPUError)', () => {
  const want = {
    WebGPUUnavailable: 'WebGPUUnavailableError',
    AdapterTooSmall: 'AdapterTooSmallError',
    InvalidGGUF: 'InvalidGGUFError',
    UnsupportedArchitecture: 'UnsupportedArchitectureError',
    UnsupportedQuantType: 'UnsupportedQuantTypeError',
    NetworkError: 'NetworkError',
    IntegrityError: 'IntegrityError',
    Aborted: 'AbortError',
    DeviceLost: 'DeviceLostError',
    ContextFull: 'ContextFullError',
    InvalidArgument: 'InvalidArgumentError',
    Busy: 'BusyError',
    GPUError: 'GPUFailureError',
    TemplateError: 'TemplateError',
    InvalidState: 'InvalidStateError',
    Internal: 'InternalError',
  };
  for (const [code, name] of Object.entries(want)) {
    if (ERROR_CODES.includes(code)) assert.equal(errorClass(code).name, name, code);
  }
});

test('errors are built, typed and sent through postMessage by code', () => {
  for (const C of ERROR_CLASSES) {
    const e = new C('message', { x: 1 });
    assert.ok(e instanceof GgufWebError && e instanceof Error);
    assert.equal(e.code, C.code);
    assert.equal(e.name, C.name);
    assert.deepEqual(e.details, { x: 1 });
    // As the wasm core throws them: a plain Error with a code.
    const plain = Object.assign(new Error('from wasm'), { code: C.code });
    assert.ok(toTyped(plain) instanceof C, `toTyped ${C.code}`);
    const back = deserializeError(structuredClone(serializeError(e)));
    assert.ok(back instanceof C, `postMessage ${C.code}`);
    assert.equal(back.message, 'message');
  }
  assert.ok(toTyped(Object.assign(new Error('?'), { code: 'NoSuchCode' })) instanceof InternalError);
  assert.ok(toTyped(new DOMException('stop', 'AbortError')) instanceof errors.AbortError);
});

test('index.d.ts declares every class; index.js exports them', () => {
  const dts = fs.readFileSync(path.join(REPO_ROOT, 'pkg/index.d.ts'), 'utf8');
  const declared = [...dts.matchAll(/export declare class (\w+) extends GgufWebError/g)].map((m) => m[1]).sort();
  assert.deepEqual(declared, ERROR_CLASSES.map((C) => C.name).sort());
  for (const C of ERROR_CLASSES) {
    assert.match(dts, new RegExp(`class ${C.name} extends GgufWebError \\{\\n  static readonly code: '${C.code}';`), `${C.name}'s code in index.d.ts`);
  }
  const union = dts.slice(dts.indexOf('// BEGIN ERROR CODES'), dts.indexOf('// END ERROR CODES'));
  assert.deepEqual([...union.matchAll(/\| '(\w+)'/g)].map((m) => m[1]), [...ERROR_CODES], 'the ErrorCode union is the list (UPDATE_CODES=1 cargo test -p gguf-web error_code)');
  const index = fs.readFileSync(path.join(REPO_ROOT, 'pkg/src/index.js'), 'utf8');
  assert.match(index, /^export \* from '\.\/errors\.js';$/m);
});

test('no JS source spells a code as a string literal (they go through CODE or the classes)', () => {
  const dir = path.join(REPO_ROOT, 'pkg/src');
  for (const f of fs.readdirSync(dir).filter((f) => f.endsWith('.js') && f !== 'codes.js')) {
    const src = fs.readFileSync(path.join(dir, f), 'utf8');
    for (const code of ERROR_CODES) {
      assert.ok(!src.includes(`'${code}'`) && !src.includes(`"${code}"`), `${f} spells '${code}'`);
    }
  }
});
