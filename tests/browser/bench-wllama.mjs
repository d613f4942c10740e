// Benchmark @wllama/wllama (llama.cpp compiled to wasm) in headless Chromium, as the baseline for gguf-web.
//
//   node tests/browser/bench-wllama.mjs [--model PATH] [--threads 1,2] [--n-predict 128] [--reps 2]
//                                      [--gpu] [--out FILE]
//
// Serves the repository with tests/browser/server.mjs (COOP/COEP on, so wllama can use threads), opens
// tests/browser/pages/wllama-bench.html in a fresh profile and:
//   1. cold load: the first load of the model (download into wllama's OPFS cache, wasm compile, model load);
//   2. for each thread count: warm load (model from the OPFS cache), one small warm-up completion, then
//      `reps` greedy completions of the prompt in tests/browser/bench-prompt.txt (trailing whitespace
//      trimmed) with exactly n-predict new tokens (EOS ignored, no prompt-cache reuse);
//   3. with --gpu, the same on wllama's WebGPU backend (all layers offloaded, 1 thread).
// Prints one JSON object: per configuration the medians over the reps of prefill tok/s and decode tok/s
// (llama.cpp's own timings), time to first token (wall clock, from the request to the first streamed
// token), plus cold/warm load times, the prompt's token count and the generated text.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { start } from './server.mjs';
import { launchBrowser, newPage, REPO_ROOT } from './harness.mjs';

