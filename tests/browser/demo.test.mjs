// The demo chat page: load the default model (in its worker), send a message, see a reply streamed
// in; then a reply to the JSON-schema box (validated by ajv) and the tools example (a call whose
// arguments fit the tool); screenshots go to tests/browser/out/demo.png and demo-tools.png.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import Ajv2020 from 'ajv/dist/2020.js';
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

      // Structured output: the schema box gives JSON that validates; the tools example a call.
      await page.click('#structured summary');
      await page.selectOption('#mode', 'schema');
      await page.fill('#input', 'Tell me about Paris.');
      await page.click('#sendBtn');
      await page.waitForSelector('.assistant:nth-of-type(4)[data-done="1"]', { timeout: 240_000 });
      const json = await page.textContent('.assistant:nth-of-type(4)');
      assert.equal(await page.getAttribute('.assistant:nth-of-type(4)', 'data-finish'), 'stop', json);
      const schema = JSON.parse(await page.inputValue('#schema'));
      const validate = new Ajv2020({ strict: false }).compile(schema);
      assert.ok(validate(JSON.parse(json)), `${json}: ${JSON.stringify(validate.errors)}`);
      await page.selectOption('#mode', 'tools');
      await page.selectOption('#toolChoice', 'required');
      await page.fill('#input', 'What is the weather in Oslo?');
      await page.click('#sendBtn');
      await page.waitForSelector('.assistant:nth-of-type(6)[data-done="1"]', { timeout: 240_000 });
      const call = await page.textContent('.assistant:nth-of-type(6)');
      assert.equal(await page.getAttribute('.assistant:nth-of-type(6)', 'data-finish'), 'tool_calls', call);
      // One line per call (the model may call more than once: parallel calls are allowed).
      const calls = call.split('\n').filter((l) => l.startsWith('tool call: '));
      assert.ok(calls.length >= 1, call);
      for (const line of calls) {
        const m = /^tool call: get_weather\((.*)\)$/.exec(line);
        assert.ok(m, call);
        const args = JSON.parse(m[1]);
        assert.ok(typeof args.city === 'string' && ['celsius', 'fahrenheit'].includes(args.unit), call);
      }
      const shot2 = await screenshot(page, 'demo-tools');
      console.log(`demo structured: ${json}; ${call}; screenshot ${shot2}`);
    } finally {
      await browser.close();
    }
  });
});
