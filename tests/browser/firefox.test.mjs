// The Firefox part of the browser tests: Debian's firefox-esr (WebGPU on by prefs; its adapter here is
// lavapipe) driven by puppeteer-core over WebDriver BiDi (tests/browser/harness.mjs). The same test
// bodies as engine.test.mjs (engine-cases.mjs): llama.cpp's greedy ids for both default models in the
// page and in a worker, streaming, and abort in the page and in a worker; and decode-batch.test.mjs's
// comparison (several decode steps per round trip give K = 1's ids, greedy and seeded, with a stop
// string inside a batch and a reused cache after it). Chromium stays the main
// runner; skipped with a note where firefox-esr is missing (scripts/setup.sh installs it).
import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { FIREFOX_PATH, launchBrowser, newPage } from './harness.mjs';
import { start } from './server.mjs';
import { checkAbort, checkGreedyIds, checkStreaming, loadHosts } from './engine-cases.mjs';
import { goldenCases, MODELS } from './golden.mjs';
import { compareK } from './decode-batch.mjs';

const skip = fs.existsSync(FIREFOX_PATH) ? false : `${FIREFOX_PATH} is missing: run scripts/setup.sh`;

describe('Firefox (WebGPU over WebDriver BiDi)', { skip }, () => {
  let srv;
  let browser;
  let page;
  before(async () => {
    srv = await start();
    // One browser for the whole file: Firefox takes seconds to start.
    browser = await launchBrowser({ browser: 'firefox' });
    page = await newPage(browser, srv.url + 'tests/browser/pages/engine.html', { label: 'firefox' });
    await page.waitForFunction(() => window.gwReady);
  });
  after(async () => {
    if (browser) await browser.close();
    if (srv) await srv.close();
  });

  for (const [key, file] of Object.entries(MODELS)) {
    test(`${key}: greedy ids equal llama.cpp's in the page and in a worker`, async () => {
      await checkGreedyIds(page, key, file, { label: 'firefox ' });
    });
  }

  // As decode-batch.test.mjs: both models, SmolLM2 also in a worker; K = 4 and the adaptive K.
  for (const [key, host] of [['smollm2', 'Engine'], ['smollm2', 'WorkerEngine'], ['gemma3', 'Engine']]) {
    test(`${key} (${host}): K = 4 and the adaptive K give the ids of K = 1`, async () => {
      const prompts = goldenCases(key).map((c) => c.prompt);
      const n = await compareK(page, { host, url: '/models/' + MODELS[key], prompts, ks: [4, null], maxTokens: 12, what: `firefox ${key} ${host}` });
      console.log(`firefox ${key} ${host}: ${n} requests with K = 4 and adaptive equal K = 1's`);
    });
  }

  describe('generation API (SmolLM2)', () => {
    before(async () => loadHosts(page, MODELS.smollm2));
    after(async () => page.evaluate(async () => Promise.all(Object.values(hosts).map((e) => e.unload()))));

    test('streaming delivers chunks as tokens are generated, usage on the last', async () => {
      await checkStreaming(page);
    });
    for (const host of ['Engine', 'WorkerEngine']) {
      test(`${host}: abort stops within one token and the engine answers the next request`, async () => {
        await checkAbort(page, host);
      });
    }
  });
});
