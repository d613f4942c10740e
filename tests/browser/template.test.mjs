// Hostile chat templates in WebAssembly (issue 19): the bounds of crate/src/tokenizer/chat/ (fuel,
// work, value and output caps, recursion) end each of them in a TemplateError within 2 s in the
// browser too, and the engine answers normally afterwards. The templates are put in through a keyed
// test hook (`Text.__testWithTemplate`) as a hostile GGUF would bring them; tests/template_bounds.rs
// runs the same kinds natively.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { launchBrowser, newPage } from './harness.mjs';
import { start } from './server.mjs';
import { MODELS } from './golden.mjs';

const HOSTILE = {
  'nested loops': '{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}',
  'string doubling': "{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}",
  'list doubling': '{% set ns = namespace(l=[1]) %}{% for i in range(64) %}{% set ns.l = ns.l + ns.l %}{% endfor %}{{ ns.l|length }}',
  'string times a billion': "{% set n = messages|length %}{{ ('x' * (n * 1000000000))|length }}",
  'replace multiplies': "{% set s = 'a' * 100000 %}{{ s|replace('a', 'b' * 100000) }}",
  'self-calling macro': '{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}',
  'branching recursion': '{% macro f(n) %}{% if n < 12 %}{{ f(n + 1) }}{{ f(n + 1) }}{{ f(n + 1) }}{{ f(n + 1) }}{% endif %}{% endmacro %}{{ f(0) }}',
  'huge output': "{% for i in range(100000) %}{{ 'y' * 1000 }}{% endfor %}",
  'huge error': "{{ raise_exception('e' * 100000000) }}",
  'deep nesting': '{% set ns = namespace(l=[]) %}{% for i in range(100000) %}{% set ns.l = [ns.l] %}{% endfor %}{{ ns.l }}',
};

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

test('every hostile chat template ends in a TemplateError within 2 s, and the engine answers on', async () => {
  const r = await page.evaluate(
    async ({ url, hostile }) => {
      const KEY = 'gguf-web test hook: use this chat template';
      const e = await gw.Engine.load(url, { cache: false });
      const messages = [{ role: 'user', content: 'hello' }];
      const out = { results: {} };
      try {
        out.before = (await e.chat.completions.create({ messages, max_tokens: 3, temperature: 0 })).token_ids;
        try {
          e.text.__testWithTemplate('a key', '{{ 1 }}');
        } catch (err) {
          out.wrongKey = err.code;
        }
        for (const [name, src] of Object.entries(hostile)) {
          const t0 = performance.now();
          let res;
          try {
            const t = e.text.__testWithTemplate(KEY, src);
            try {
              t.applyChatTemplate(messages);
              res = { error: null };
            } finally {
              t.free();
            }
          } catch (err) {
            res = { code: err.code, name: gw.errorClass(err.code).name, messageBytes: String(err.message).length };
          }
          res.ms = performance.now() - t0;
          out.results[name] = res;
        }
        out.after = (await e.chat.completions.create({ messages, max_tokens: 3, temperature: 0 })).token_ids;
        out.wasmMiB = e.wasmMemoryBytes() / 2 ** 20;
      } finally {
        await e.unload();
      }
      return out;
    },
    { url: '/models/' + MODELS.smollm2, hostile: HOSTILE },
  );
  assert.equal(r.wrongKey, 'InvalidArgument', 'the hook refuses any other key');
  for (const [name, res] of Object.entries(r.results)) {
    assert.equal(res.code, 'TemplateError', `${name}: ${JSON.stringify(res)}`);
    assert.ok(res.ms < 2000, `${name}: ${res.ms.toFixed(0)} ms`);
    assert.ok(res.messageBytes <= 1200, `${name}: a ${res.messageBytes}-byte message`);
  }
  assert.deepEqual(r.after, r.before, 'the engine answers as before');
  console.log(Object.entries(r.results).map(([n, x]) => `${n}: ${x.ms.toFixed(0)} ms`).join('; '), `; WASM memory ${r.wasmMiB.toFixed(1)} MiB`);
});
