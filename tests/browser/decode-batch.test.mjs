// Several decode steps per GPU round trip (crate/src/engine/batch.rs) in Chromium, as
// tests/common/batch.rs does natively. The oracle is K = 1 (what engine.test.mjs and arch.test.mjs
// check against llama.cpp): for both default models and every generated architecture, a fixed K and
// the adaptive K must give exactly its token ids, finish reasons and reused prompt tokens, greedy and
// seeded at temperature 1, over a script of requests: to max_tokens, ended by a stop string inside a
// batch, and a request after it that reuses the cache. SmolLM2 also runs in a worker. And an abort
// takes effect within 100 ms with the adaptive K, on the generated Llama 3 and on SmolLM2. The generated architectures: decode-batch-archs.test.mjs.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { launchBrowser, newPage } from './harness.mjs';
import { start } from './server.mjs';
import { goldenCases, MODELS } from './golden.mjs';
import { compareK } from './decode-batch.mjs';

const ABORT_MS = 100;

let srv;
let browser;
let page;
before(async () => {
  srv = await start();
  browser = await launchBrowser();
  page = await newPage(browser, srv.url + 'tests/browser/pages/engine.html');
  await page.waitForFunction(() => window.gwReady);
});
after(async () => {
  if (browser) await browser.close();
  if (srv) await srv.close();
});

const prompts = (key) => goldenCases(key).map((c) => c.prompt);

// K = 4: a 12-token request ends inside its third batch, and a stop string inside some batch.
for (const [key, host] of [['smollm2', 'Engine'], ['smollm2', 'WorkerEngine'], ['gemma3', 'Engine']]) {
  test(`${key} (${host}): K = 4 gives the ids of K = 1`, async () => {
    const n = await compareK(page, { host, url: '/models/' + MODELS[key], prompts: prompts(key), ks: [4], maxTokens: 12, what: `${key} ${host}` });
    console.log(`${key} ${host}: ${n} requests with K = 4 equal K = 1's`);
  });
}

// On the generated Llama 3 model (a few ms a step on SwiftShader, so K grows) the engine itself
// stops within the bound. SmolLM2's steps take 60 ms to over a second on this software adapter:
// there the stream gives up waiting for the step in flight after its 50 ms grace (stream.js).
test('abort takes effect within 100 ms with the adaptive K (page and worker)', async () => {
  const r = await page.evaluate(async (files) => {
    const out = [];
    for (const [file, host] of files) {
      const e = await gw[host].load(file, { cache: false });
      const lat = [];
      let k = 0;
      let stepMs = 0;
      try {
        // The adaptive K of a free run this long (the usage reports the most steps per round trip).
        const u = (await e.completions.create({ prompt: 'Once upon a time', max_tokens: 48, temperature: 0, ignore_eos: true })).usage;
        k = u.decode_k;
        stepMs = 1000 / u.decode_tokens_per_second;
        for (const after of [8, 20, 33]) {
          const ac = new AbortController();
          let n = 0;
          let t = 0;
          try {
            const stream = await e.completions.create({ prompt: 'Once upon a time', stream: true, max_tokens: 64, temperature: 0, ignore_eos: true, signal: ac.signal });
            for await (const ch of stream) {
              if (ch.choices[0].finish_reason === null && ++n === after) {
                t = performance.now();
                ac.abort();
              }
            }
          } catch (err) {
            if (!(err instanceof gw.AbortError)) throw err;
          }
          lat.push(performance.now() - t);
        }
      } finally {
        await e.unload();
      }
      out.push({ file, host, lat, k, stepMs });
    }
    return out;
  }, [['/models/gen/llama3.gguf', 'Engine'], ['/models/gen/llama3.gguf', 'WorkerEngine'], ['/models/' + MODELS.smollm2, 'Engine'], ['/models/' + MODELS.smollm2, 'WorkerEngine']]);
  for (const { file, host, lat, k, stepMs } of r) {
    const what = `${file} (${host})`;
    console.log(`${what}: abort latencies ${lat.map((x) => x.toFixed(1)).join(', ')} ms at an adaptive K up to ${k}, ${stepMs.toFixed(1)} ms per token`);
    if (file.includes('llama3')) assert.ok(k > 1, `${what}: the adaptive K grew (${k})`);
    assert.ok(Math.max(...lat) <= ABORT_MS, `${what}: an abort took ${Math.max(...lat).toFixed(1)} ms (limit ${ABORT_MS})`);
  }
});

test('the decodeBatch load option fixes K for every request, in the page and in a worker; a bad one is refused; decode_ahead: false starts no batch ahead, nor does a CPU adapter by default', async () => {
  const r = await page.evaluate(async () => {
    const out = {};
    for (const host of ['Engine', 'WorkerEngine']) {
      const e = await gw[host].load('/models/gen/llama3.gguf', { cache: false, decodeBatch: 4 });
      try {
        const fixed = await e.completions.create({ prompt: 'Once upon a time', max_tokens: 12, temperature: 0, ignore_eos: true, decode_ahead: true });
        const byDefault = await e.completions.create({ prompt: 'Once upon a time', max_tokens: 12, temperature: 0, ignore_eos: true });
        const one = await e.completions.create({ prompt: 'Once upon a time', max_tokens: 12, temperature: 0, ignore_eos: true, decode_k: 1 });
        const inTurn = await e.completions.create({ prompt: 'Once upon a time', max_tokens: 12, temperature: 0, ignore_eos: true, decode_ahead: false });
        out[host] = { info: e.info.decodeBatch, k: fixed.usage.decode_k, ids: fixed.token_ids, k1: one.usage.decode_k, ids1: one.token_ids };
        out[host].ahead = [fixed.usage.decode_batches_ahead, inTurn.usage.decode_batches_ahead, inTurn.usage.decode_k];
        out[host].byDefault = { ids: byDefault.token_ids, ahead: byDefault.usage.decode_batches_ahead, adapter: e.info.adapter };
        out[host].idsInTurn = inTurn.token_ids;
      } finally {
        await e.unload();
      }
      try {
        await gw[host].load('/models/gen/llama3.gguf', { cache: false, decodeBatch: 0 });
        out[host].bad = 'loaded';
      } catch (err) {
        out[host].bad = err instanceof gw.InvalidArgumentError ? 'InvalidArgumentError' : String(err);
      }
    }
    return out;
  });
  for (const [host, o] of Object.entries(r)) {
    assert.equal(o.info, 4, `${host}: engine.info.decodeBatch`);
    assert.deepEqual([o.k, o.k1], [4, 1], `${host}: usage.decode_k with the option, and with decode_k: 1 in the request`);
    assert.deepEqual(o.ids, o.ids1, `${host}: the same ids`);
    assert.deepEqual(o.idsInTurn, o.ids1, `${host}: the same ids without batches ahead`);
    assert.ok(o.ahead[0] > 0, `${host}: K = 4 took batches over from ahead (${o.ahead[0]})`);
    assert.deepEqual(o.ahead.slice(1), [0, 4], `${host}: decode_ahead: false, K = 4 and no batch ahead`);
    // Not said: nothing started ahead on a CPU adapter (this machine's SwiftShader), the same ids.
    assert.match(o.byDefault.adapter, /Cpu/, `${host}: the adapter`);
    assert.equal(o.byDefault.ahead, 0, `${host}: decode_ahead unset on a CPU adapter started batches ahead`);
    assert.deepEqual(o.byDefault.ids, o.ids1, `${host}: the same ids by default`);
    assert.equal(o.bad, 'InvalidArgumentError', `${host}: decodeBatch: 0`);
  }
});
