// Several decode steps per GPU round trip on every generated architecture (tests/fixtures/archs.json)
// in Chromium: K = 2, K = 8 and the adaptive K give exactly the ids of K = 1 (decode-batch.mjs; the
// default models: decode-batch.test.mjs).
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { launchBrowser, newPage, REPO_ROOT } from './harness.mjs';
import { start } from './server.mjs';
import { goldenCases } from './golden.mjs';
import { compareK } from './decode-batch.mjs';

const ARCHS = Object.keys(JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'tests/fixtures/archs.json'), 'utf8')).models).filter((n) => !process.env.GGUF_WEB_ARCHS || process.env.GGUF_WEB_ARCHS.split(',').includes(n));

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

for (const name of ARCHS) {
  test(`gen-${name}: K = 2, 8 and adaptive give the ids of K = 1`, async () => {
    const prompts = goldenCases('gen-' + name).map((c) => c.prompt);
    const n = await compareK(page, { host: 'Engine', url: `/models/gen/${name}.gguf`, prompts, ks: [2, 8, null], maxTokens: 16, what: 'gen-' + name });
    console.log(`gen-${name}: ${n} requests with K > 1 equal K = 1's`);
  });
}
