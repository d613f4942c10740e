// Test bodies shared by engine.test.mjs (Chromium, the main runner) and firefox.test.mjs (Firefox): each
// takes a page of tests/browser/pages/engine.html (window.gwReady) and asserts; the test files name them.
import assert from 'node:assert/strict';
import { goldenCases } from './golden.mjs';

/**
 * llama.cpp's greedy ids for model `key` (golden.mjs MODELS) in the page and in a worker, and the
 * teacher-forced argmax; `load`: more load options (the backend). Resolves to each host's `info`.
 */
export async function checkGreedyIds(page, key, file, { label = '', load = {} } = {}) {
  const infos = {};
  const c = goldenCases(key)[0];
  for (const host of ['Engine', 'WorkerEngine']) {
    const r = await page.evaluate(
      async ({ host, file, prompt, n, seq, load }) => {
        const e = await gw[host].load('/models/' + file, { cache: false, ...load });
        const out = await e.completions.create({ prompt, max_tokens: n, temperature: 0, ignore_eos: true });
        // Teacher-forced over the prompt and llama.cpp's ids: the argmax at every position.
        const top = await e.topLogits(seq, { top: 1 });
        await e.unload();
        return { ids: out.token_ids, promptTokens: out.usage.prompt_tokens, argmax: top.map((row) => row[0].id), info: e.info };
      },
      { host, file, prompt: c.prompt, n: c.nSure, seq: [...c.prompt_ids, ...c.ids.slice(0, -1)], load },
    );
    infos[host] = r.info;
    assert.equal(r.promptTokens, c.prompt_ids.length, `${host}: prompt tokens`);
    assert.deepEqual(r.ids, c.ids.slice(0, c.nSure), `${host}: ids over the ${c.nSure} sure steps`);
    const p = c.prompt_ids.length;
    c.ids.forEach((id, i) => {
      if (c.sure[i]) assert.equal(r.argmax[p - 1 + i], id, `${host}: teacher-forced argmax at step ${i}`);
    });
    console.log(`${label}${key} ${host}: ${c.nSure} greedy ids equal llama.cpp's`);
  }
  return infos;
}

/** Loads SmolLM2 (`file`) as window.engine and window.workerEngine, both in window.hosts. */
export async function loadHosts(page, file) {
  await page.evaluate(async (file) => {
    window.engine = await gw.Engine.load('/models/' + file, { cache: false });
    window.workerEngine = await gw.WorkerEngine.load('/models/' + file, { cache: false });
    window.hosts = { Engine: window.engine, WorkerEngine: window.workerEngine };
  }, file);
}

/** Streaming delivers chunks as tokens are generated, usage on the last (window.engine). */
export async function checkStreaming(page) {
  const r = await page.evaluate(async () => {
    const times = [];
    const chunks = [];
    const stream = await engine.chat.completions.create({ messages: [{ role: 'user', content: 'Count to five.' }], stream: true, max_tokens: 6, temperature: 0 });
    for await (const ch of stream) {
      times.push(performance.now());
      chunks.push(ch);
    }
    return { times, chunks };
  });
  assert.ok(r.chunks.length >= 2, 'several chunks');
  const last = r.chunks.at(-1);
  assert.ok(last.usage && last.usage.completion_tokens > 0 && last.usage.prompt_tokens > 0);
  assert.ok(last.usage.decode_tokens_per_second >= 0 && last.usage.time_to_first_token_ms > 0);
  assert.ok(r.chunks.slice(0, -1).every((c) => c.choices[0].finish_reason === null));
  // Chunks arrive spread over the generation, not all at the end.
  assert.ok(r.times.at(-1) - r.times[0] > 0, 'chunks arrive over time');
  assert.equal(r.chunks[0].object, 'chat.completion.chunk');
}

/** Abort stops within one token and the engine answers the next request (window.hosts[host]). */
export async function checkAbort(page, host) {
  const r = await page.evaluate(async (host) => {
    const engine = hosts[host];
    const ac = new AbortController();
    let n = 0;
    let error = null;
    try {
      const stream = await engine.completions.create({ prompt: 'Once upon a time', stream: true, max_tokens: 40, temperature: 0, signal: ac.signal, ignore_eos: true });
      for await (const ch of stream) {
        if (ch.choices[0].finish_reason === null) n++;
        if (n === 2) ac.abort();
      }
    } catch (e) {
      error = { name: e.name, isAbort: e instanceof gw.AbortError };
    }
    const next = await engine.completions.create({ prompt: 'The capital of France is', max_tokens: 3, temperature: 0 });
    return { n, error, next: next.choices[0].text, nextIds: next.token_ids.length };
  }, host);
  assert.ok(r.error && r.error.isAbort, `an AbortError, got ${JSON.stringify(r.error)}`);
  assert.ok(r.n <= 3, `at most one token after the abort (${r.n} tokens streamed)`);
  assert.equal(r.nextIds, 3, 'the next request runs');
}
