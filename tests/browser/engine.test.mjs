// The JS package in headless Chromium on WebGPU (SwiftShader): llama.cpp's greedy ids in the page
// and in a worker, streaming, abort, KV-cache reuse, the download cache, typed errors, default
// device limits, and WebAssembly memory.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { launchBrowser, newPage, OUT_DIR } from './harness.mjs';
import { start } from './server.mjs';
import { goldenCases, MODELS } from './golden.mjs';
import { checkAbort, checkGreedyIds, checkStreaming, loadHosts } from './engine-cases.mjs';

let srv;
before(async () => {
  srv = await start();
  // A tiny GGUF of an architecture we do not support (written here: no model files in git).
  fs.mkdirSync(OUT_DIR, { recursive: true });
  fs.writeFileSync(path.join(OUT_DIR, 'mamba.gguf'), tinyGguf('mamba'));
  fs.writeFileSync(path.join(OUT_DIR, 'not-a-model.gguf'), '<html>this is not a model</html>');
});
after(async () => srv && srv.close());

/** A header-only GGUF v3 whose general.architecture is `arch`. */
function tinyGguf(arch) {
  const parts = [];
  const u32 = (v) => { const b = Buffer.alloc(4); b.writeUInt32LE(v); parts.push(b); };
  const u64 = (v) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); parts.push(b); };
  const str = (s) => { u64(Buffer.byteLength(s)); parts.push(Buffer.from(s)); };
  parts.push(Buffer.from('GGUF'));
  u32(3);
  u64(0);
  u64(1);
  str('general.architecture');
  u32(8);
  str(arch);
  return Buffer.concat(parts);
}

/** A fresh browser profile and the package's test page. */
async function openPage(profile) {
  const browser = await launchBrowser(profile ? { userDataDir: profile } : {});
  const page = await newPage(browser, srv.url + 'tests/browser/pages/engine.html');
  await page.waitForFunction(() => window.gwReady);
  return { browser, page };
}

for (const [key, file] of Object.entries(MODELS)) {
  test(`${key}: greedy ids equal llama.cpp's in the page and in a worker`, async () => {
    const { browser, page } = await openPage();
    try {
      await checkGreedyIds(page, key, file);
    } finally {
      await browser.close();
    }
  });
}

