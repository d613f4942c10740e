// The chunk stream both engines return for `stream: true`: an async iterator whose producer makes
// a chunk only when the consumer wants one. Engine's producer is the generation loop (one token
// per chunk); WorkerEngine's is the page side of the worker protocol (a `pull` message per chunk,
// answered by the worker from the Engine stream it hosts), so both have the same backpressure.
//
// Backpressure: the producer awaits `sink.wanted()` before making each chunk after the first. It
// resolves while fewer than `ahead` chunks wait unread (a consumer waiting in `next()` counts as
// room for one more): with `ahead: 1` (Engine) the generator runs at most one chunk ahead of the
// consumer, so an abort or an early `break` stops it within one token; with `ahead: 0` (the page
// side of a worker, whose worker already runs one ahead) it asks only when `next()` waits.
//
// Ending: the producer's return ends the stream (`done` after the chunks already pushed), its
// throw fails it (`next()` throws after them). `return()` (an early `break`) sets `stopped`, lets
// the producer run on without waiting for a consumer, and resolves when the producer has
// finished; what it throws then is dropped (the consumer is gone). Once `signal` is aborted the
// producer never waits either: a stream nobody reads runs to its end (the abort) on its own, and
// what it pushed is still there for a consumer that reads later.
//
// Abort latency: a consumer waits at most `abortGraceMs` (50) past an abort for the producer. A
// producer that was idle (waiting for its consumer) gets there first: it pushes its last chunk
// (finish_reason 'abort', with usage) and throws, as it always did. One still in a step it cannot
// leave (a GPU step can outlast the 100 ms an abort may take on a slow adapter) does not: `next()`
// throws an AbortError once the grace is over, and what the producer pushes or throws after that
// is dropped. The producer ends on its own at its next chunk; the engine's queue makes the next
// request wait for it.
import { AbortError } from './errors.js';

/**
 * @param {(sink: { push(chunk: any): void, wanted(): Promise<void>, readonly stopped: boolean, readonly halted: boolean }) => Promise<void>} produce
 *   runs at once; `halted` is `stopped` or the signal aborted: end at the next chunk.
 * @param {{ ahead?: number, signal?: AbortSignal, abortGraceMs?: number }} [options]
 */
export function chunkStream(produce, { ahead = 1, signal, abortGraceMs = 50 } = {}) {
  const pending = [];
  let waiting = 0; // consumers waiting in next()
  let stopped = false;
  let end = null; // null while producing; then {} or { error }
  let consumers = [];
  let producer = null;
  let abortedOut = false; // the consumer got an AbortError before the producer ended
  let graceOver = false; // abortGraceMs has passed since the abort
  const halted = () => stopped || !!(signal && signal.aborted);
  const wanted = () => halted() || end !== null || pending.length < ahead + waiting;
  const wakeProducer = () => {
    if (producer && wanted()) {
      const w = producer;
      producer = null;
      w();
    }
  };
  const wakeConsumers = () => {
    const ws = consumers;
    consumers = [];
    for (const w of ws) w();
  };
  let graceTimer = null;
  const onAbort = () => {
    wakeProducer();
    graceTimer = setTimeout(() => {
      graceOver = true;
      wakeConsumers();
    }, abortGraceMs);
  };
  if (signal && signal.aborted) onAbort();
  else if (signal) signal.addEventListener('abort', onAbort);
  const sink = {
    push(chunk) {
      if (end || stopped || abortedOut) return;
      pending.push(chunk);
      wakeConsumers();
    },
    wanted() {
      return wanted() ? Promise.resolve() : new Promise((r) => (producer = r));
    },
    get stopped() {
      return stopped;
    },
    get halted() {
      return halted();
    },
  };
  const finished = new Promise((r) => r(produce(sink)))
    .then(
      () => (end = {}),
      (error) => (end = stopped ? {} : { error }),
    )
    .finally(() => {
      if (signal) signal.removeEventListener('abort', onAbort);
      clearTimeout(graceTimer);
      wakeConsumers();
    });
  return {
    [Symbol.asyncIterator]() {
      return this;
    },
    async next() {
      for (;;) {
        // Told of the abort already: what the producer pushed after it is not this consumer's.
        if (abortedOut) throw new AbortError('the request was aborted');
        if (pending.length) {
          const value = pending.shift();
          wakeProducer();
          return { value, done: false };
        }
        if (end && end.error) throw end.error;
        if (end || stopped) return { value: undefined, done: true };
        if (graceOver) {
          abortedOut = true;
          throw new AbortError('the request was aborted');
        }
        waiting++;
        wakeProducer();
        await new Promise((r) => consumers.push(r));
        waiting--;
      }
    },
    async return() {
      // The consumer stopped early: the producer ends at its next chunk, without waiting.
      stopped = true;
      pending.length = 0;
      wakeProducer();
      await finished;
      return { value: undefined, done: true };
    },
  };
}

/**
 * `promise`, or an AbortError as soon as `signal` aborts (the work behind `promise` goes on and ends
 * on its own; its outcome is then dropped). A request that is not streamed gets the same abort
 * latency as a stream.
 */
export function abortable(promise, signal) {
  if (!signal) return promise;
  if (signal.aborted) {
    promise.catch(() => {});
    return Promise.reject(new AbortError('the request was aborted'));
  }
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(new AbortError('the request was aborted'));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
