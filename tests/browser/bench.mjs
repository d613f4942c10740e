// The browser benchmark: gguf-web in headless Chromium (WebGPU on SwiftShader) against wllama in the
// same browser and against the native engine on the same SwiftShader; and gguf-web in Debian's Firefox
// (WebGPU on lavapipe) against the native engine on lavapipe.
//
//   node tests/browser/bench.mjs [--model PATH] [--n-predict 128] [--browsers chromium,firefox]
//                                [--skip-wllama] [--skip-native] [--no-nudge] [--rounds N] [--out FILE]
//
// --rounds N: each browser N times, each time followed by the native runs it is compared with; the
// ratios are the medians over the rounds and `perRound` lists each round's figures and ratios (the
// machines these run on are shared, and one run's ratio can be off by half).
// --no-nudge: the read-back waits without keeping the queue moving (GpuContext::nudge_until_mapped),
// to measure what it buys. Per browser: `roundTripMs`, the median of 30 submits and maps of a 16-byte
// buffer (plain, and with the core's wait: empty submits between short sleeps), and `hostMsPerToken`,
// the page thread's time per decoded token outside the read-back waits (decode wall time per token
// minus the time from each mapAsync call to its resolution: the JS and wasm work of recording and
// submitting a step).
//
// gguf-web: a cold load (download into the OPFS cache) timed to the first token, a warm load (from the
// cache) timed to the first token, then the prompt of tests/browser/bench-prompt.txt with `n-predict` greedy tokens (EOS ignored):
// prefill and decode tokens/s as the engine reports them (`usage`), time to first token.
// wllama: tests/browser/bench-wllama.mjs at 1 and 2 threads, same prompt and token count.
// native: `gguf-web bench` with VK_ICD_FILENAMES pointing at Chromium's SwiftShader (next to Chromium) or
// at Mesa's lavapipe (next to Firefox), same token counts.
// Prints one JSON object with the ratios: browser decode ÷ native decode, and gguf-web ÷ wllama's best
// (Chromium); the Firefox figures under `firefox`. Where the browser's adapter has no subgroups and
// the native one has (Firefox on lavapipe), `nativeSameKernels` is the native engine with
// GGUF_WEB_NO_SUBGROUPS=1, the kernel shapes the browser runs, and `browserOverNativeSameKernels*`
// the ratios against it. Decode runs at the adaptive K (decode steps per GPU
// round trip; `decodeK` is the most it used) with the engine's default for starting each batch
// ahead (`decodeAheadByDefault`: on with a GPU, off on a CPU adapter), once more at K = 1 in the same
// page (`decodeTokSK1`, `decodeKRatio`), and at the adaptive K with and without starting each batch
// ahead (`decodeTokSAhead`, `decodeTokSNoAhead`, `decodeAheadRatio`: what starting ahead buys;
// `decodeBatchesAhead` counts the batches taken over); the native bench reports them likewise.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { launchBrowser, newPage, REPO_ROOT } from './harness.mjs';
import { start } from './server.mjs';

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : def;
};
const model = opt('--model', 'models/SmolLM2-135M-Instruct.Q4_1.gguf');
const nPredict = Number(opt('--n-predict', '128'));
const out = opt('--out', null);
const browsers = opt('--browsers', 'chromium,firefox').split(',');
const nudge = !args.includes('--no-nudge');
const rounds = Math.max(1, Math.floor(Number(opt('--rounds', '1'))) || 1);
const ICD = { chromium: '/usr/lib/chromium/vk_swiftshader_icd.json', firefox: '/usr/share/vulkan/icd.d/lvp_icd.x86_64.json' };
const prompt = fs.readFileSync(path.join(REPO_ROOT, 'tests/browser/bench-prompt.txt'), 'utf8').trimEnd();
const r2 = (x) => (x == null ? null : Math.round(x * 100) / 100);

/** Median ms of 30 queue round trips (submit a copy, map 16 bytes): plain, and with the core's wait. */
async function roundTrips(page) {
  return page.evaluate(async () => {
    const d = await (await navigator.gpu.requestAdapter()).requestDevice();
    const buf = d.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const src = d.createBuffer({ size: 16, usage: GPUBufferUsage.COPY_SRC });
    const median = async (wait) => {
      const t = [];
      for (let i = 0; i < 30; i++) {
        const t0 = performance.now();
        const enc = d.createCommandEncoder();
        enc.copyBufferToBuffer(src, 0, buf, 0, 16);
        d.queue.submit([enc.finish()]);
        await wait(buf.mapAsync(GPUMapMode.READ));
        buf.unmap();
        t.push(performance.now() - t0);
      }
      return t.sort((a, b) => a - b)[15];
    };
    const plain = await median((p) => p);
    // As GpuContext::nudge_until_mapped: race the map against a sleep of 0.5, 1, 2, 2, ... ms, and
    // submit an empty command list each time the sleep wins.
    const nudged = await median(async (p) => {
      let done = false;
      p.then(() => (done = true));
      for (let ms = 0.5; ; ms = Math.min(2 * ms, 2)) {
        await Promise.race([p, globalThis.__ggufWebYield(ms)]);
        if (done) return;
        d.queue.submit([]);
      }
    });
    d.destroy();
    return { plain, nudged };
  });
}

