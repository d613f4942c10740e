// The CPU path (`backend: 'cpu'`) in Chromium: llama.cpp's greedy ids for both default models
// (golden.mjs) in the page and in a worker, on one thread (a page that is not cross-origin isolated)
// and on two (an isolated page: the threaded build and its worker pool); `auto` choosing it on this
// machine's SwiftShader (a software adapter); constrained decoding on it; a model too big for
// wasm32 refused before its weights are downloaded; and Firefox ESR running it (simd128, threads).
// The generated architectures on the CPU path are in cpu-arch.test.mjs.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { launchBrowser, newPage } from './harness.mjs';
import { start } from './server.mjs';
import { MODELS } from './golden.mjs';
import { checkGreedyIds } from './engine-cases.mjs';
import { bigModel } from './big-model.mjs';

let plain; // no COOP/COEP: not cross-origin isolated, one thread
let isolated;
let browser;
let plainPage;
let isolatedPage;
before(async () => {
  plain = await start({ coopCoep: false });
  isolated = await start();
  browser = await launchBrowser();
  plainPage = await newPage(browser, plain.url + 'tests/browser/pages/engine.html');
  await plainPage.waitForFunction(() => window.gwReady);
  isolatedPage = await newPage(browser, isolated.url + 'tests/browser/pages/engine.html');
  await isolatedPage.waitForFunction(() => window.gwReady);
  assert.equal(await plainPage.evaluate(() => crossOriginIsolated), false);
  assert.equal(await isolatedPage.evaluate(() => crossOriginIsolated), true);
});
after(async () => {
  if (browser) await browser.close();
  if (plain) await plain.close();
  if (isolated) await isolated.close();
});

for (const [key, file] of Object.entries(MODELS)) {
  test(`${key} on the CPU path, one thread: llama.cpp's greedy ids, page and worker`, async () => {
    const infos = await checkGreedyIds(plainPage, key, file, { label: 'cpu, 1 thread: ', load: { backend: 'cpu' } });
    for (const [host, info] of Object.entries(infos)) {
      assert.equal(info.backend, 'cpu', host);
      assert.equal(info.threads, 1, `${host}: one thread where the page is not cross-origin isolated`);
      assert.equal(info.simd, 'wasm simd128', host);
    }
  });
  test(`${key} on the CPU path, two threads (cross-origin isolated): llama.cpp's greedy ids, page and worker`, async () => {
    const infos = await checkGreedyIds(isolatedPage, key, file, { label: 'cpu, 2 threads: ', load: { backend: 'cpu', threads: 2 } });
    for (const [host, info] of Object.entries(infos)) {
      assert.equal(info.backend, 'cpu', host);
      assert.equal(info.threads, 2, host);
      // Chromium has relaxed SIMD: the threaded core is its build (one build per page, so the ids
      // above are the relaxed kernels'); the one-thread core is the plain simd128 build.
      assert.equal(info.simd, 'wasm simd128, relaxed-simd', host);
    }
  });
}

test('WebAssembly memory on the CPU path: the weights plus at most 64 MiB (context 1024, a fresh page per model; one thread, the threaded build and its relaxed-SIMD twin), the same ids from all three', async () => {
  // The threaded core is the relaxed-SIMD build where the browser has it (Chromium does); the
  // plain threaded build, for browsers without, is loaded here by its URL.
  const PLAIN_THREADS = '/pkg/wasm-threads/gguf_web_bg.wasm';
  for (const file of Object.values(MODELS)) {
    const ids = [];
    for (const [srv, threads, threadsWasmUrl] of [[plain, 1], [isolated, 2], [isolated, 2, PLAIN_THREADS]]) {
      const page = await newPage(browser, srv.url + 'tests/browser/pages/engine.html');
      await page.waitForFunction(() => window.gwReady);
      const r = await page.evaluate(
        async ({ file, threads, threadsWasmUrl }) => {
          const e = await gw.Engine.load('/models/' + file, { cache: false, backend: 'cpu', contextLength: 1024, threads, threadsWasmUrl });
          const c = await e.completions.create({ prompt: 'The capital of France is', max_tokens: 8, temperature: 0 });
          const out = { wasm: e.wasmMemoryBytes(), weights: e.info.weightsBytes, threads: e.info.threads, simd: e.info.simd, ids: c.token_ids };
          await e.unload();
          return out;
        },
        { file, threads, threadsWasmUrl },
      );
      await page.close();
      const over = (r.wasm - r.weights) / 2 ** 20;
      console.log(`${file}, ${r.threads} thread(s), ${r.simd}: WASM ${(r.wasm / 2 ** 20).toFixed(1)} MiB, weights ${(r.weights / 2 ** 20).toFixed(1)} MiB, over by ${over.toFixed(1)} MiB`);
      assert.equal(r.threads, threads);
      assert.equal(r.simd, threads > 1 && !threadsWasmUrl ? 'wasm simd128, relaxed-simd' : 'wasm simd128');
      assert.ok(r.wasm >= r.weights, 'the weights are in WebAssembly memory');
      assert.ok(over <= 64, `${file}, ${threads} thread(s): ${over.toFixed(1)} MiB over the weights`);
      ids.push(r.ids);
    }
    // The relaxed dot product is exact on the values it is given (unsigned 7-bit weights).
    assert.deepEqual(ids[1], ids[0], `${file}: the relaxed-SIMD threaded build's ids`);
    assert.deepEqual(ids[2], ids[0], `${file}: the plain threaded build's ids`);
  }
});

