// `response_format: json_schema` in the browser, page and worker (issue 17): a few schemas of
// tests/fixtures/schemas/ on SmolLM2 at temperature 1, each reply checked here by an independent
// JSON Schema validator (ajv, draft 2020-12); tests/constrained.rs runs the whole corpus natively.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import Ajv2020 from 'ajv/dist/2020.js';
import { launchBrowser, newPage, REPO_ROOT } from './harness.mjs';
import { start } from './server.mjs';
import { MODELS } from './golden.mjs';
import { loadHosts } from './engine-cases.mjs';

const SCHEMAS = ['flat_object', 'enum_in_object', 'ref_defs'];

const ajv = new Ajv2020({ strict: false, allErrors: true });
function assertValid(schema, text, what) {
  let value;
  assert.doesNotThrow(() => (value = JSON.parse(text)), `${what}: not JSON: ${text}`);
  const validate = ajv.compile(schema);
  assert.ok(validate(value), `${what}: ${text} does not validate: ${ajv.errorsText(validate.errors)}`);
}

let srv;
let browser;
let page;
before(async () => {
  srv = await start();
  browser = await launchBrowser();
  page = await newPage(browser, srv.url + 'tests/browser/pages/engine.html');
  await page.waitForFunction(() => window.gwReady);
  await loadHosts(page, MODELS.smollm2);
});
after(async () => {
  if (browser) await browser.close();
  if (srv) await srv.close();
});

test('response_format json_schema: replies validate (ajv) in the page and the worker', async () => {
  const schemas = Object.fromEntries(SCHEMAS.map((n) => [n, JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'tests/fixtures/schemas', n + '.json'), 'utf8'))]));
  const r = await page.evaluate(async (schemas) => {
    const out = {};
    for (const [host, e] of Object.entries(hosts)) {
      out[host] = [];
      for (const [name, schema] of Object.entries(schemas)) {
        const messages = [{ role: 'user', content: `Reply with JSON that matches this schema: ${JSON.stringify(schema)}` }];
        const c = await e.chat.completions.create({ messages, temperature: 1, seed: 11, max_tokens: 120, response_format: { type: 'json_schema', json_schema: { name, schema } } });
        out[host].push({ name, text: c.choices[0].message.content, finish: c.choices[0].finish_reason });
      }
    }
    return out;
  }, schemas);
  for (const [host, outs] of Object.entries(r)) {
    for (const { name, text, finish } of outs) {
      assert.equal(finish, 'stop', `${host} ${name}: ${text}`);
      assertValid(schemas[name], text, `${host} ${name}`);
    }
  }
});
