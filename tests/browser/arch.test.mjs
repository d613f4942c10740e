// The generated random-weight models of the other architectures (tests/fixtures/gen_models.py,
// written into models/gen/ by setup) in Chromium on WebGPU, against llama.cpp's fixtures
// (golden/gen-*.json), by the check of arch-check.mjs. The CPU path's run is cpu-arch.test.mjs.
import { after, before, test } from 'node:test';
import { launchBrowser, newPage } from './harness.mjs';
import { start } from './server.mjs';
import { ARCHS, checkArch } from './arch-check.mjs';

const NAMES = Object.keys(ARCHS);

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
  test(`${name} (generated${tuning ? ', GPU kernel shapes' : ''}): llama.cpp's ids and f32 logits`, () => checkArch(page, name, { tuning }));
}
