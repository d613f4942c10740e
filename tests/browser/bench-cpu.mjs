// The CPU path's benchmark: gguf-web with `backend: 'cpu'` in headless Chromium at 1 and 2 threads
// (a cross-origin isolated page: the threaded build) next to wllama (tests/browser/bench-wllama.mjs)
// at the same thread counts in the same Chromium, on the prompt of tests/browser/bench-prompt.txt
// with `n-predict` greedy tokens (EOS ignored). Prints one JSON object: per thread count both
// engines' prefill and decode tokens/s and their ratios (gguf-web ÷ wllama), and the WebAssembly
// memory after the run next to the model's weights (the target: weights + at most 64 MiB).
//
//   node tests/browser/bench-cpu.mjs [--model PATH] [--n-predict 128] [--threads 1,2] [--reps 2]
//                                    [--context 1024] [--skip-wllama] [--out FILE]
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
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
const threads = opt('--threads', '1,2').split(',').map(Number);
const reps = Number(opt('--reps', '2'));
// wllama's benchmark runs at n_ctx 1024: the same context here, so that both hold the same cache.
const context = Number(opt('--context', '1024'));
const out = opt('--out', null);
const prompt = fs.readFileSync(path.join(REPO_ROOT, 'tests/browser/bench-prompt.txt'), 'utf8').trimEnd();
const r2 = (x) => (x == null || !Number.isFinite(x) ? null : Math.round(x * 100) / 100);
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const log = (s) => process.stderr.write(`[bench-cpu] ${s}\n`);

async function benchOurs() {
  const srv = await start();
  const browser = await launchBrowser();
  const configs = [];
  try {
    for (const t of threads) {
      // A fresh page per thread count: a realm's pool keeps the size it started with.
      const page = await newPage(browser, srv.url + 'tests/browser/pages/engine.html', { log: null });
      await page.waitForFunction(() => window.gwReady);
      const r = await page.evaluate(
        async ({ url, prompt, nPredict, t, reps, context }) => {
          const t0 = performance.now();
          const e = await gw.Engine.load(url, { backend: 'cpu', threads: t, contextLength: context });
          const loadMs = performance.now() - t0;
          await e.completions.create({ prompt: 'Hello', max_tokens: 2, temperature: 0 });
          const runs = [];
          for (let i = 0; i < reps; i++) {
            const r = await e.completions.create({ prompt, max_tokens: nPredict, temperature: 0, ignore_eos: true });
            runs.push({ prefill: r.usage.prefill_tokens_per_second, decode: r.usage.decode_tokens_per_second, promptTokens: r.usage.prompt_tokens, text: r.choices[0].text });
          }
          const out = { info: e.info, loadMs, runs, wasmMemoryBytes: e.wasmMemoryBytes() };
          await e.unload();
          return out;
        },
        { url: '/' + model, prompt, nPredict, t, reps, context },
      );
      const c = {
        threads: r.info.threads,
        loadMs: Math.round(r.loadMs),
        promptTokens: r.runs[0].promptTokens,
        prefillTokS: r2(median(r.runs.map((x) => x.prefill))),
        decodeTokS: r2(median(r.runs.map((x) => x.decode))),
        wasmMemoryMiB: r2(r.wasmMemoryBytes / 2 ** 20),
        weightsMiB: r2(r.info.weightsBytes / 2 ** 20),
        overWeightsMiB: r2((r.wasmMemoryBytes - r.info.weightsBytes) / 2 ** 20),
        text: r.runs[0].text.slice(0, 80),
      };
      log(`gguf-web cpu, ${c.threads} thread(s): prefill ${c.prefillTokS} tok/s, decode ${c.decodeTokS} tok/s, WASM ${c.wasmMemoryMiB} MiB (weights ${c.weightsMiB} MiB)`);
      configs.push(c);
      await page.close();
    }
  } finally {
    await browser.close();
    await srv.close();
  }
  return configs;
}

function benchWllama() {
  const tmp = path.join(REPO_ROOT, 'tests/browser/out/wllama-bench-cpu.json');
  fs.mkdirSync(path.dirname(tmp), { recursive: true });
  execFileSync(process.execPath, [path.join(REPO_ROOT, 'tests/browser/bench-wllama.mjs'), '--model', model, '--n-predict', String(nPredict), '--reps', String(reps), '--threads', threads.join(','), '--out', tmp], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  return JSON.parse(fs.readFileSync(tmp, 'utf8'));
}

const result = { model, nPredict, context, host: { cpus: os.cpus().length, loadavgStart: os.loadavg().map(r2) } };
result.ours = await benchOurs();
if (!args.includes('--skip-wllama')) {
  const w = benchWllama();
  result.wllama = w.configs.filter((c) => c.backend === 'cpu').map(({ threads, multithread, prefill_tok_s, decode_tok_s }) => ({ threads, multithread, prefillTokS: prefill_tok_s, decodeTokS: decode_tok_s }));
  result.ratios = result.ours.map((o) => {
    const w2 = result.wllama.find((c) => c.threads === o.threads);
    return { threads: o.threads, decode: w2 ? r2(o.decodeTokS / w2.decodeTokS) : null, prefill: w2 ? r2(o.prefillTokS / w2.prefillTokS) : null };
  });
}
result.host.loadavgEnd = os.loadavg().map(r2);
const text = JSON.stringify(result, null, 1);
if (out) fs.writeFileSync(out, text);
console.log(text);
