// WorkerEngine: the Engine API with the model in a Web Worker, so generation never blocks the page.
import { deserializeError, AbortError } from './errors.js';
import { MSG } from './protocol.js';

export class WorkerEngine {
  /** Same options as Engine.load; `onProgress` and `signal` stay on the page. */
  static load(url, options = {}) {
    const { onProgress, signal, workerUrl, ...rest } = options;
    // Written out so that bundlers (Vite, webpack) see the worker and emit it.
    const worker = workerUrl ? new Worker(workerUrl, { type: 'module' }) : new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
    return new Promise((resolve, reject) => {
      const onAbort = () => worker.postMessage({ type: MSG.ABORT_LOAD });
      if (signal) {
        if (signal.aborted) onAbort();
        signal.addEventListener('abort', onAbort, { once: true });
      }
      worker.onmessage = ({ data: m }) => {
        if (m.type === MSG.PROGRESS && onProgress) onProgress(m.progress);
        else if (m.type === MSG.LOADED) {
          if (signal) signal.removeEventListener('abort', onAbort);
          resolve(new WorkerEngine(worker, m.info, m.loadStats));
        } else if (m.type === MSG.ERROR) {
          worker.terminate();
          reject(deserializeError(m.error));
        }
      };
      worker.onerror = (e) => {
        worker.terminate();
        reject(deserializeError({ code: 'Internal', message: `the worker failed: ${e.message}` }));
      };
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
    this.chat = { completions: { create: (req) => this.#create(req, true) } };
    this.completions = { create: (req) => this.#create(req, false) };
  }

  #call(method, ...args) {
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
  applyChatTemplate(messages) {
    return this.#call('applyChatTemplate', messages);
  }
  topLogits(ids, opts) {
    return this.#call('topLogits', ids, opts);
  }
  wasmMemoryBytes() {
    return this.#call('wasmMemoryBytes');
  }
  async unload() {
    await this.#call('unload');
    this.worker.terminate();
  }

  #create(req, chat) {
    const id = this.nextId++;
    const { signal, ...request } = req;
    const post = () => this.worker.postMessage({ type: MSG.CREATE, id, chat, request });
    const abort = () => this.worker.postMessage({ type: MSG.ABORT, id });
    if (signal) signal.addEventListener('abort', abort, { once: true });
    if (!req.stream) {
      return new Promise((resolve, reject) => {
        this.handlers.set(id, (m) => {
          this.handlers.delete(id);
          if (m.type === MSG.ERROR) reject(deserializeError(m.error));
          else resolve(m.value);
        });
        post();
      });
    }
    const queue = [];
    let wake = null;
    let end = null; // { error } or {}
    this.handlers.set(id, (m) => {
      if (m.type === MSG.CHUNK) queue.push(m.chunk);
      else {
        this.handlers.delete(id);
        end = m.type === MSG.ERROR ? { error: deserializeError(m.error) } : {};
      }
      if (wake) wake();
    });
    post();
    return {
      [Symbol.asyncIterator]() {
        return this;
      },
      async next() {
        for (;;) {
          if (queue.length) return { value: queue.shift(), done: false };
          if (end) {
            if (end.error) throw end.error;
            return { value: undefined, done: true };
          }
          await new Promise((r) => (wake = r));
          wake = null;
        }
      },
      async return() {
        if (!end) abort();
        return { value: undefined, done: true };
      },
    };
  }
}

export { AbortError };
