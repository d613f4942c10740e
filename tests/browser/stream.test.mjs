// pkg/src/stream.js from Node (no browser): the chunk stream both engines return, with a fake
// producer that counts what it makes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { abortable, chunkStream } from '../../pkg/src/stream.js';

const tick = (ms = 5) => new Promise((ok) => setTimeout(ok, ms));

/** A producer of `n` chunks, a tick each, as the engines' loops are written. */
function counter(n, { ahead = 1, signal } = {}) {
  const state = { made: 0, ended: null };
  const stream = chunkStream(
    async (sink) => {
      try {
        for (let i = 0; ; i++) {
          if (sink.halted) {
            sink.push('last');
            throw Object.assign(new Error('aborted'), { name: 'AbortError' });
          }
          await tick();
          state.made++;
          sink.push(i);
          if (i === n - 1) return;
          await sink.wanted();
        }
      } finally {
        state.ended = true;
      }
    },
    { ahead, signal },
  );
  return { stream, state };
}

test('ahead 1: the producer makes at most one chunk more than the consumer took', async () => {
  const { stream, state } = counter(50);
  const it = stream[Symbol.asyncIterator]();
  assert.deepEqual(await it.next(), { value: 0, done: false });
  await tick(60);
  assert.equal(state.made, 2, 'the first chunk and one ahead');
  const all = [0];
  for await (const v of { [Symbol.asyncIterator]: () => it }) all.push(v);
  assert.equal(all.length, 50);
  assert.deepEqual(await it.next(), { value: undefined, done: true });
});

test('ahead 0: the producer makes a chunk only while the consumer waits', async () => {
  const { stream, state } = counter(50, { ahead: 0 });
  await tick(40);
  assert.equal(state.made, 1, 'the first chunk is made before anyone asks (the producer starts at once)');
  const it = stream[Symbol.asyncIterator]();
  await it.next();
  await tick(40);
  assert.equal(state.made, 1, 'nothing more until asked');
  assert.deepEqual(await it.next(), { value: 1, done: false });
  await tick(40);
  assert.equal(state.made, 2);
});

test('a break ends the producer at its next chunk and return() waits for it', async () => {
  const { stream, state } = counter(1000);
  let seen = 0;
  for await (const v of stream) {
    void v;
    if (++seen === 3) break;
  }
  assert.equal(state.ended, true, 'the producer has finished when the loop is left');
  assert.ok(state.made <= 4, `${state.made} made`);
});

test('an aborted stream nobody reads runs to its end; a later reader gets its chunks and the error', async () => {
  const ac = new AbortController();
  const { stream, state } = counter(1000, { signal: ac.signal });
  await tick(30);
  ac.abort();
  await tick(30);
  assert.equal(state.ended, true, 'the producer did not wait for a consumer');
  const got = [];
  await assert.rejects(async () => {
    for await (const v of stream) got.push(v);
  }, /aborted/);
  assert.equal(got.at(-1), 'last');
  assert.ok(got.length <= 3, `${got.length} chunks`);
});

test('a producer that throws fails the stream after its chunks', async () => {
  const stream = chunkStream(async (sink) => {
    sink.push(1);
    await sink.wanted();
    throw new Error('boom');
  });
  const it = stream[Symbol.asyncIterator]();
  assert.deepEqual(await it.next(), { value: 1, done: false });
  await assert.rejects(it.next(), /boom/);
});

test('an abort ends a waiting consumer after the 50 ms grace, while the producer is still in a long step', async () => {
  const ac = new AbortController();
  const state = { ended: false };
  const stream = chunkStream(
    async (sink) => {
      try {
        for (let i = 0; ; i++) {
          if (sink.halted) throw Object.assign(new Error('aborted'), { name: 'AbortError' });
          await tick(i === 0 ? 1 : 400); // a step as slow as SmolLM2's on a software adapter
          sink.push(i);
          await sink.wanted();
        }
      } finally {
        state.ended = true;
      }
    },
    { ahead: 1, signal: ac.signal },
  );
  const it = stream[Symbol.asyncIterator]();
  assert.deepEqual(await it.next(), { value: 0, done: false });
  const waiting = it.next();
  await tick(20);
  const t0 = performance.now();
  ac.abort();
  await assert.rejects(waiting, (e) => e.name === 'AbortError' && e.code === 'Aborted');
  const ms = performance.now() - t0;
  assert.ok(ms >= 45 && ms < 100, `the abort took ${ms.toFixed(1)} ms (the grace is 50 ms; the bound 100 ms)`);
  assert.equal(state.ended, false, 'the producer was still in its step');
  await tick(500);
  assert.equal(state.ended, true, 'and ended on its own');
  await assert.rejects(it.next(), (e) => e.name === 'AbortError');
});

test('abortable: a request that is not streamed rejects at once on abort, and resolves as before without one', async () => {
  const slow = (v) => new Promise((ok) => setTimeout(() => ok(v), 300));
  assert.equal(await abortable(slow(7), undefined), 7);
  assert.equal(await abortable(slow(8), new AbortController().signal), 8);
  const ac = new AbortController();
  const p = abortable(slow(9), ac.signal);
  const t0 = performance.now();
  setTimeout(() => ac.abort(), 10);
  await assert.rejects(p, (e) => e.name === 'AbortError' && e.code === 'Aborted');
  assert.ok(performance.now() - t0 < 100);
  ac.abort();
  await assert.rejects(abortable(slow(10), ac.signal), (e) => e.name === 'AbortError');
  await assert.rejects(abortable(Promise.reject(new Error('boom')), new AbortController().signal), /boom/);
});

test('an abort reaching an idle producer still gets its last chunk, then the AbortError', async () => {
  const ac = new AbortController();
  const stream = chunkStream(
    async (sink) => {
      for (let i = 0; ; i++) {
        if (sink.halted) {
          sink.push('last');
          throw Object.assign(new Error('aborted'), { name: 'AbortError' });
        }
        sink.push(i);
        await sink.wanted();
      }
    },
    { ahead: 1, signal: ac.signal },
  );
  const it = stream[Symbol.asyncIterator]();
  assert.deepEqual(await it.next(), { value: 0, done: false });
  await tick(20); // the producer has pushed 1 and waits
  ac.abort();
  const t0 = performance.now();
  assert.deepEqual(await it.next(), { value: 1, done: false });
  assert.deepEqual(await it.next(), { value: 'last', done: false });
  await assert.rejects(it.next(), (e) => e.name === 'AbortError');
  assert.ok(performance.now() - t0 < 45, 'without waiting for the grace');
});
