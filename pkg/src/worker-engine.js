// WorkerEngine: the Engine API with the model in a Web Worker, so generation never blocks the page.
import { deserializeError, promised, AbortError, InternalError, InvalidStateError } from './errors.js';
import { MSG } from './protocol.js';
import { abortable, chunkStream } from './stream.js';

export class WorkerEngine {
  /** Same options as Engine.load; `onProgress` and `signal` stay on the page. */
  static load(url, options = {}) {
    const { onProgress, signal, workerUrl, ...rest } = options;
    if (signal && signal.aborted) return Promise.reject(new AbortError('the load was aborted'));
    // URLs do not survive postMessage, and a relative one must mean the page's, not the worker's.
    if (rest.wasmUrl !== undefined) rest.wasmUrl = new URL(rest.wasmUrl, location.href).href;
    if (rest.threadsWasmUrl !== undefined) rest.threadsWasmUrl = new URL(rest.threadsWasmUrl, location.href).href;
    // Written out so that bundlers (Vite, webpack) see the worker and emit it.
    const worker = workerUrl ? new Worker(workerUrl, { type: 'module' }) : new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
    return new Promise((resolve, reject) => {
      const onAbort = () => worker.postMessage({ type: MSG.ABORT_LOAD });
      if (signal) signal.addEventListener('abort', onAbort, { once: true });
      const fail = (e) => {
        if (signal) signal.removeEventListener('abort', onAbort);
        worker.terminate();
        reject(e);
      };
      worker.onmessage = ({ data: m }) => {
        if (m.type === MSG.PROGRESS && onProgress) onProgress(m.progress);
        else if (m.type === MSG.LOADED) {
          if (signal) signal.removeEventListener('abort', onAbort);
          resolve(new WorkerEngine(worker, m.info, m.loadStats));
        } else if (m.type === MSG.ERROR) {
          fail(deserializeError(m.error));
        }
      };
      worker.onerror = (e) => fail(new InternalError(`the worker failed: ${e.message}`));
      worker.postMessage({ type: MSG.LOAD, url: new URL(url, location.href).href, options: rest });
    });
  }

  constructor(worker, info, loadStats) {
    this.worker = worker;
    this.info = info;
    this.loadStats = loadStats;
    this.nextId = 1;
    this.handlers = new Map();
    worker.onmessage = ({ data: m }) => {
      const h = this.handlers.get(m.id);
      if (h) h(m);
    };
    // A worker that dies (or is terminated by unload) answers nothing more: fail what waits on it.
    this.closed = null;
    worker.onerror = (e) => this.#close(new InternalError(`the worker failed: ${e.message || 'unknown error'}`));
    this.chat = { completions: { create: (req) => promised(() => this.#create(req, true)) } };
    this.completions = { create: (req) => promised(() => this.#create(req, false)) };
  }

  #close(error) {
    if (this.closed) return;
    this.closed = error;
    this.worker.terminate();
    const waiting = [...this.handlers.values()];
    this.handlers.clear();
    for (const h of waiting) h({ type: MSG.ERROR, error: { code: error.code, message: error.message } });
  }

  #call(method, ...args) {
    if (this.closed) return Promise.reject(this.closed);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.handlers.set(id, (m) => {
        this.handlers.delete(id);
        if (m.type === MSG.ERROR) reject(deserializeError(m.error));
        else resolve(m.value);
      });
      this.worker.postMessage({ type: MSG.CALL, id, method, args });
    });
  }

  tokenize(text, opts) {
    return this.#call('tokenize', text, opts);
  }
  detokenize(ids) {
    return this.#call('detokenize', ids);
  }
  applyChatTemplate(messages, opts) {
    return this.#call('applyChatTemplate', messages, opts);
  }
  topLogits(ids, opts) {
    return this.#call('topLogits', ids, opts);
  }
  wasmMemoryBytes() {
    return this.#call('wasmMemoryBytes');
  }

  wasmHeapBytes() {
    return this.#call('wasmHeapBytes');
  }
  gpuMemoryBytes() {
    return this.#call('gpuMemoryBytes');
  }
  async unload() {
    if (this.closed) return;
    await this.#call('unload');
    this.#close(new InvalidStateError('the engine was unloaded'));
  }

  #create(req, chat) {
    if (this.closed) throw this.closed;
    const id = this.nextId++;
    const { signal, ...request } = req;
    const abort = () => {
      if (!this.closed) this.worker.postMessage({ type: MSG.ABORT, id });
    };
    const post = () => {
      this.worker.postMessage({ type: MSG.CREATE, id, chat, request });
      if (!signal) return;
      // An already-aborted signal never fires 'abort': the worker is told right after the request.
      if (signal.aborted) abort();
      else signal.addEventListener('abort', abort, { once: true });
    };
    const settled = () => {
      this.handlers.delete(id);
      if (signal) signal.removeEventListener('abort', abort);
    };
    if (!req.stream) {
      const done = new Promise((resolve, reject) => {
        this.handlers.set(id, (m) => {
          settled();
          if (m.type === MSG.ERROR) reject(deserializeError(m.error));
          else resolve(m.value);
        });
        post();
      });
      return abortable(done, signal);
    }
    // Streaming: pulled from the worker one chunk at a time, only when the consumer waits for one
    // (protocol.js); the worker's Engine stream keeps its generation one chunk ahead of that.
    let waiter = null;
    this.handlers.set(id, (m) => {
      const w = waiter;
      waiter = null;
      if (w) w(m);
    });
    /** Sends `type` for this request and resolves to the worker's answer. */
    const ask = (type) => {
      if (this.closed) return Promise.reject(this.closed);
      return new Promise((resolve) => {
        waiter = resolve;
        this.worker.postMessage({ type, id });
      });
    };
    // Told to the worker before chunkStream hears of an abort: the worker aborts before it is pulled.
    post();
    return chunkStream(
      async (sink) => {
        try {
          for (;;) {
            await sink.wanted();
            const m = await ask(sink.stopped ? MSG.STOP : MSG.PULL);
            if (m.type === MSG.CHUNK) sink.push(m.chunk);
            else if (m.type === MSG.ERROR) throw deserializeError(m.error);
            else return;
          }
        } finally {
          settled();
        }
      },
      { ahead: 0, signal },
    );
  }
}

export { AbortError };
