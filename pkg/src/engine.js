// The in-page engine: `Engine.load(url, options)` streams a GGUF file into WebGPU buffers and
// returns an engine with an OpenAI-style chat/completions API.

import { AbortError, CODE, InternalError, InvalidArgumentError, InvalidGGUFError, InvalidStateError, NetworkError, promised, toTyped, typedError } from './errors.js';
import { openModelFile } from './fetcher.js';
import { abortable, chunkStream } from './stream.js';
import { coreFailure, isTrap, loadCore, poisonCore, gpuMemoryBytes } from './wasm.js';
import { chooseBackend, cpuThreads } from './backend.js';

const HEADER_STEP = 1 << 20;

function check(signal) {
  if (signal && signal.aborted) throw new AbortError('aborted');
}

/**
 * What a call into the core of instance `instance` threw, typed. A trap (WebAssembly.RuntimeError)
 * is fatal for the instance: it is poisoned (see wasm.js) and the call fails with an InternalError
 * whose details say `{ trap: true }`; the engine must be unloaded and the model loaded again.
 */
function coreError(instance, e) {
  if (!isTrap(e)) return toTyped(e);
  const err = new InternalError(`the WebAssembly core trapped (${e.message}): this engine cannot be used any more; unload() it and load the model again`, { trap: true });
  poisonCore(instance, err);
  return err;
}

/** Bytes loaded between two returns to the event loop. */
const YIELD_BYTES = 4 * 1024 * 1024;

async function readHeader(core, file, signal, onProgress) {
  let want = Math.min(HEADER_STEP, file.total);
  for (;;) {
    check(signal);
    const prefix = await file.prefix(want);
    onProgress({ phase: 'header', loaded: prefix.length, total: file.total });
    const r = core.parseHeader(prefix, file.total);
    if (r.info) return { info: r.info, prefix };
    if (r.need > file.total) throw new InvalidGGUFError(`the header needs ${r.need} bytes but the file has ${file.total}`);
    want = Math.min(file.total, Math.max(r.need, want * 2));
  }
}

/** The URLs of all parts of a split GGUF (`name-00001-of-00003.gguf`), or null. */
export function splitUrls(url) {
  const m = /^(.*)-(\d{5})-of-(\d{5})\.gguf(\?.*)?$/.exec(String(url));
  if (!m) return null;
  const count = Number(m[3]);
  if (count < 2 || Number(m[2]) < 1 || Number(m[2]) > count) return null;
  const pad = (n) => String(n).padStart(5, '0');
  return Array.from({ length: count }, (_, i) => `${m[1]}-${pad(i + 1)}-of-${m[3]}.gguf${m[4] || ''}`);
}

/** Serializes requests: one generation at a time per model. */
class Queue {
  constructor() {
    this.tail = Promise.resolve();
  }
  run(fn) {
    const r = this.tail.then(fn, fn);
    this.tail = r.catch(() => {});
    return r;
  }
}

function samplingOptions(req) {
  const o = {};
  for (const k of ['max_tokens', 'temperature', 'top_p', 'top_k', 'min_p', 'repetition_penalty', 'seed', 'decode_k', 'decode_ahead']) {
    if (req[k] !== undefined && req[k] !== null) o[k] = req[k];
  }
  if (req.stop !== undefined && req.stop !== null) o.stop = Array.isArray(req.stop) ? req.stop : [req.stop];
  if (req.ignore_eos) o.ignore_eos = true;
  // Constrained output (crate/src/constraint/): checked and compiled by the core, which throws an
  // InvalidArgumentError before any token for what it cannot honour.
  if (req.response_format !== undefined && req.response_format !== null) o.response_format = req.response_format;
  if (req.grammar !== undefined && req.grammar !== null) o.grammar = req.grammar;
  // Tool calls (crate/src/tools/): the core checks them, renders them with the chat template,
  // constrains the reply to the model family's call syntax and parses the calls back.
  if (req.tools !== undefined && req.tools !== null) o.tools = req.tools;
  if (req.tool_choice !== undefined && req.tool_choice !== null) o.tool_choice = req.tool_choice;
  if (req.parallel_tool_calls === false) o.parallel_tool_calls = false;
  return o;
}

