// pkg/src/stream.js from Node (no browser): the chunk stream both engines return, with a fake
// producer that counts what it makes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chunkStream } from '../../pkg/src/stream.js';

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
