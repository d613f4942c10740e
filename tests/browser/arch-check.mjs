// The check of a generated architecture (tests/fixtures/archs.json, models/gen/) against llama.cpp's
// fixtures (golden/gen-*.json) with the rule of tests/common/golden.rs, for arch.test.mjs (WebGPU)
// and cpu-arch.test.mjs (the CPU path): through `topLogits`, the teacher-forced argmax equals
// llama.cpp's greedy id at every sure step and llama.cpp's exact-f32 top-5 logits are matched at every
// position; free-running greedy ids match up to the first unsure step.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from './server.mjs';
import { goldenCases } from './golden.mjs';

/** The generated architectures under test: tests/fixtures/archs.json, the one list every harness reads. */
export const ARCHS = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'tests/fixtures/archs.json'), 'utf8')).models;
// As tests/common/golden.rs: llama.cpp's CPU GELU rounds through an f16 table.
const tolerance = (name) => (name.startsWith('gemma') ? 0.05 : 2e-3);

/**
 * Loads `models/gen/NAME.gguf` in `page` (engine.html) with `load` options and checks it; `label` tags
 * the log line. With `nmse`, llama.cpp's f32 logits are matched by their NMSE over each case (the CPU
 * path's 8-bit activations, as tests/golden_fast.rs) instead of each within an absolute tolerance.
 */
export async function checkArch(page, name, load = {}, label = 'browser', { nmse } = {}) {
  const cases = goldenCases('gen-' + name);
  const r = await page.evaluate(
    async ({ url, cases, load, nTop }) => {
      const e = await gw.Engine.load(url, { cache: false, ...load });
      const out = [];
      try {
        for (const c of cases) {
          const promptIds = e.tokenize(c.prompt, { addSpecial: true });
          const top = await e.topLogits([...c.prompt_ids, ...c.ids.slice(0, -1)], { top: nTop });
          const gen = await e.completions.create({ prompt: c.prompt, max_tokens: Math.max(1, c.nSure), temperature: 0, ignore_eos: true });
          out.push({ promptIds, top, ids: gen.token_ids });
        }
      } finally {
        await e.unload();
      }
      return { out, arch: e.info.architecture };
    },
    { url: `/models/gen/${name}.gguf`, load, nTop: nmse === undefined ? 8 : 32, cases: cases.map(({ prompt, prompt_ids, ids, nSure }) => ({ prompt, prompt_ids, ids, nSure })) },
  );
  const failures = [];
  let tfChecked = 0;
  let freeChecked = 0;
  cases.forEach((c, ci) => {
    const got = r.out[ci];
    assert.deepEqual(got.promptIds, c.prompt_ids, `case ${ci}: prompt ids`);
    let err = 0;
    let norm = 0;
    c.f32_top.forEach((row, pos) => {
      for (const [id, want] of row) {
        const hit = got.top[pos].find((t) => t.id === id);
        if (hit) {
          err += (hit.logit - want) ** 2;
          norm += want ** 2;
        }
        if (!hit || (nmse === undefined && Math.abs(hit.logit - want) > tolerance(name))) {
          failures.push(`case ${ci} pos ${pos}: logit[${id}] = ${hit ? hit.logit : 'not in our top ' + got.top[pos].length}, llama.cpp f32 says ${want}`);
        }
      }
    });
    if (nmse !== undefined && !(err / norm <= nmse)) failures.push(`case ${ci}: NMSE of the top logits ${err / norm} against llama.cpp's f32, over ${nmse}`);
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
  console.log(`gen-${name} [${r.arch}, ${label}]: teacher-forced argmax checked at ${tfChecked} steps, free-running ids for ${freeChecked} steps`);
  assert.equal(failures.length, 0, failures.join('\n'));
}
