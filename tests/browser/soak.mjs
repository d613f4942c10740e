// The soak test's body, shared by soak.test.mjs (the page) and soak-worker.test.mjs (a worker):
// see soak.test.mjs for what it does and its targets.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { launchBrowser, newPage } from './harness.mjs';
import { start } from './server.mjs';

const REQUESTS = Number(process.env.SOAK_REQUESTS || 96);
const CYCLES = Number(process.env.SOAK_CYCLES || 6);
const MODEL = '/models/gen/llama3.gguf';

let srv;
let browser;
let page;
before(async () => {
  srv = await start();
  // --expose-gc: the heap is measured after a full collection, not whatever garbage is pending.
  browser = await launchBrowser({ args: ['--js-flags=--expose-gc', '--enable-precise-memory-info'] });
  page = await newPage(browser, srv.url + 'tests/browser/pages/engine.html');
  await page.waitForFunction(() => window.gwReady);
});
after(async () => {
  if (browser) await browser.close();
  if (srv) await srv.close();
});

/** Runs in the page: the soak on `host` ('Engine' or 'WorkerEngine'). */
async function soak({ host, url, requests, cycles }) {
  const MiB = 2 ** 20;
  const memory = async (e) => {
    globalThis.gc();
    await new Promise((r) => setTimeout(r, 0));
    globalThis.gc();
    return { wasm: await e.wasmMemoryBytes(), live: await e.wasmHeapBytes(), gpu: await e.gpuMemoryBytes(), heap: performance.memory.usedJSHeapSize };
  };
  const counts = { chat: 0, reused: 0, abort: 0, aborted: 0, break: 0, invalid: 0, invalidTyped: 0, greedy: 0, seeded: 0 };
  const failures = [];
  const fail = (m) => failures.length < 20 && failures.push(m);
  let refGreedy = null;
  let refSeeded = null;
  let e = await gw[host].load(url, { cache: false });

  async function one(i) {
    switch (i % 6) {
      case 0: {
        // A multi-turn chat of three turns in a row: each re-sends the conversation, whose
        // prefix is then in the KV cache.
        const convo = [];
        for (let turn = 0; turn < 3; turn++) {
          convo.push({ role: 'user', content: `turn ${turn} of ${i}: tell me about the number ${i % 97}` });
          const r = await e.chat.completions.create({ messages: convo, max_tokens: 4, temperature: 0 });
          convo.push({ role: 'assistant', content: r.choices[0].message.content });
          counts.chat++;
          if (turn > 0) counts.reused += r.usage.reused_prompt_tokens > 0 ? 1 : 0;
        }
        break;
      }
      case 1: {
        const ac = new AbortController();
        const s = await e.completions.create({ prompt: `Abort ${i}`, stream: true, max_tokens: 32, ignore_eos: true, signal: ac.signal });
        let n = 0;
        let aborted = false;
        try {
          for await (const c of s) {
            if (++n === 2) ac.abort();
            aborted ||= c.choices[0].finish_reason === 'abort';
          }
        } catch (err) {
          if (err.code === 'Aborted') aborted = true;
          else fail(`abort ${i}: ${err.name} ${err.message}`);
        }
        counts.abort++;
        counts.aborted += aborted ? 1 : 0;
        break;
      }
      case 2: {
        const s = await e.completions.create({ prompt: `Break ${i}`, stream: true, max_tokens: 32, ignore_eos: true });
        for await (const c of s) {
          void c;
          break;
        }
        counts.break++;
        break;
      }
      case 3: {
        const bad = [{ top_p: 2 }, { max_tokens: -1 }, { seed: 1.5 }, { temperature: 'hot' }][i % 4];
        try {
          await e.completions.create({ prompt: 'x', ...bad });
          fail(`invalid ${JSON.stringify(bad)} was accepted`);
        } catch (err) {
          counts.invalid++;
          if (err.code === 'InvalidArgument') counts.invalidTyped++;
          else fail(`invalid ${JSON.stringify(bad)}: ${err.name} ${err.code}`);
        }
        break;
      }
      case 4: {
        const r = await e.completions.create({ prompt: 'The same prompt every time', max_tokens: 6, temperature: 0, ignore_eos: true });
        refGreedy ??= r.token_ids;
        if (JSON.stringify(r.token_ids) !== JSON.stringify(refGreedy)) fail(`greedy ${i}: ${r.token_ids} != ${refGreedy}`);
        counts.greedy++;
        break;
      }
      case 5: {
        const r = await e.completions.create({ prompt: 'A seeded draw', max_tokens: 6, temperature: 1, seed: 42, ignore_eos: true });
        refSeeded ??= r.token_ids;
        if (JSON.stringify(r.token_ids) !== JSON.stringify(refSeeded)) fail(`seeded ${i}: ${r.token_ids} != ${refSeeded}`);
        counts.seeded++;
        break;
      }
    }
  }

  const t0 = performance.now();
  // Warm-up: every kind of request twice, then three loads. WASM memory only grows (a page at a
  // time), and its high-water mark follows fragmentation as well as what is live: a load builds
  // several 1.06 MiB hash tables (the tokenizer's), and one that finds no hole left by the last
  // load's raises the mark by that much, at most once or twice before it settles (40 loads: one
  // rise, at the first). Leaks are measured on the live heap bytes instead (`wasmHeapBytes`).
  for (let i = 0; i < 12; i++) await one(i);
  for (let c = 0; c < 3; c++) {
    await e.unload();
    e = await gw[host].load(url, { cache: false });
  }
  await one(4); // a model's first request builds its pipelines: part of the warm-up
  const start = await memory(e);
  // WASM memory every 24 requests and after each load (it only grows: a page at a time).
  const trace = [];
  for (let i = 12; i < requests; i++) {
    await one(i);
    if (i % 24 === 11) trace.push(`${await e.wasmMemoryBytes() / MiB} MiB, live ${await e.wasmHeapBytes()}`);
  }
  const afterRequests = await memory(e);
  const loads = [];
  for (let c = 0; c < cycles; c++) {
    await e.unload();
    e = await gw[host].load(url, { cache: false });
    await one(4 + 6 * c); // a greedy request on each new engine: the same ids
    loads.push(await memory(e));
    trace.push(`load ${loads[loads.length - 1].wasm / MiB} MiB, live ${loads[loads.length - 1].live}`);
  }
  await e.unload();
  const gpuAfterUnload = host === 'Engine' ? gw.Engine.prototype.gpuMemoryBytes.call(null) : null;
  const last = loads.length ? loads[loads.length - 1] : afterRequests;
  return {
    ms: performance.now() - t0,
    trace,
    counts,
    failures,
    start,
    afterRequests,
    last,
    gpuAfterUnload,
    growth: {
      // Over the requests; then over the second half of the loads, against the first half's (a
      // load's high-water mark can rise once or twice before it settles: fragmentation, not a leak).
      wasmMiB: (afterRequests.wasm - start.wasm) / MiB,
      wasmLoadsMiB: loads.length < 2 ? 0 : (Math.max(...loads.slice(loads.length >> 1).map((l) => l.wasm)) - Math.max(start.wasm, ...loads.slice(0, loads.length >> 1).map((l) => l.wasm))) / MiB,
      liveKiB: (afterRequests.live - start.live) / 1024,
      // Per load, after the first (whose first request builds the model's pipelines).
      liveBytesPerLoad: loads.length < 2 ? 0 : (loads[loads.length - 1].live - loads[0].live) / (loads.length - 1),
      heapMiB: (Math.max(afterRequests.heap, last.heap) - start.heap) / MiB,
      gpuBytes: [afterRequests.gpu - start.gpu, ...loads.map((l) => l.gpu - start.gpu)],
    },
  };
}