test("auto picks the CPU path on SwiftShader (a software adapter), WebGPU when asked for", async () => {
  const r = await plainPage.evaluate(async (file) => {
    const adapter = await navigator.gpu.requestAdapter();
    const info = adapter.info;
    const auto = await gw.pkg.Engine.load('/models/' + file, { cache: false, backend: 'auto' });
    const webgpu = await gw.pkg.Engine.load('/models/' + file, { cache: false, backend: 'webgpu' });
    const out = { adapter: [info.vendor, info.architecture, info.description].join(' '), auto: auto.info, webgpu: webgpu.info };
    await auto.unload();
    await webgpu.unload();
    return out;
  }, MODELS.smollm2);
  // What the browser itself says of its adapter: this machine has no GPU, Chromium's is SwiftShader.
  assert.match(r.adapter, /swiftshader/i, 'the adapter under test is SwiftShader');
  assert.equal(r.auto.backend, 'cpu');
  assert.match(r.auto.backendReason, /software adapter/);
  assert.equal(r.webgpu.backend, 'webgpu');
});

test('constrained decoding (response_format) on the CPU path: the output is JSON of the schema', async () => {
  const schema = {
    type: 'object',
    // Bounded, as the README's example: at temperature 1 an unbounded string or integer can run
    // past max_tokens (one seed wrote prose into "city" after a change in float rounding).
    properties: { city: { type: 'string', maxLength: 40 }, population: { type: 'integer', minimum: 0, maximum: 1e10 } },
    required: ['city', 'population'],
    additionalProperties: false,
  };
  const r = await isolatedPage.evaluate(
    async ({ file, schema }) => {
      const e = await gw.Engine.load('/models/' + file, { cache: false, backend: 'cpu', threads: 2 });
      const messages = [{ role: 'user', content: 'Name the largest city of France and its population.' }];
      const free = await e.chat.completions.create({ messages, max_tokens: 40, temperature: 0 });
      const outs = [];
      for (const seed of [1, 2, 3]) {
        const c = await e.chat.completions.create({
          messages,
          max_tokens: 60,
          temperature: 1,
          seed,
          response_format: { type: 'json_schema', json_schema: { name: 'city', schema } },
        });
        outs.push({ text: c.choices[0].message.content, finish: c.choices[0].finish_reason });
      }
      await e.unload();
      return { free: free.choices[0].message.content, outs };
    },
    { file: MODELS.smollm2, schema },
  );
  // Without the constraint the model answers in prose: the check below can fail.
  assert.throws(() => JSON.parse(r.free), undefined, `unconstrained output is not JSON: ${r.free}`);
  for (const { text, finish } of r.outs) {
    assert.equal(finish, 'stop', `a complete object: ${text}`);
    const v = JSON.parse(text);
    assert.deepEqual(Object.keys(v).sort(), ['city', 'population'], text);
    assert.equal(typeof v.city, 'string', text);
    assert.ok(Number.isInteger(v.population), text);
  }
});

test("Firefox ESR: the CPU path (simd128; two threads on an isolated page) gives llama.cpp's ids", async () => {
  const firefox = await launchBrowser({ browser: 'firefox' });
  try {
    for (const [srv, threads] of [[plain, 1], [isolated, 2]]) {
      const page = await newPage(firefox, srv.url + 'tests/browser/pages/engine.html');
      await page.waitForFunction(() => window.gwReady);
      const load = threads > 1 ? { backend: 'cpu', threads } : { backend: 'cpu' };
      const infos = await checkGreedyIds(page, 'smollm2', MODELS.smollm2, { label: `firefox cpu, ${threads} thread(s): `, load });
      for (const info of Object.values(infos)) {
        assert.equal(info.threads, threads);
        console.log(`firefox cpu, ${threads} thread(s): ${info.simd}`);
      }
    }
  } finally {
    await firefox.close();
  }
});

test('a model too big for wasm32 is refused before its weights are downloaded (AdapterTooSmallError)', async () => {
  const big = bigModel();
  plain.log.reset();
  const r = await plainPage.evaluate(async (url) => {
    try {
      await gw.Engine.load(url, { cache: false, backend: 'cpu' });
      return { ok: true };
    } catch (e) {
      return { name: e.name, message: e.message };
    }
  }, big.url);
  assert.equal(r.name, 'AdapterTooSmallError', JSON.stringify(r));
  assert.match(r.message, /4 GiB/);
  // Only the header was read: a few MiB at most of a file of several GiB.
  const sent = plain.log.bytes(big.name);
  assert.ok(sent < 4 << 20, `${sent} bytes sent of ${big.bytes}`);
  assert.ok(big.bytes > 4 * 2 ** 30, 'the model is over 4 GiB');
});