export class Engine {
  /**
   * @param {string} url  a GGUF file (http(s) or relative)
   * @param {object} [options] `{ onProgress, signal, sha256, contextLength, cache, revalidate, retries, wasmUrl, defaultLimits, tuning, backend, threads }`
   */
  static async load(url, options = {}) {
    const k = options.decodeBatch;
    if (k !== undefined && k !== null && !(Number.isInteger(k) && k >= 1)) {
      throw new InvalidArgumentError(`decodeBatch = ${k}: expected a whole number of decode steps per GPU round trip, at least 1`);
    }
    try {
      return await Engine.#loadOnce(url, options);
    } catch (e) {
      // The file changed on the server during the download (fetcher.js): once more from zero, never a mix.
      if (!(e && e.details && e.details.fileChanged)) throw e;
      return Engine.#loadOnce(url, options);
    }
  }

  static async #loadOnce(url, options) {
    const { onProgress = () => {}, signal, sha256, contextLength, cache = true, revalidate = true, retries = 2, wasmUrl, defaultLimits = false, tuning } = options;
    const t0 = performance.now();
    // WebGPU, or the CPU path (backend.js); threads only where the page is cross-origin isolated.
    const chosen = await chooseBackend(options.backend);
    const cpu = chosen.backend === 'cpu';
    const threads = cpu ? cpuThreads(options.threads) : 1;
    const { core, instance } = await loadCore(wasmUrl, { threads, threadsWasmUrl: options.threadsWasmUrl });
    const parts = splitUrls(url);
    if (parts && sha256) throw new InvalidArgumentError('sha256 checks a single file; it cannot be used with a split GGUF');
    const files = [];
    let loader;
    try {
      check(signal);
      const prefixes = [];
      for (const u of parts || [url]) {
        const file = await openModelFile(u, { signal, cache, revalidate, retries, onProgress });
        const { info, prefix } = await readHeader(core, file, signal, onProgress);
        if (!parts && !info.supported) {
          // Refused from the header alone, before any weight is downloaded.
          throw typedError(info.problemCode ?? CODE.InvalidGGUF, info.problem);
        }
        files.push(file);
        prefixes.push(prefix);
      }
      const total = files.reduce((n, f) => n + f.total, 0);
      onProgress({ phase: 'device', loaded: 0, total });
      const opts = { contextLength, sha256, defaultLimits, tuning };
      const Loader = cpu ? core.CpuModelLoader : core.ModelLoader;
      loader = parts
        ? await Loader.createSplit(prefixes, files.map((f) => f.total), opts)
        : await Loader.create(prefixes[0], files[0].total, opts);
      // The parts are fed as one virtual file: their concatenation.
      let base = 0;
      let sinceYield = 0;
      for (const file of files) {
        let loaded = 0;
        for await (const { offset, bytes } of file.chunks(0)) {
          check(signal);
          // Reads of a fast or cached body resolve without a task in between, so the device's
          // `lost` promise (and the page's own events) would wait for the end of the download:
          // a task boundary every YIELD_BYTES lets a loss stop the load soon after it happens.
          sinceYield += bytes.length;
          if (sinceYield >= YIELD_BYTES) {
            sinceYield = 0;
            await new Promise((r) => setTimeout(r, 0));
          }
          // The bytes go through the core's one feed buffer, in pieces of its size: a copy
          // allocated per call would come in whatever sizes the network read, and move the
          // WebAssembly memory's high-water mark from one load to the next (crate/src/wasm/feed_buffer.rs).
          for (let i = 0; i < bytes.length; ) {
            const into = core.feedBuffer();
            const piece = bytes.subarray(i, i + into.length);
            into.set(piece);
            loader.feedBuffered(base + offset + i, piece.length);
            i += piece.length;
          }
          loaded = offset + bytes.length;
          onProgress({ phase: file.fromCacheComplete ? 'cache' : 'download', loaded: base + loaded, total });
        }
        if (loaded < file.total) throw new NetworkError(`the download ended after ${loaded} of ${file.total} bytes`);
        base += file.total;
      }
      // One round trip of the device first: its loss during the upload is reported asynchronously.
      await loader.settle();
      let model;
      try {
        model = loader.finish();
      } catch (e) {
        if (e && e.code === CODE.IntegrityError) await files[0].discard();
        throw e;
      }
      try {
        // The cache is best effort: a full quota must not fail a load whose model is on the GPU.
        for (const file of files) await file.commit().catch(() => {});
        onProgress({ phase: 'ready', loaded: total, total });
        const engine = new Engine(model, core, instance, url);
        // Decode steps per GPU round trip: fixed for every request, or adaptive (the core's choice).
        engine.decodeBatch = options.decodeBatch ?? null;
        engine.info.decodeBatch = engine.decodeBatch ?? 'adaptive';
        engine.info.backendReason = chosen.reason;
        engine.loadStats = { ms: performance.now() - t0, parts: files.length, requests: files.reduce((n, f) => n + f.stats.requests, 0) };
        return engine;
      } catch (e) {
        if (!isTrap(e)) model.free();
        throw e;
      }
    } catch (e) {
      throw coreError(instance, e);
    } finally {
      // A trapped instance's objects cannot be freed (nor need to be: the instance is dropped).
      if (loader && !coreFailure(instance)) loader.free();
    }
  }

  constructor(model, core, instance, url) {
    this.model = model;
    this.instance = instance;
    // Tokenizer and template: usable while a token is being generated (the model is then busy).
    this.text = model.text();
    this.core = core;
    this.url = url;
    this.queue = new Queue();
    this.info = { ...model.info(), url };
    this.chat = { completions: { create: (req) => promised(() => this.#create(req, true)) } };
    this.completions = { create: (req) => promised(() => this.#create(req, false)) };
  }

  /** Throws the typed error of a call after `unload()` (InvalidStateError) or after a trap of the core (its InternalError). */
  #loaded() {
    if (!this.model) throw new InvalidStateError('the engine was unloaded');
    const trap = coreFailure(this.instance);
    if (trap) throw new InternalError(`${trap.message} (an earlier call trapped)`, trap.details);
  }

  /** Runs `fn` on the text object, with the errors typed (and a typed error once unloaded). */
  #withText(fn) {
    this.#loaded();
    try {
      return fn(this.text);
    } catch (e) {
      throw coreError(this.instance, e);
    }
  }

  tokenize(text, { addSpecial = false, parseSpecial = false } = {}) {
    return this.#withText((t) => Array.from(t.tokenize(String(text), addSpecial, parseSpecial)));
  }

  detokenize(ids) {
    return this.#withText((t) => t.detokenize(Uint32Array.from(ids)));
  }

  /** The prompt text of a chat; `tools` and `tool_choice` as in `chat.completions.create`. */
  applyChatTemplate(messages, { tools, tool_choice } = {}) {
    return this.#withText((t) => t.applyChatTemplate(messages, tools ?? undefined, tool_choice ?? undefined));
  }

  /**
   * Runs `ids` as one teacher-forced pass from the start of the context and returns, for every
   * position, the `top` most likely next tokens with their logits: `[[{ id, logit }, ...], ...]`.
   */
  topLogits(ids, { top = 5 } = {}) {
    this.#loaded();
    return this.queue.run(async () => {
      let flat;
      try {
        this.#loaded();
        flat = await this.model.topLogits(Uint32Array.from(ids), top);
      } catch (e) {
        throw coreError(this.instance, e);
      }
      const k = flat.length / 2 / ids.length;
      return Array.from({ length: ids.length }, (_, p) =>
        Array.from({ length: k }, (_, j) => ({ id: flat[(p * k + j) * 2], logit: flat[(p * k + j) * 2 + 1] })),
      );
    });
  }

  /** Bytes of WebAssembly memory in use (the weights live in GPU buffers, not here). */
  wasmMemoryBytes() {
    return this.core.Model.wasmMemoryBytes();
  }

  wasmHeapBytes() {
    return this.core.Model.wasmHeapBytes();
  }

  /** Bytes of the live GPU buffers of every engine in this page (or worker): 0 once all are unloaded. */
  gpuMemoryBytes() {
    return gpuMemoryBytes();
  }

  async unload() {
    await this.queue.run(() => {
      if (!this.model) return;
      // After a trap the objects are left to the dropped instance: they cannot be freed.
      if (!coreFailure(this.instance)) {
        this.model.free();
        this.text.free();
      }
      this.model = null;
      this.text = null;
    });
  }

  /**
   * Runs one request in the queue, a token per step: each event goes to `out.push`; before each
   * token after the first it awaits `out.wanted()`, and once `out.halted` it ends the generation
   * (the last event pushed) with an AbortError. Resolves to the last event.
   */
  #generate(req, chat, out) {
    return this.queue.run(async () => {
      try {
        // Unloaded (or trapped) while this request waited in the queue.
        this.#loaded();
        const ids = chat
          ? this.text.chatPromptIds(req.messages, req.tools ?? undefined, req.tool_choice ?? undefined)
          : this.text.completionPromptIds(req.prompt);
        this.model.begin(ids, { decode_k: this.decodeBatch ?? undefined, ...samplingOptions(req) });
        for (;;) {
          if (out.halted) {
            out.push(this.model.abort());
            throw new AbortError('the request was aborted');
          }
          const ev = await this.model.next();
          out.push(ev);
          if (ev.done) return ev;
          await out.wanted();
        }
      } catch (e) {
        throw coreError(this.instance, e);
      }
    });
  }

  #create(req, chat) {
    this.#loaded();
    const id = (chat ? 'chatcmpl-' : 'cmpl-') + Math.random().toString(36).slice(2, 12);
    const created = Math.floor(Date.now() / 1000);
    const model = this.info.name || this.url;
    const chunkOf = (ev) => {
      const delta = chat ? { content: ev.text || '' } : undefined;
      // With tools: `content` is the text outside the calls, the calls come as OpenAI's fragments.
      if (chat && ev.toolCallDeltas) delta.tool_calls = ev.toolCallDeltas;
      const choice = chat ? { index: 0, delta, finish_reason: ev.done ? ev.finishReason : null } : { index: 0, text: ev.text || '', finish_reason: ev.done ? ev.finishReason : null };
      const c = { id, object: chat ? 'chat.completion.chunk' : 'text_completion', created, model, choices: [choice] };
      if (ev.done) {
        c.usage = ev.usage;
        c.token_ids = ev.tokenIds;
      }
      return c;
    };
    if (!req.stream) {
      const out = { push() {}, wanted() {}, get halted() { return !!(req.signal && req.signal.aborted); } };
      const done = this.#generate(req, chat, out).then((last) => {
        const message = { role: 'assistant', content: last.toolCalls ? last.content : last.fullText };
        if (last.toolCalls && last.toolCalls.length) message.tool_calls = last.toolCalls;
        const choice = chat
          ? { index: 0, message, finish_reason: last.finishReason }
          : { index: 0, text: last.fullText, finish_reason: last.finishReason };
        return { id, object: chat ? 'chat.completion' : 'text_completion', created, model, choices: [choice], usage: last.usage, token_ids: last.tokenIds };
      });
      return abortable(done, req.signal);
    }
    // Streaming: one chunk ahead of the consumer (stream.js), so an abort or an early `break`
    // stops the generation within one token.
    return chunkStream(
      (sink) => this.#generate(req, chat, { push: (ev) => sink.push(chunkOf(ev)), wanted: () => sink.wanted(), get halted() { return sink.halted; } }),
      { ahead: 1, signal: req.signal },
    );
  }
}
