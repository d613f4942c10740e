// Tool calls in the browser, page and worker (issue 17): `tools` and `tool_choice` on SmolLM2 at
// temperature 1, every call's arguments checked here by an independent JSON Schema validator
// (ajv; json-schema.test.mjs does the same for `response_format`); streamed `delta.tool_calls` reassemble to the reply of
// the same seed; history with past calls and tool results renders; bad tools fail before any token.
// SmolLM2's template has no tool support: the generic form (docs/api.md, "Tool calls").
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import Ajv2020 from 'ajv/dist/2020.js';
import { launchBrowser, newPage } from './harness.mjs';
import { start } from './server.mjs';
import { MODELS } from './golden.mjs';

const TOOLS = [
  {
    type: 'function',
    function: {
      name: 'get_weather',
      description: 'The weather in a city',
      parameters: {
        type: 'object',
        properties: { city: { type: 'string', maxLength: 12 }, unit: { type: 'string', enum: ['celsius', 'fahrenheit'] } },
        required: ['city', 'unit'],
        additionalProperties: false,
      },
    },
  },
  {
    type: 'function',
    function: {
      name: 'add',
      description: 'Adds two integers',
      parameters: {
        type: 'object',
        properties: { a: { type: 'integer', minimum: -1000, maximum: 1000 }, b: { type: 'integer', minimum: -1000, maximum: 1000 } },
        required: ['a', 'b'],
        additionalProperties: false,
      },
    },
  },
];

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
  // The page's engine on WebGPU (SwiftShader: the constraint's mask pass on the GPU), the worker's
  // on the CPU path (its masked draw on the CPU), so both backends and both hosts are covered.
  await page.evaluate(async (file) => {
    window.engine = await gw.Engine.load('/models/' + file, { cache: false, backend: 'webgpu' });
    window.workerEngine = await gw.WorkerEngine.load('/models/' + file, { cache: false, backend: 'cpu' });
    window.hosts = { Engine: window.engine, WorkerEngine: window.workerEngine };
  }, MODELS.smollm2);
});
after(async () => {
  if (browser) await browser.close();
  if (srv) await srv.close();
});

