// The llama.cpp fixtures (tests/fixtures/golden/*.json) and the "sure step" rule of
// tests/common/golden.rs, for the browser tests: a step counts when llama.cpp's greedy id leads
// by at least 0.25 in its decode run, its teacher-forced batch and its exact-f32 run.
import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from './server.mjs';

export const MARGIN = 0.25;
export const MODELS = { smollm2: 'SmolLM2-135M-Instruct.Q4_1.gguf', gemma3: 'gemma-3-270m-q4_k_m.gguf' };

export function goldenCases(key) {
  const fx = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'tests/fixtures/golden', key + '.json'), 'utf8'));
  return fx.cases.map((c) => {
    const p = c.prompt_ids.length;
    const f32Margin = (i) => {
      const row = c.f32_top[p - 1 + i];
      const hit = row.find(([id]) => id === c.ids[i]);
      if (!hit) return -1;
      return hit[1] - Math.max(...row.filter(([id]) => id !== c.ids[i]).map(([, v]) => v));
    };
    const sure = c.ids.map((_, i) => Math.min(c.margins[i], c.tf_margins[i], f32Margin(i)) >= MARGIN);
    const firstUnsure = sure.indexOf(false);
    return { ...c, sure, nSure: firstUnsure < 0 ? c.ids.length : firstUnsure };
  });
}
