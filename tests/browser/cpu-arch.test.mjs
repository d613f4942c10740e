// The generated architectures (tests/fixtures/archs.json, models/gen/) on the CPU path in Chromium,
// against llama.cpp's fixtures by the check of arch-check.mjs (logits by NMSE, as tests/golden_fast.rs): on a cross-origin isolated page with
// two threads (the threaded build and its pool), and again on one thread (a page that is not
// isolated: the plain build).
import { after, before, test } from 'node:test';
import { launchBrowser, newPage } from './harness.mjs';
import { start } from './server.mjs';
import { ARCHS, checkArch } from './arch-check.mjs';

const NAMES = Object.keys(ARCHS);
let plain;
let isolated;
let browser;
const pages = {};
before(async () => {
  plain = await start({ coopCoep: false });
  isolated = await start();
  browser = await launchBrowser();
  pages[1] = await newPage(browser, plain.url + 'tests/browser/pages/engine.html');
  pages[2] = await newPage(browser, isolated.url + 'tests/browser/pages/engine.html');
  for (const p of Object.values(pages)) await p.waitForFunction(() => window.gwReady);
});
after(async () => {
  if (browser) await browser.close();
  if (plain) await plain.close();
  if (isolated) await isolated.close();
});

// As tests/golden_fast.rs: 8-bit activations move each logit by a fraction of a percent; a wrong
// kernel gives an NMSE of order 1.
const NMSE = 1e-2;
for (const name of NAMES) {
  test(`${name} (generated) on the CPU path, 2 threads: llama.cpp's ids and f32 logits`, () =>
    checkArch(pages[2], name, { backend: 'cpu', threads: 2 }, 'browser cpu, 2 threads', { nmse: NMSE }));
}
for (const name of NAMES) {
  test(`${name} (generated) on the CPU path, 1 thread: llama.cpp's ids and f32 logits`, () =>
    checkArch(pages[1], name, { backend: 'cpu' }, 'browser cpu, 1 thread', { nmse: NMSE }));
}