describe('generation API (SmolLM2)', () => {
  let browser;
  let page;
  before(async () => {
    ({ browser, page } = await openPage());
    await loadHosts(page, MODELS.smollm2);
  });
  after(async () => browser && browser.close());

  test('streaming delivers chunks as tokens are generated, usage on the last', async () => {
    await checkStreaming(page);
  });

  for (const host of ['Engine', 'WorkerEngine']) {
  test(`${host}: abort stops within one token and the engine answers the next request`, async () => {
    await checkAbort(page, host);
  });

  test(`${host}: a break mid-token, an aborted stream never read, and tokenize mid-generation leave the engine usable`, async () => {
    const r = await page.evaluate(async (host) => {
      const engine = hosts[host];
      const within = (p, what) => Promise.race([p, new Promise((_, no) => setTimeout(() => no(new Error(`${what}: no answer in 60 s`)), 60000))]);
      const opts = { prompt: 'Once upon a time', stream: true, max_tokens: 40, temperature: 0, ignore_eos: true };
      // A slow consumer breaks out while the next token is being generated.
      let seen = 0;
      await within((async () => {
        for await (const ch of await engine.completions.create(opts)) {
          seen++;
          await new Promise((ok) => setTimeout(ok, 30));
          if (seen === 2) break;
        }
      })(), 'break out of the stream');
      // Text calls while a token is being generated (the model object is busy then).
      const it = (await engine.completions.create({ ...opts, max_tokens: 3 }))[Symbol.asyncIterator]();
      await it.next();
      const midIds = await engine.tokenize('hello world');
      const midText = await engine.detokenize(midIds);
      while (!(await it.next()).done);
      // A stream nobody reads, aborted: the next request must not wait behind it.
      const ac = new AbortController();
      const unread = await engine.completions.create({ ...opts, signal: ac.signal });
      await new Promise((ok) => setTimeout(ok, 300));
      ac.abort();
      const next = await within(engine.completions.create({ prompt: 'The capital of France is', max_tokens: 2, temperature: 0 }), 'the request after an unread aborted stream');
      let unreadError = null;
      try {
        for await (const ch of unread) void ch;
      } catch (e) {
        unreadError = e instanceof gw.AbortError;
      }
      return { seen, midText, next: next.token_ids.length, unreadError };
    }, host);
    assert.equal(r.seen, 2, 'two chunks before the break');
    assert.equal(r.midText, 'hello world', 'tokenize and detokenize while a token is being generated');
    assert.equal(r.next, 2, 'the request after the aborted, unread stream ran');
    assert.equal(r.unreadError, true, 'the unread stream ends with an AbortError');
  });

  test(`${host}: a stream runs at most one chunk ahead of a consumer that stops reading`, async () => {
    const r = await page.evaluate(async (host) => {
      const engine = hosts[host];
      const ac = new AbortController();
      const stream = await engine.completions.create({ prompt: 'Once upon a time', stream: true, max_tokens: 64, temperature: 0, ignore_eos: true, signal: ac.signal });
      const it = stream[Symbol.asyncIterator]();
      const first = await it.next();
      // The consumer holds its first chunk for a while: at most the next token may be generated.
      await new Promise((ok) => setTimeout(ok, 1500));
      ac.abort();
      const rest = [];
      let error = null;
      try {
        for (let c = await it.next(); !c.done; c = await it.next()) rest.push(c.value);
      } catch (e) {
        error = e.name;
      }
      // The abort's last chunk counts every token generated.
      const last = rest.at(-1);
      return { first: !first.done, error, generated: last && last.usage && last.usage.completion_tokens, rest: rest.length };
    }, host);
    assert.ok(r.first, 'a first chunk');
    assert.equal(r.error, 'AbortError');
    assert.ok(r.generated >= 1 && r.generated <= 2, `${r.generated} tokens generated while the consumer held its first chunk for 1.5 s (at most 2)`);
  });
  }

  test('multi-turn chat reuses the KV cache for the shared prefix', async () => {
    const r = await page.evaluate(async () => {
      const messages = [{ role: 'user', content: 'Name a color.' }];
      const a = await engine.chat.completions.create({ messages, max_tokens: 4, temperature: 0 });
      messages.push(a.choices[0].message, { role: 'user', content: 'Another one.' });
      const b = await engine.chat.completions.create({ messages, max_tokens: 4, temperature: 0 });
      return { a: a.usage, b: b.usage };
    });
    assert.ok(r.b.reused_prompt_tokens > 0, `second turn reused ${r.b.reused_prompt_tokens} tokens`);
    assert.ok(r.b.reused_prompt_tokens >= r.a.prompt_tokens - 1);
  });

  test('non-streaming completion objects and tokenizer calls', async () => {
    const r = await page.evaluate(async () => {
      const c = await engine.chat.completions.create({ messages: [{ role: 'user', content: 'Hi' }], max_tokens: 2, temperature: 0 });
      const ids = engine.tokenize('Hello world');
      return { c, ids, text: engine.detokenize(ids), info: engine.info };
    });
    assert.equal(r.c.object, 'chat.completion');
    assert.equal(r.c.choices[0].message.role, 'assistant');
    assert.deepEqual(r.ids, [19556, 905]); // llama.cpp's ids (tests/fixtures/tokenizer/smollm2.json)
    assert.equal(r.text, 'Hello world');
    assert.equal(r.info.architecture, 'llama');
    assert.equal(r.info.license, 'apache-2.0');
  });
});