async function benchOurs(which) {
  const srv = await start();
  const browser = await launchBrowser({ browser: which });
  try {
    const page = await newPage(browser, srv.url + 'tests/browser/pages/engine.html', { log: null });
    await page.waitForFunction(() => window.gwReady);
    const roundTripMs = await roundTrips(page);
    const r = await page.evaluate(
      async ({ url, prompt, nPredict, nudge }) => {
        if (!nudge) delete globalThis.__ggufWebYield;
        // Time from each mapAsync call to its resolution (the read-back waits).
        const mapAsync = GPUBuffer.prototype.mapAsync;
        window.__mapWaitMs = 0;
        GPUBuffer.prototype.mapAsync = function (...a) {
          const t = performance.now();
          return mapAsync.apply(this, a).finally(() => (window.__mapWaitMs += performance.now() - t));
        };
        let t0 = performance.now();
        let e = await gw.Engine.load(url);
        const coldLoadMs = performance.now() - t0;
        // A first token on the cold engine too; then a prefill and a drawn token, which wait for
        // the rest of its pipelines (the browser compiles them in the background), so that none of
        // the cold engine's work is left running during the warm load.
        await e.completions.create({ prompt: 'Hello', max_tokens: 1, temperature: 0 });
        const coldToFirstTokenMs = performance.now() - t0;
        await e.completions.create({ prompt: 'Hello there, how are you', max_tokens: 1, temperature: 1, seed: 1 });
        await e.unload();
        t0 = performance.now();
        e = await gw.Engine.load(url);
        const warmLoadMs = performance.now() - t0;
        const first = await e.completions.create({ prompt: 'Hello', max_tokens: 1, temperature: 0 });
        const warmToFirstTokenMs = performance.now() - t0;
        window.__mapWaitMs = 0;
        const tr = performance.now();
        const r = await e.completions.create({ prompt, max_tokens: nPredict, temperature: 0, ignore_eos: true });
        const wallMs = performance.now() - tr;
        const waitMs = window.__mapWaitMs;
        const decodeMs = (r.usage.completion_tokens - 1) / r.usage.decode_tokens_per_second * 1000;
        // The same at one decode step per round trip (the speed before issue 18).
        const k1 = await e.completions.create({ prompt, max_tokens: nPredict, temperature: 0, ignore_eos: true, decode_k: 1 });
        // The engine's K again, each batch recorded after the last one is read (not started ahead),
        // and each starting the next one ahead (the default with a GPU, not on a CPU adapter).
        const noAhead = await e.completions.create({ prompt, max_tokens: nPredict, temperature: 0, ignore_eos: true, decode_ahead: false });
        const ahead = await e.completions.create({ prompt, max_tokens: nPredict, temperature: 0, ignore_eos: true, decode_ahead: true });
        // The share of the waits that fell in decode, by the decode share of the wall time.
        const hostMsPerToken = (decodeMs - waitMs * (decodeMs / wallMs)) / (r.usage.completion_tokens - 1);
        return {
          hostMsPerToken,
          adapter: e.info.adapter,
          coldLoadMs,
          coldToFirstTokenMs,
          warmLoadMs,
          warmToFirstTokenMs,
          firstTokenIds: first.token_ids,
          promptTokens: r.usage.prompt_tokens,
          completionTokens: r.usage.completion_tokens,
          prefillTokS: r.usage.prefill_tokens_per_second,
          decodeTokS: r.usage.decode_tokens_per_second,
          decodeK: r.usage.decode_k,
          decodeTokSK1: k1.usage.decode_tokens_per_second,
          decodeKRatio: r.usage.decode_tokens_per_second / k1.usage.decode_tokens_per_second,
          decodeBatchesAhead: ahead.usage.decode_batches_ahead,
          decodeAheadByDefault: r.usage.decode_batches_ahead > 0,
          decodeTokSAhead: ahead.usage.decode_tokens_per_second,
          decodeTokSNoAhead: noAhead.usage.decode_tokens_per_second,
          decodeAheadRatio: ahead.usage.decode_tokens_per_second / noAhead.usage.decode_tokens_per_second,
          timeToFirstTokenMs: r.usage.time_to_first_token_ms,
          wasmMemoryMiB: e.wasmMemoryBytes() / 1048576,
        };
      },
      { url: '/' + model, prompt, nPredict, nudge },
    );
    return { browser: which, nudge, roundTripMs, ...r };
  } finally {
    await browser.close();
    await srv.close();
  }
}

function benchNative(promptTokens, which, extraEnv = {}) {
  const bin = path.join(REPO_ROOT, 'target/release/gguf-web');
  const env = { ...process.env, VK_ICD_FILENAMES: ICD[which], ...extraEnv };
  const json = execFileSync(bin, ['bench', '--model', model, '--prompt-tokens', String(promptTokens), '--gen-tokens', String(nPredict), '--runs', '1', '--json'], { env, cwd: REPO_ROOT });
  return JSON.parse(json.toString());
}

