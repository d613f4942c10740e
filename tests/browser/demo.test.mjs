// The demo chat page: load the default model (in its worker), send a message, see a reply streamed
// in; a screenshot goes to tests/browser/out/demo.png.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { launchBrowser, newPage, screenshot, withServer } from './harness.mjs';

test('the demo page loads the default model and chats', async () => {
  await withServer(async (srv) => {
    const browser = await launchBrowser();
    try {
      const page = await newPage(browser, srv.url + 'www/index.html');
      await page.click('#loadBtn');
      await page.waitForSelector('body[data-loaded="1"]', { timeout: 120_000 });
      await page.fill('#input', 'What is the capital of France?');
      await page.click('#sendBtn');
      await page.waitForSelector('.assistant[data-done="1"]', { timeout: 240_000 });
      const reply = await page.textContent('.assistant');
      const speed = await page.textContent('#speed');
      const status = await page.textContent('#status');
      const shot = await screenshot(page, 'demo');
      console.log(`demo reply: ${JSON.stringify(reply)}; ${speed}; screenshot ${shot}`);
      assert.ok(reply.trim().length > 0, 'a reply');
      assert.match(speed, /tok\/s/);
      assert.match(status, /llama/);
    } finally {
      await browser.close();
    }
  });
});
