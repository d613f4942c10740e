// The generated random-weight models of the other architectures (tests/fixtures/gen_models.py,
// written into models/gen/ by setup) in Chromium on WebGPU, against llama.cpp's fixtures
// (golden/gen-*.json) with the rule of tests/common/golden.rs: through `topLogits`, the
// teacher-forced argmax equals llama.cpp's greedy id at every sure step and llama.cpp's exact-f32
// top-5 logits are matched at every position; free-running greedy ids match up to the first
// unsure step.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { launchBrowser, newPage, REPO_ROOT } from './harness.mjs';
import { start } from './server.mjs';
import { goldenCases } from './golden.mjs';

// The generated architectures under test: tests/fixtures/archs.json, the one list every harness reads.
const ARCHS = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'tests/fixtures/archs.json'), 'utf8')).models;
const NAMES = Object.keys(ARCHS);
// As tests/common/golden.rs: llama.cpp's CPU GELU rounds through an f16 table.
const tolerance = (name) => (name.startsWith('gemma') ? 0.05 : 2e-3);

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

// Every model with the adapter's kernel shapes (SwiftShader: the CPU ones), then some again with the
// GPU ones, which real GPUs run: so that Chromium's shader compiler (Tint, stricter than naga:
// uniformity of barriers) accepts them and they give the same answers. Those four cover every GPU
// kernel shape but GELU's; the GPU shapes run slowly on SwiftShader (Gemma 2's took 90 s).
const GPU_SHAPES = NAMES.filter((n) => ARCHS[n].browserGpuShapes);
const RUNS = [...NAMES.map((n) => [n, undefined]), ...GPU_SHAPES.map((n) => [n, 'gpu'])];

for (const [name, tuning] of RUNS) {
  test(`${name} (generated${tuning ? ', GPU kernel shapes' : ''}): llama.cpp's ids and f32 logits`, async () => {
    const cases = goldenCases('gen-' + name);
    const r = await page.evaluate(
      async ({ url, cases, tuning }) => {
        const e = await gw.Engine.load(url, { cache: false, tuning });
        const out = [];
        try {
          for (const c of cases) {
            const promptIds = e.tokenize(c.prompt, { addSpecial: true });
            const top = await e.topLogits([...c.prompt_ids, ...c.ids.slice(0, -1)], { top: 8 });
            const gen = await e.completions.create({ prompt: c.prompt, max_tokens: Math.max(1, c.nSure), temperature: 0, ignore_eos: true });
            out.push({ promptIds, top, ids: gen.token_ids });
          }
        } finally {
          await e.unload();
        }
        return { out, arch: e.info.architecture };
      },
      { url: `/models/gen/${name}.gguf`, tuning, cases: cases.map(({ prompt, prompt_ids, ids, nSure }) => ({ prompt, prompt_ids, ids, nSure })) },
    );
    const failures = [];
    let tfChecked = 0;
    let freeChecked = 0;
    cases.forEach((c, ci) => {
      const got = r.out[ci];
      assert.deepEqual(got.promptIds, c.prompt_ids, `case ${ci}: prompt ids`);
      c.f32_top.forEach((row, pos) => {
        for (const [id, want] of row) {
          const hit = got.top[pos].find((t) => t.id === id);
          if (!hit || Math.abs(hit.logit - want) > tolerance(name)) {
            failures.push(`case ${ci} pos ${pos}: logit[${id}] = ${hit ? hit.logit : 'not in our top 8'}, llama.cpp f32 says ${want}`);
          }
        }
      });
      const p = c.prompt_ids.length;
      c.ids.forEach((want, i) => {
        if (!c.sure[i]) return;
        tfChecked++;
        const argmax = got.top[p - 1 + i][0].id;
        if (argmax !== want) failures.push(`case ${ci} step ${i}: teacher-forced argmax ${argmax}, llama.cpp ${want}`);
      });
      freeChecked += c.nSure;
      const n = c.nSure;
      if (JSON.stringify(got.ids.slice(0, n)) !== JSON.stringify(c.ids.slice(0, n))) {
        failures.push(`case ${ci}: free-running ids ${JSON.stringify(got.ids.slice(0, n))}, llama.cpp ${JSON.stringify(c.ids.slice(0, n))}`);
      }
    });
    console.log(`gen-${name} [${r.arch}, browser]: teacher-forced argmax checked at ${tfChecked} steps, free-running ids for ${freeChecked} steps`);
    assert.equal(failures.length, 0, failures.join('\n'));
  });
}
