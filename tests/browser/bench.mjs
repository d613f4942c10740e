// The browser benchmark: gguf-web in headless Chromium (WebGPU on SwiftShader) against wllama in the
// same browser, and against the native engine on the same SwiftShader.
//
//   node tests/browser/bench.mjs [--model PATH] [--n-predict 128] [--skip-wllama] [--skip-native] [--out FILE]
//
// gguf-web: a cold load (download into the OPFS cache) timed to the first token, a warm load (from the
// cache) timed to the first token, then the prompt of tests/browser/bench-prompt.txt with `n-predict` greedy tokens (EOS ignored):
// prefill and decode tokens/s as the engine reports them (`usage`), time to first token.
// wllama: tests/browser/bench-wllama.mjs at 1 and 2 threads, same prompt and token count.
// native: `gguf-web bench` with VK_ICD_FILENAMES pointing at Chromium's SwiftShader, same token counts.
// Prints one JSON object with the ratios: browser decode ÷ native decode, and gguf-web ÷ wllama's best.
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
const prompt = fs.readFileSync(path.join(REPO_ROOT, 'tests/browser/bench-prompt.txt'), 'utf8').trimEnd();
const r2 = (x) => (x == null ? null : Math.round(x * 100) / 100);

async function benchOurs() {
  const srv = await start();
  const browser = await launchBrowser();
  try {
    const page = await newPage(browser, srv.url + 'tests/browser/pages/engine.html', { log: null });
    await page.waitForFunction(() => window.gwReady);
    return await page.evaluate(
      async ({ url, prompt, nPredict }) => {
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
        const r = await e.completions.create({ prompt, max_tokens: nPredict, temperature: 0, ignore_eos: true });
        return {
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
          timeToFirstTokenMs: r.usage.time_to_first_token_ms,
          wasmMemoryMiB: e.wasmMemoryBytes() / 1048576,
        };
      },
      { url: '/' + model, prompt, nPredict },
    );
  } finally {
    await browser.close();
    await srv.close();
  }
}

function benchNative(promptTokens) {
  const bin = path.join(REPO_ROOT, 'target/release/gguf-web');
  const env = { ...process.env, VK_ICD_FILENAMES: '/usr/lib/chromium/vk_swiftshader_icd.json' };
  const json = execFileSync(bin, ['bench', '--model', model, '--prompt-tokens', String(promptTokens), '--gen-tokens', String(nPredict), '--runs', '1', '--json'], { env, cwd: REPO_ROOT });
  return JSON.parse(json.toString());
}

function benchWllama() {
  const tmp = path.join(REPO_ROOT, 'tests/browser/out/wllama-bench.json');
  fs.mkdirSync(path.dirname(tmp), { recursive: true });
  execFileSync(process.execPath, [path.join(REPO_ROOT, 'tests/browser/bench-wllama.mjs'), '--model', model, '--n-predict', String(nPredict), '--reps', '1', '--out', tmp], { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  return JSON.parse(fs.readFileSync(tmp, 'utf8'));
}

const ours = await benchOurs();
const result = { model, nPredict, ours };
if (!args.includes('--skip-native')) {
  const native = benchNative(ours.promptTokens);
  result.native = { adapter: native.adapter, prefillTokS: native.prefill_tok_s, decodeTokS: native.decode_tok_s };
  result.browserOverNativeDecode = r2(ours.decodeTokS / native.decode_tok_s);
}
if (!args.includes('--skip-wllama')) {
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