test('a second load is served from the cache; an interrupted download resumes with Range', async () => {
  const profile = fs.mkdtempSync(path.join(OUT_DIR, 'profile-'));
  const { browser, page } = await openPage(profile);
  const model = '/models/' + MODELS.smollm2;
  try {
    // A first attempt cut off mid-file leaves its bytes in the cache.
    const cut = await page.evaluate(async (m) => {
      try {
        await gw.Engine.load(m + '?cut=40000000', { retries: 0 });
        return null;
      } catch (e) {
        return { name: e.name, net: e instanceof gw.NetworkError, message: e.message };
      }
    }, model);
    assert.ok(cut && cut.net, `cut-off download: NetworkError, got ${JSON.stringify(cut)}`);
    // The same URL again resumes from where the cut left it.
    srv.log.reset();
    await page.evaluate(async (m) => {
      const e = await gw.Engine.load(m + '?cut=40000000', { retries: 3 });
      await e.unload();
    }, model);
    const ranges = srv.log.filter('.gguf').map((e) => e.range);
    assert.ok(ranges.some((r) => r && /^bytes=[1-9]\d{6,}-$/.test(r)), `a Range request from the cut: ${JSON.stringify(ranges)}`);
    // Complete now: the next load downloads nothing; its one request is the revalidation, answered
    // 304 (and with revalidate: false, not even that).
    srv.log.reset();
    const stats = await page.evaluate(async (m) => {
      const e = await gw.Engine.load(m + '?cut=40000000');
      const out = await e.completions.create({ prompt: 'The capital of France is', max_tokens: 2, temperature: 0 });
      await e.unload();
      return { ids: out.token_ids, stats: e.loadStats };
    }, model);
    assert.deepEqual(srv.log.filter('.gguf').map((e) => [e.status, e.bytes]), [[304, 0]], 'one conditional request for the model, no bytes');
    assert.deepEqual(stats.ids, [7042, 30]);
    srv.log.reset();
    await page.evaluate(async (m) => (await gw.Engine.load(m + '?cut=40000000', { revalidate: false })).unload(), model);
    assert.equal(srv.log.filter('.gguf').length, 0, 'revalidate: false: no network request for the model');
  } finally {
    await browser.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
});

test('a split GGUF (-0000N-of-00003) loads as one model', async () => {
  const { browser, page } = await openPage();
  try {
    const r = await page.evaluate(async () => {
      const e = await gw.Engine.load('/models/split/SmolLM2-135M-Instruct.Q4_1-00002-of-00003.gguf', { cache: false });
      const out = await e.completions.create({ prompt: 'The capital of France is', max_tokens: 3, temperature: 0 });
      await e.unload();
      return { ids: out.token_ids, parts: e.loadStats.parts };
    });
    assert.equal(r.parts, 3);
    assert.deepEqual(r.ids, [7042, 30, 198]);
  } finally {
    await browser.close();
  }
});

test('typed errors: 404, not a GGUF, wrong sha256 (nothing cached), unsupported architecture', async () => {
  const { browser, page } = await openPage();
  try {
    const r = await page.evaluate(async (smol) => {
      const attempt = async (url, opts) => {
        try {
          await gw.Engine.load(url, opts);
          return 'loaded';
        } catch (e) {
          return { name: e.name, code: e.code, message: e.message };
        }
      };
      return {
        missing: await attempt('/models/does-not-exist.gguf'),
        notGguf: await attempt('/tests/browser/out/not-a-model.gguf'),
        unsupported: await attempt('/tests/browser/out/mamba.gguf'),
        sha: await attempt(smol, { sha256: '0'.repeat(64) }),
        afterwards: await attempt(smol, { cache: true }),
      };
    }, '/models/' + MODELS.smollm2);
    assert.equal(r.missing.name, 'NetworkError', JSON.stringify(r.missing));
    assert.match(r.missing.message, /404/);
    assert.equal(r.notGguf.name, 'InvalidGGUFError', JSON.stringify(r.notGguf));
    assert.equal(r.unsupported.name, 'UnsupportedArchitectureError', JSON.stringify(r.unsupported));
    assert.match(r.unsupported.message, /mamba/);
    assert.equal(r.sha.name, 'IntegrityError', JSON.stringify(r.sha));
    assert.equal(r.afterwards, 'loaded', 'the engine keeps working after the errors');
    // The failed integrity check left nothing cached: the last load came from the network.
    assert.ok(srv.log.filter('.gguf').some((e) => e.path.endsWith(MODELS.smollm2) && e.bytes > 50e6));
  } finally {
    await browser.close();
  }
});

test('a server without Range support: the file streams from its one response, WASM memory stays small', async () => {
  const { browser, page } = await openPage();
  try {
    const r = await page.evaluate(async (url) => {
      const e = await gw.Engine.load(url, { cache: false });
      const out = await e.completions.create({ prompt: 'The capital of France is', max_tokens: 2, temperature: 0 });
      const res = { ids: out.token_ids.length, requests: e.loadStats.requests, wasm: e.wasmMemoryBytes() };
      await e.unload();
      return res;
    }, '/models/' + MODELS.smollm2 + '?norange=1');
    assert.equal(r.ids, 2, 'it generates');
    assert.equal(r.requests, 1, 'one request: the whole-file answer to the probe');
    // Fed to the loader whole, the 98 MB file would have grown WASM memory past 100 MiB.
    assert.ok(r.wasm < 64 * 2 ** 20, `WASM memory ${(r.wasm / 2 ** 20).toFixed(1)} MiB`);
  } finally {
    await browser.close();
  }
});

test('already-aborted signals and calls after unload give typed errors, in the page and in a worker', async () => {
  const { browser, page } = await openPage();
  try {
    const r = await page.evaluate(async (smol) => {
      const name = async (f) => {
        try {
          await f();
          return 'no error';
        } catch (e) {
          return e.name;
        }
      };
      const aborted = AbortSignal.abort();
      const out = {};
      for (const host of ['Engine', 'WorkerEngine']) {
        const e = await gw[host].load(smol, { cache: false });
        out[host] = {
          load: await name(() => gw[host].load(smol, { cache: false, signal: aborted })),
          create: await name(() => e.completions.create({ prompt: 'Hi', max_tokens: 8, signal: aborted })),
          stream: await name(async () => {
            for await (const ch of await e.completions.create({ prompt: 'Hi', max_tokens: 8, stream: true, signal: aborted })) void ch;
          }),
          then: (await e.completions.create({ prompt: 'Hi', max_tokens: 2, temperature: 0 })).token_ids.length,
        };
        await e.unload();
        out[host].tokenize = await name(() => e.tokenize('Hi'));
        out[host].createAfter = await name(() => e.completions.create({ prompt: 'Hi', max_tokens: 2 }));
        out[host].unloadAgain = await name(() => e.unload());
      }
      return out;
    }, '/models/' + MODELS.smollm2);
    for (const host of ['Engine', 'WorkerEngine']) {
      const h = r[host];
      assert.equal(h.load, 'AbortError', `${host}: load with an aborted signal`);
      assert.equal(h.create, 'AbortError', `${host}: create with an aborted signal`);
      assert.equal(h.stream, 'AbortError', `${host}: stream with an aborted signal`);
      assert.equal(h.then, 2, `${host}: the engine answers afterwards`);
      assert.equal(h.tokenize, 'InvalidStateError', `${host}: tokenize after unload`);
      assert.equal(h.createAfter, 'InvalidStateError', `${host}: create after unload`);
      assert.equal(h.unloadAgain, 'no error', `${host}: a second unload`);
    }
  } finally {
    await browser.close();
  }
});

test('a trap in the WebAssembly core fails the request with an InternalError; unload works and the next load runs on a fresh instance (issue 19)', async () => {
  const { browser, page } = await openPage();
  try {
    const r = await page.evaluate(async (smol) => {
      const KEY = 'gguf-web test hook: trap this instance'; // crate/src/wasm/testing.rs
      const name = async (f) => {
        try {
          await f();
          return 'no error';
        } catch (e) {
          return e.name;
        }
      };
      const out = {};
      const e = await gw.Engine.load(smol, { cache: false });
      // The hook refuses any other key, and the model works on.
      try {
        e.model.__testTrap('a key');
      } catch (err) {
        out.wrongKey = err.code;
      }
      out.before = (await e.completions.create({ prompt: 'The capital of France is', max_tokens: 2, temperature: 0 })).token_ids;
      // The second token of a stream traps inside the model's call (as an allocation that fails
      // would), leaving the Rust object borrowed.
      const next = e.model.next;
      let calls = 0;
      e.model.next = function () {
        return ++calls === 2 ? this.__testTrap(KEY) : next.call(this);
      };
      const chunks = [];
      try {
        for await (const ch of await e.completions.create({ prompt: 'Once upon a time', stream: true, max_tokens: 8, temperature: 0, ignore_eos: true })) chunks.push(ch);
        out.stream = 'no error';
      } catch (err) {
        out.stream = { name: err.name, code: err.code, trap: err.details && err.details.trap, chunks: chunks.length };
      }
      out.tokenize = await name(() => e.tokenize('Hi'));
      out.create = await name(() => e.completions.create({ prompt: 'Hi', max_tokens: 2 }));
      try {
        await e.unload();
        out.unload = 'no error';
      } catch (err) {
        out.unload = `${err.name}: ${err.message}`;
      }
      out.afterUnload = await name(() => e.tokenize('Hi'));
      const e2 = await gw.Engine.load(smol, { cache: false });
      out.instances = [e.instance, e2.instance];
      out.after = (await e2.completions.create({ prompt: 'The capital of France is', max_tokens: 2, temperature: 0 })).token_ids;
      out.tokenizeAfter = e2.tokenize('Hello world');
      await e2.unload();
      // The same in a worker whose engine traps on its second token (pages/trap-worker.js).
      const w = await gw.WorkerEngine.load(smol, { cache: false, workerUrl: '/tests/browser/pages/trap-worker.js' });
      try {
        for await (const ch of await w.completions.create({ prompt: 'Once upon a time', stream: true, max_tokens: 8, temperature: 0 })) void ch;
        out.workerStream = 'no error';
      } catch (err) {
        out.workerStream = { name: err.name, trap: err.details && err.details.trap };
      }
      out.workerTokenize = await name(() => w.tokenize('Hi'));
      try {
        await w.unload();
        out.workerUnload = 'no error';
      } catch (err) {
        out.workerUnload = `${err.name}: ${err.message}`;
      }
      return out;
    }, '/models/' + MODELS.smollm2);
    assert.equal(r.wrongKey, 'InvalidArgument', 'the test hook needs its key');
    assert.deepEqual(r.before, [7042, 30]);
    assert.equal(r.unload, 'no error', 'unload after a trap');
    assert.deepEqual(r.after, [7042, 30], 'the next load generates as before');
    assert.deepEqual(r.tokenizeAfter, [19556, 905]);
    assert.notEqual(r.instances[0], r.instances[1], 'a fresh WebAssembly instance');
    assert.deepEqual(r.stream, { name: 'InternalError', code: 'Internal', trap: true, chunks: 1 }, 'the stream fails with the trap after its first chunk');
    assert.equal(r.tokenize, 'InternalError', 'the trapped engine refuses calls');
    assert.equal(r.create, 'InternalError', 'the trapped engine refuses requests');
    assert.equal(r.afterUnload, 'InvalidStateError');
    assert.deepEqual(r.workerStream, { name: 'InternalError', trap: true }, 'in a worker: the trap reaches the page typed');
    assert.equal(r.workerTokenize, 'InternalError');
    assert.equal(r.workerUnload, 'no error', 'in a worker: unload after a trap');
  } finally {
    await browser.close();
  }
});

test('a context of 16: a 16-token prompt still gets a token, 17 is ContextFullError, max_tokens is capped to the room', async () => {
  const { browser, page } = await openPage();
  try {
    const r = await page.evaluate(async (smol) => {
      const e = await gw.Engine.load(smol, { cache: false, contextLength: 16 });
      const run = async (prompt, max_tokens) => {
        try {
          const c = await e.completions.create({ prompt, max_tokens, temperature: 0, ignore_eos: true });
          return { prompt: c.usage.prompt_tokens, completion: c.usage.completion_tokens, finish: c.choices[0].finish_reason };
        } catch (err) {
          return { error: err.name };
        }
      };
      // Prompts of 1..n words; their token counts (BOS included) come from the engine's usage.
      const words = (n) => ' a'.repeat(n);
      const byLength = {};
      for (let n = 1; n <= 16 && !(byLength[16] && byLength[10]); n++) {
        const c = await run(words(n), 1);
        if (c.prompt) byLength[c.prompt] ??= words(n);
      }
      const out = { context: e.info.contextLength, found: Object.keys(byLength) };
      out.full = await run(byLength[16], 8);
      out.over = await run(byLength[16] + ' a a', 8);
      out.room = await run(byLength[10], 100);
      out.after = await run('Hi', 2);
      await e.unload();
      return out;
    }, '/models/' + MODELS.smollm2);
    assert.equal(r.context, 16);
    assert.ok(r.found.includes('16') && r.found.includes('10'), `prompts of 10 and 16 tokens: found ${r.found}`);
    assert.deepEqual(r.full, { prompt: 16, completion: 1, finish: 'length' });
    assert.deepEqual(r.over, { error: 'ContextFullError' });
    assert.deepEqual(r.room, { prompt: 10, completion: 7, finish: 'length' });
    assert.equal(r.after.completion, 2, 'the engine answers afterwards');
  } finally {
    await browser.close();
  }
});

test('Gemma runs on a device with the default WebGPU limits; WASM memory stays under 64 MiB', async () => {
  const { browser, page } = await openPage();
  try {
    const r = await page.evaluate(async (file) => {
      const e = await gw.Engine.load('/models/' + file, { cache: false, defaultLimits: true });
      const out = await e.completions.create({ prompt: 'The capital of France is', max_tokens: 3, temperature: 0 });
      return { ids: out.token_ids, mem: e.wasmMemoryBytes() };
    }, MODELS.gemma3);
    const c = goldenCases('gemma3')[0];
    assert.deepEqual(r.ids, c.ids.slice(0, 3));
    assert.ok(r.mem < 64 * 1048576, `WASM memory ${(r.mem / 1048576).toFixed(1)} MiB`);
    console.log(`gemma3 with default limits: ids ${r.ids}; WASM memory ${(r.mem / 1048576).toFixed(1)} MiB`);
  } finally {
    await browser.close();
  }
});