/** Registers the soak test of `host` ('Engine' or 'WorkerEngine'). */
export function soakTest(host) {
  test(`${host}: ${REQUESTS} mixed requests and ${CYCLES} load/unload cycles leave memory flat`, async () => {
    const r = await page.evaluate(soak, { host, url: MODEL, requests: REQUESTS, cycles: CYCLES });
    console.log(`${host}: ${(r.ms / 1000).toFixed(1)} s;`, JSON.stringify({ counts: r.counts, growth: r.growth, start: r.start, wasmMiB: r.trace }));
    assert.deepEqual(r.failures, []);
    const n = REQUESTS - 12;
    assert.equal(r.counts.reused, (r.counts.chat / 3) * 2, 'every later turn of a chat reused the KV cache');
    assert.equal(r.counts.aborted, r.counts.abort, 'every abort ended the stream as aborted');
    assert.equal(r.counts.invalidTyped, r.counts.invalid, 'invalid requests are InvalidArgumentErrors');
    assert.ok(r.counts.chat + r.counts.abort + r.counts.break + r.counts.invalid + r.counts.greedy + r.counts.seeded >= n);
    assert.ok(r.growth.wasmMiB <= 1, `WASM memory grew by ${r.growth.wasmMiB} MiB over the requests`);
    // Fragmentation, not leaks (see the warm-up): one of a load's 1.06 MiB tables placed anew.
    assert.ok(r.growth.wasmLoadsMiB <= 2.25, `WASM memory grew by ${r.growth.wasmLoadsMiB} MiB over the later loads`);
    // The live heap: over the requests it creeps as new words are seen (the tokenizers crate caches
    // up to 10,000 words: 36 KB over 168 varied requests); per load it grows by 0.4-1 KB, part of
    // it the two closures wgpu's WebGPU backend forgets for every device it makes.
    assert.ok(r.growth.liveKiB <= 256, `the live WASM heap grew by ${r.growth.liveKiB} KiB over the requests`);
    assert.ok(r.growth.liveBytesPerLoad <= 2048, `the live WASM heap grew by ${r.growth.liveBytesPerLoad} bytes per load`);
    assert.ok(r.growth.heapMiB <= 16, `the JS heap grew by ${r.growth.heapMiB} MiB`);
    assert.ok(r.start.gpu > 0, 'live GPU bytes are counted');
    assert.deepEqual(r.growth.gpuBytes, r.growth.gpuBytes.map(() => 0), 'live GPU bytes are the same after requests and after every load');
    if (r.gpuAfterUnload !== null) assert.equal(r.gpuAfterUnload, 0, 'no GPU buffer outlives unload()');
  });
}