test('tool calls validate in the page and the worker; streamed deltas add up to the reply', async () => {
  const r = await page.evaluate(async (tools) => {
    const messages = [{ role: 'user', content: 'What is the weather in Paris, and what is 2 + 3?' }];
    const runs = [
      { choice: 'required', seed: 1 },
      { choice: { type: 'function', function: { name: 'add' } }, seed: 3 },
      { choice: 'auto', seed: 4 },
    ];
    const out = {};
    for (const [name, e] of Object.entries(hosts)) {
      const res = [];
      for (const { choice, seed } of runs) {
        const t0 = performance.now();
        const c = await e.chat.completions.create({ messages, tools, tool_choice: choice, parallel_tool_calls: choice === 'auto', temperature: 1, seed, max_tokens: 60 });
        console.log(`${name} ${JSON.stringify(choice)} seed ${seed}: ${c.usage.completion_tokens} tokens in ${(performance.now() - t0).toFixed(0)} ms`);
        res.push({ choice, seed, message: c.choices[0].message, finish: c.choices[0].finish_reason });
      }
      // The same request streamed: the fragments, joined as a client joins them.
      const stream = await e.chat.completions.create({ messages, tools, tool_choice: 'required', parallel_tool_calls: false, temperature: 1, seed: 1, max_tokens: 60, stream: true });
      const calls = [];
      let content = '';
      let finish = null;
      for await (const ch of stream) {
        const d = ch.choices[0].delta;
        content += d.content;
        for (const t of d.tool_calls || []) {
          if (t.id) calls[t.index] = { id: t.id, type: t.type, function: { name: t.function.name, arguments: '' } };
          calls[t.index].function.arguments += t.function.arguments;
        }
        finish = ch.choices[0].finish_reason ?? finish;
      }
      // History: the call, its result, and the model answers (the template renders it all).
      const first = res[0].message.tool_calls[0];
      const followUp = await e.chat.completions.create({
        messages: [...messages, { role: 'assistant', content: null, tool_calls: [first] }, { role: 'tool', tool_call_id: first.id, content: '{"temp": 21}' }],
        tools,
        temperature: 0,
        max_tokens: 4,
      });
      const prompt = await e.applyChatTemplate([...messages, { role: 'assistant', content: null, tool_calls: [first] }], { tools });
      out[name] = { res, streamed: { calls, content, finish }, followUp: followUp.choices[0], prompt };
    }
    return out;
  }, TOOLS);
  const params = Object.fromEntries(TOOLS.map((t) => [t.function.name, t.function.parameters]));
  for (const [host, o] of Object.entries(r)) {
    let calls = 0;
    for (const { choice, seed, message, finish } of o.res) {
      const what = `${host} ${JSON.stringify(choice)} seed ${seed}`;
      const must = choice !== 'auto';
      if (must) {
        assert.equal(finish, 'tool_calls', `${what}: ${JSON.stringify(message)}`);
        assert.ok(message.tool_calls.length === 1 && message.content === null, `${what}: ${JSON.stringify(message)}`);
      }
      for (const c of message.tool_calls || []) {
        assert.equal(c.type, 'function');
        assert.match(c.id, /^[a-zA-Z0-9]{9}$/);
        if (typeof choice === 'object') assert.equal(c.function.name, choice.function.name, what);
        assert.ok(params[c.function.name], `${what}: calls ${c.function.name}`);
        assertValid(params[c.function.name], c.function.arguments, `${what} ${c.function.name}`);
        calls++;
      }
      if (!message.tool_calls) assert.equal(typeof message.content, 'string', what);
    }
    assert.ok(calls >= 2, `${host}: ${calls} calls`); // required and named: one each (parallel_tool_calls: false)
    assert.deepEqual(o.streamed.calls, o.res[0].message.tool_calls, `${host}: the stream adds up to the reply of the same seed`);
    assert.equal(o.streamed.finish, 'tool_calls', host);
    assert.ok(o.followUp.message.content.length > 0, `${host}: an answer after the tool result`);
    // The past call is in the prompt, in the generic form, with the arguments as written.
    const a = o.res[0].message.tool_calls[0].function;
    assert.ok(o.prompt.includes(`{"tool_calls": [{"name": "${a.name}", "arguments": `), `${host}: ${o.prompt}`);
  }
});

test('bad tools and tool choices reject with InvalidArgumentError naming the field, before any token', async () => {
  const r = await page.evaluate(async (tools) => {
    const messages = [{ role: 'user', content: 'hi' }];
    const bad = [
      { tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: { x: { type: 'frob' } } } } }] },
      { tools, tool_choice: { type: 'function', function: { name: 'nope' } } },
      { tools: [{ type: 'function', function: { name: 'bad name' } }] },
      { tools, response_format: { type: 'json_object' } },
    ];
    const out = {};
    for (const [name, e] of Object.entries(hosts)) {
      out[name] = [];
      for (const b of bad) {
        try {
          await e.chat.completions.create({ messages, max_tokens: 4, ...b });
          out[name].push(null);
        } catch (err) {
          out[name].push({ name: err.name, message: err.message });
        }
      }
      // The engine answers normally afterwards.
      out[name].push((await e.chat.completions.create({ messages, max_tokens: 2, temperature: 0 })).choices[0].finish_reason);
    }
    return out;
  }, TOOLS);
  for (const [host, errs] of Object.entries(r)) {
    const fields = ['tools[0].function.parameters', 'tool_choice', 'tools[0].function.name', 'not both'];
    fields.forEach((f, i) => {
      assert.equal(errs[i] && errs[i].name, 'InvalidArgumentError', `${host}: ${JSON.stringify(errs[i])}`);
      assert.ok(errs[i].message.includes(f), `${host}: ${errs[i].message}`);
    });
    assert.ok(['stop', 'length'].includes(errs[4]), host);
  }
});