function parseArgs(argv) {
  const o = {
    model: 'models/SmolLM2-135M-Instruct.Q4_1.gguf',
    threads: [1, 2],
    nPredict: 128,
    reps: 2,
    gpu: false,
    out: null,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--model') o.model = val();
    else if (a === '--threads') o.threads = val().split(',').map(Number);
    else if (a === '--n-predict') o.nPredict = Number(val());
    else if (a === '--reps') o.reps = Number(val());
    else if (a === '--gpu') o.gpu = true;
    else if (a === '--out') o.out = val();
    else if (a === '--help' || a === '-h') {
      console.log(fs.readFileSync(new URL(import.meta.url), 'utf8').split('\n').slice(0, 18).join('\n'));
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  if (o.threads.some((t) => !Number.isInteger(t) || t < 1)) throw new Error('bad --threads');
  if (!Number.isInteger(o.nPredict) || o.nPredict < 2) throw new Error('bad --n-predict');
  if (!Number.isInteger(o.reps) || o.reps < 1) throw new Error('bad --reps');
  return o;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const round = (x, d = 2) => (x == null || !Number.isFinite(x) ? null : Number(x.toFixed(d)));
const loadavg = () => os.loadavg().map((x) => round(x));
const log = (s) => process.stderr.write(`[bench] ${s}\n`);

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const modelPath = path.resolve(REPO_ROOT, opts.model);
  if (!fs.existsSync(modelPath)) throw new Error(`no model at ${modelPath} (run scripts/setup.sh)`);
  const modelUrlPath = '/' + path.relative(REPO_ROOT, modelPath).split(path.sep).join('/');
  const prompt = fs.readFileSync(path.join(REPO_ROOT, 'tests/browser/bench-prompt.txt'), 'utf8').trimEnd();
  const wllamaVersion = JSON.parse(
    fs.readFileSync(path.join(REPO_ROOT, 'node_modules/@wllama/wllama/package.json'), 'utf8'),
  ).version;

  const srv = await start();
  const browser = await launchBrowser();
  const result = {
    engine: 'wllama',
    wllama_version: wllamaVersion,
    browser: browser.browser()?.version() ?? null,
    model: path.relative(REPO_ROOT, modelPath),
    model_bytes: fs.statSync(modelPath).size,
    prompt_file: 'tests/browser/bench-prompt.txt',
    prompt_tokens: null,
    n_predict: opts.nPredict,
    reps: opts.reps,
    sampling: 'greedy (temperature 0, top_k 1), ignore_eos, cache_prompt false, n_ctx 1024',
    cold_load_ms: null,
    cold_load_model_bytes_served: null,
    configs: [],
    // the machine is shared: a load average above the core count means the numbers are pessimistic
    host: { cpus: os.cpus().length, cpu_model: os.cpus()[0]?.model ?? null, loadavg_start: loadavg(), loadavg_end: null },
  };
  try {
    const page = await newPage(browser, srv.url + 'tests/browser/pages/wllama-bench.html', { label: 'wllama' });
    await page.waitForFunction(() => window.wllamaBench?.ready);
    Object.assign(result, await page.evaluate(() => ({
      libllama_version: window.wllamaBench.libllama,
      cross_origin_isolated: window.wllamaBench.isolated,
    })));

    // 1. Cold load: nothing cached in this fresh profile.
    srv.log.reset();
    const cold = await page.evaluate(
      ([m, t]) => window.wllamaBench.load({ model: m, threads: t }),
      [modelUrlPath, opts.threads[0]],
    );
    result.cold_load_ms = round(cold.load_ms, 0);
    result.cold_load_model_bytes_served = srv.log.bytes(modelUrlPath);
    log(`cold load ${result.cold_load_ms} ms, ${result.cold_load_model_bytes_served} model bytes served`);

    const configs = opts.threads.map((t) => ({ threads: t, gpu: false }));
    if (opts.gpu) configs.push({ threads: 1, gpu: true });
    for (const cfg of configs) {
      srv.log.reset();
      const load = await page.evaluate(
        ([m, c]) => window.wllamaBench.load({ model: m, threads: c.threads, gpu: c.gpu }),
        [modelUrlPath, cfg],
      );
      const modelRequests = srv.log.filter(modelUrlPath).filter((e) => e.method === 'GET').length;
      const label = `${cfg.gpu ? 'webgpu' : 'cpu'} threads=${cfg.threads}`;
      log(`${label}: warm load ${round(load.load_ms, 0)} ms (multithread ${load.multithread}; ${load.model_buffers.join(', ')})`);
      await page.evaluate(() => window.wllamaBench.run({ prompt: 'Hello, my name is', nPredict: 4 }));
      const reps = [];
      for (let i = 0; i < opts.reps; i++) {
        const r = await page.evaluate(([p, n]) => window.wllamaBench.run({ prompt: p, nPredict: n }), [
          prompt,
          opts.nPredict,
        ]);
        const t = r.timings ?? {};
        const rep = {
          prefill_tok_s: round(t.prompt_per_second),
          decode_tok_s: round(t.predicted_per_second),
          ttft_ms: round(r.ttft_ms, 0),
          total_ms: round(r.total_ms, 0),
          prompt_tokens: t.prompt_n ?? r.usage?.prompt_tokens ?? null,
          generated_tokens: t.predicted_n ?? r.usage?.completion_tokens ?? null,
          // wall-clock views: prompt tokens over time to first token; tokens after the first over the rest
          prefill_tok_s_wall: round((t.prompt_n ?? 0) / (r.ttft_ms / 1000)),
          decode_tok_s_wall: round(((t.predicted_n ?? opts.nPredict) - 1) / ((r.total_ms - r.ttft_ms) / 1000)),
          text: r.text,
        };
        log(`${label} rep ${i + 1}: prefill ${rep.prefill_tok_s} tok/s, decode ${rep.decode_tok_s} tok/s, ttft ${rep.ttft_ms} ms`);
        reps.push(rep);
      }
      result.prompt_tokens ??= reps[0].prompt_tokens;
      const med = (k) => median(reps.map((r) => r[k]).filter((x) => x != null));
      result.configs.push({
        backend: cfg.gpu ? (load.offloaded ? 'webgpu' : 'webgpu requested, fell back to cpu') : 'cpu',
        model_buffers: load.model_buffers,
        threads: load.threads,
        multithread: load.multithread,
        warm_load_ms: round(load.load_ms, 0),
        warm_load_model_requests: modelRequests,
        prefill_tok_s: round(med('prefill_tok_s')),
        decode_tok_s: round(med('decode_tok_s')),
        ttft_ms: round(med('ttft_ms'), 0),
        prefill_tok_s_wall: round(med('prefill_tok_s_wall')),
        decode_tok_s_wall: round(med('decode_tok_s_wall')),
        generated_tokens: reps[0].generated_tokens,
        text: reps[0].text,
        reps: reps.map(({ text, ...rest }) => rest),
      });
    }
    await page.evaluate(() => window.wllamaBench.unload());
  } finally {
    result.host.loadavg_end = loadavg();
    await browser.close();
    await srv.close();
  }
  const json = JSON.stringify(result, null, 2);
  if (opts.out) fs.writeFileSync(opts.out, json + '\n');
  console.log(json);
}

main().catch((err) => {
  console.error(`error: ${err && err.stack ? err.stack : err}`);
  process.exit(1);
});
