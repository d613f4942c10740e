// The worker side of WorkerEngine: hosts an Engine and answers the page's messages (protocol.js).
import { Engine } from './engine.js';
import { InternalError, InvalidArgumentError, InvalidStateError, serializeError } from './errors.js';
import { CALLS, MSG } from './protocol.js';

let engine = null;
let loadAbort = null;
const requests = new Map(); // id → AbortController of a request not finished yet
const streams = new Map(); // id → promise of the Engine stream of a streaming request

const post = (m) => self.postMessage(m);

function finished(id) {
  requests.delete(id);
  streams.delete(id);
}

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
        if (!CALLS.includes(m.method)) throw new InvalidArgumentError(`unknown method ${m.method}`);
        if (!engine) throw new InvalidStateError('no model is loaded');
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
      const created = (async () => {
        if (!engine) throw new InvalidStateError('no model is loaded');
        return (m.chat ? engine.chat.completions : engine.completions).create(req);
      })();
      if (req.stream) {
        // Set at once: a 'pull' may come before create() has resolved. Answers come with the pulls.
        streams.set(m.id, created);
        created.catch(() => {});
        break;
      }
      try {
        post({ type: MSG.DONE, id: m.id, value: await created });
      } catch (e) {
        post({ type: MSG.ERROR, id: m.id, error: serializeError(e) });
      } finally {
        finished(m.id);
      }
      break;
    }
    case MSG.PULL: {
      try {
        const stream = streams.get(m.id);
        if (!stream) throw new InternalError(`pull for request ${m.id}, which is not streaming`);
        const r = await (await stream).next();
        if (r.done) {
          finished(m.id);
          post({ type: MSG.DONE, id: m.id });
        } else {
          post({ type: MSG.CHUNK, id: m.id, chunk: r.value });
        }
      } catch (e) {
        finished(m.id);
        post({ type: MSG.ERROR, id: m.id, error: serializeError(e) });
      }
      break;
    }
    case MSG.STOP: {
      const stream = streams.get(m.id);
      finished(m.id);
      try {
        if (stream) await (await stream).return();
      } catch {
        /* a stream that failed to start has nothing to stop */
      }
      post({ type: MSG.DONE, id: m.id });
      break;
    }
    case MSG.ABORT: {
      const ac = requests.get(m.id);
      if (ac) ac.abort();
      break;
    }
  }
};
