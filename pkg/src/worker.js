// The worker side of WorkerEngine: hosts an Engine and answers the page's messages.
import { Engine } from './engine.js';
import { InvalidArgumentError, serializeError } from './errors.js';
import { CALLS, MSG } from './protocol.js';

let engine = null;
let loadAbort = null;
const requests = new Map(); // id → AbortController

const post = (m) => self.postMessage(m);

self.onmessage = async ({ data: m }) => {
  switch (m.type) {
    case MSG.LOAD: {
      loadAbort = new AbortController();
      try {
        engine = await Engine.load(m.url, { ...m.options, signal: loadAbort.signal, onProgress: (progress) => post({ type: MSG.PROGRESS, progress }) });
        post({ type: MSG.LOADED, info: engine.info, loadStats: engine.loadStats });
      } catch (e) {
        post({ type: MSG.ERROR, error: serializeError(e) });
      }
      break;
    }
    case MSG.ABORT_LOAD:
      if (loadAbort) loadAbort.abort();
      break;
    case MSG.CALL: {
      try {
        if (!CALLS.includes(m.method)) throw new Error(`unknown method ${m.method}`);
        if (!engine) throw new InvalidArgumentError('no model is loaded', 'InvalidArgument');
        const value = await engine[m.method](...m.args);
        post({ type: MSG.RESULT, id: m.id, value });
      } catch (e) {
        post({ type: MSG.ERROR, id: m.id, error: serializeError(e) });
      }
      break;
    }
    case MSG.CREATE: {
      const ac = new AbortController();
      requests.set(m.id, ac);
      const req = { ...m.request, signal: ac.signal };
      try {
        if (!engine) throw new InvalidArgumentError('no model is loaded', 'InvalidArgument');
        const target = m.chat ? engine.chat.completions : engine.completions;
        const r = await target.create(req);
        if (req.stream) {
          for await (const chunk of r) post({ type: MSG.CHUNK, id: m.id, chunk });
          post({ type: MSG.DONE, id: m.id });
        } else {
          post({ type: MSG.DONE, id: m.id, value: r });
        }
      } catch (e) {
        post({ type: MSG.ERROR, id: m.id, error: serializeError(e) });
      } finally {
        requests.delete(m.id);
      }
      break;
    }
    case MSG.ABORT: {
      const ac = requests.get(m.id);
      if (ac) ac.abort();
      break;
    }
  }
};