function benchWllama() {
  const tmp = path.join(REPO_ROOT, 'tests/browser/out/wllama-bench.json');
  fs.mkdirSync(path.dirname(tmp), { recursive: true });
  execFileSync(process.execPath, [path.join(REPO_ROOT, 'tests/browser/bench-wllama.mjs'), '--model', model, '--n-predict', String(nPredict), '--reps', '1', '--out', tmp], { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  return JSON.parse(fs.readFileSync(tmp, 'utf8'));
}

const result = { model, nPredict, rounds };
const median = (xs) => {
  const v = xs.filter((x) => x != null).sort((a, b) => a - b);
  return v.length ? (v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2) : null;
};
for (const which of browsers) {
  // Each round runs the browser, then the native engine (and the native engine with the browser's
  // kernel shapes), so every ratio compares runs a few minutes apart; on a shared machine the
  // median over rounds is the figure to quote, `perRound` the spread.
  const perRound = [];
  let entry;
  for (let round = 0; round < rounds; round++) {
    const ours = await benchOurs(which);
    entry = { ours };
    const row = { browserDecodeTokS: r2(ours.decodeTokS), browserPrefillTokS: r2(ours.prefillTokS), decodeK: ours.decodeK };
    if (!args.includes('--skip-native')) {
      const native = benchNative(ours.promptTokens, which);
      entry.native = {
        adapter: native.adapter,
        prefillTokS: native.prefill_tok_s,
        decodeTokS: native.decode_tok_s,
        decodeK: native.decode_k,
        decodeTokSK1: native.decode_tok_s_k1,
        decodeKRatio: r2(native.decode_k_ratio),
        decodeAheadByDefault: native.decode_ahead_default,
        decodeTokSAhead: native.decode_tok_s_ahead,
        decodeTokSNoAhead: native.decode_tok_s_no_ahead,
        decodeAheadRatio: r2(native.decode_ahead_ratio),
      };
      Object.assign(row, { nativeDecodeTokS: r2(native.decode_tok_s), nativePrefillTokS: r2(native.prefill_tok_s) });
      row.browserOverNativeDecode = ours.decodeTokS / native.decode_tok_s;
      row.browserOverNativePrefill = ours.prefillTokS / native.prefill_tok_s;
      // A browser without subgroups (Firefox) runs other kernel shapes than the native engine on the
      // same adapter: the native engine once more with those shapes tells the browser's own cost
      // from the shapes'.
      if (/no subgroups/.test(ours.adapter) && !/no subgroups/.test(native.adapter)) {
        const same = benchNative(ours.promptTokens, which, { GGUF_WEB_NO_SUBGROUPS: '1' });
        entry.nativeSameKernels = { adapter: same.adapter, prefillTokS: same.prefill_tok_s, decodeTokS: same.decode_tok_s, decodeK: same.decode_k };
        Object.assign(row, { sameKernelsDecodeTokS: r2(same.decode_tok_s), sameKernelsPrefillTokS: r2(same.prefill_tok_s) });
        row.browserOverNativeSameKernelsDecode = ours.decodeTokS / same.decode_tok_s;
        row.browserOverNativeSameKernelsPrefill = ours.prefillTokS / same.prefill_tok_s;
        row.sameKernelsOverNativeDecode = same.decode_tok_s / native.decode_tok_s;
      }
    }
    perRound.push(row);
  }
  // The ratios: medians over the rounds (with one round, that round's); the details above them
  // are the last round's.
  for (const key of Object.keys(perRound[0]).filter((k) => /Over/.test(k))) {
    entry[key] = r2(median(perRound.map((r) => r[key])));
    for (const r of perRound) r[key] = r2(r[key]);
  }
  if (rounds > 1) entry.perRound = perRound;
  // Chromium's figures at the top level, as before; the other browsers' under their names.
  if (which === 'chromium') Object.assign(result, entry);
  else result[which] = entry;
}
const ours = result.ours;
if (ours && !args.includes('--skip-wllama')) {
  const w = benchWllama();
  result.wllama = { prompt_tokens: w.prompt_tokens, cold_load_ms: w.cold_load_ms, configs: w.configs.map(({ text, reps, ...c }) => c) };
  const configs = w.configs.filter((c) => c.backend === 'cpu');
  if (configs.length) {
    const bestDecode = Math.max(...configs.map((c) => c.decode_tok_s));
    const bestPrefill = Math.max(...configs.map((c) => c.prefill_tok_s));
    result.oursOverWllamaDecode = r2(ours.decodeTokS / bestDecode);
    result.oursOverWllamaPrefill = r2(ours.prefillTokS / bestPrefill);
  }
}
const text = JSON.stringify(result, null, 1);
if (out) fs.writeFileSync(out, text);
console.log(text);
