// Structured output's cost in the browser (issue 17): the same greedy chat request with a JSON schema
// and without it (as many tokens, end of generation ignored), in the page, `--runs` times each; decode
// tokens/s of both and their ratio, llguidance's milliseconds per token (`usage.constraint`), and the
// native engine's figures for the same request on the same adapter kind (`gguf-web bench
// --json-schema`), so the browser's ratio can be read next to native's. Prints one JSON object.
//
//   node tests/browser/bench-schema.mjs [--model PATH] [--schema FILE] [--max-tokens 96] [--runs 3]
//                                       [--browsers chromium,firefox] [--skip-native]
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
const schemaFile = opt('--schema', 'tests/fixtures/schemas/array_of_objects.json');
const maxTokens = Number(opt('--max-tokens', '96'));
const runs = Number(opt('--runs', '3'));
const browsers = opt('--browsers', 'chromium').split(',');
const ICD = { chromium: '/usr/lib/chromium/vk_swiftshader_icd.json', firefox: '/usr/share/vulkan/icd.d/lvp_icd.x86_64.json' };
const schema = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, schemaFile), 'utf8'));
const r2 = (x) => (x == null ? null : Math.round(x * 100) / 100);
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

async function benchBrowser(which) {
  const srv = await start();
  const browser = await launchBrowser({ browser: which });
  try {
    const page = await newPage(browser, srv.url + 'tests/browser/pages/engine.html', { log: null });
    await page.waitForFunction(() => window.gwReady);
    return await page.evaluate(
      async ({ url, schema, maxTokens, runs }) => {
        const e = await gw.Engine.load(url);
        // As the native bench: the request names the schema, so the free run says similar things.
        const messages = [{ role: 'user', content: `Reply with JSON that matches this schema: ${JSON.stringify(schema)}` }];
        const response_format = { type: 'json_schema', json_schema: { name: 'bench', schema } };
        // Warm-up: every pipeline compiled, the constraint's token table built.
        await e.chat.completions.create({ messages, max_tokens: 4, temperature: 0, response_format });
        const rows = [];
        for (let i = 0; i < runs; i++) {
          const w = await e.chat.completions.create({ messages, max_tokens: maxTokens, temperature: 0, response_format });
          const n = w.usage.completion_tokens;
          const f = await e.chat.completions.create({ messages, max_tokens: Math.max(2, n), temperature: 0, ignore_eos: true });
          rows.push({
            tokens: n,
            parses: (() => {
              try {
                JSON.parse(w.choices[0].message.content);
                return true;
              } catch {
                return false;
              }
            })(),
            schemaTokS: w.usage.decode_tokens_per_second,
            freeTokS: f.usage.decode_tokens_per_second,
            constraintMsPerToken: w.usage.constraint.ms / Math.max(1, n),
            maskedDraws: w.usage.constraint.masked_draws,
          });
        }
        const adapter = e.info.adapter;
        await e.unload();
        return { adapter, rows };
      },
      { url: '/' + model, schema, maxTokens, runs },
    );
  } finally {
    await browser.close();
    await srv.close();
  }
}

function benchNative(which) {
  const bin = path.join(REPO_ROOT, 'target/release/gguf-web');
  const env = { ...process.env, VK_ICD_FILENAMES: ICD[which] };
  const out = execFileSync(bin, ['bench', '--model', model, '--json-schema', schemaFile, '--gen-tokens', String(maxTokens), '--runs', String(runs), '--json'], {
    env,
    cwd: REPO_ROOT,
  });
  return JSON.parse(out.toString());
}

const wasm = path.join(REPO_ROOT, 'pkg/wasm/gguf_web_bg.wasm');
const result = { model, schema: schemaFile, maxTokens, runs, wasmMiB: r2(fs.statSync(wasm).size / 1048576) };
for (const which of browsers) {
  const b = await benchBrowser(which);
  const schemaTokS = median(b.rows.map((r) => r.schemaTokS));
  const freeTokS = median(b.rows.map((r) => r.freeTokS));
  const entry = {
    adapter: b.adapter,
    tokens: b.rows.map((r) => r.tokens),
    allParse: b.rows.every((r) => r.parses),
    decodeTokSSchema: r2(schemaTokS),
    decodeTokSFree: r2(freeTokS),
    ratio: r2(schemaTokS / freeTokS),
    constraintMsPerToken: r2(median(b.rows.map((r) => r.constraintMsPerToken))),
    maskedDraws: b.rows.map((r) => r.maskedDraws),
  };
  if (!args.includes('--skip-native')) {
    const n = benchNative(which);
    entry.native = { adapter: n.adapter, decodeTokSSchema: r2(n.decode_tok_s_schema), decodeTokSFree: r2(n.decode_tok_s_free), ratio: r2(n.ratio), constraintMsPerToken: r2(n.constraint_ms_per_token) };
  }
  result[which] = entry;
}
console.log(JSON.stringify(result, null, 1));
