// The demo chat: the engine runs in a Web Worker (WorkerEngine), so the page stays responsive while
// the model streams its reply.
import { WorkerEngine } from '../pkg/src/index.js';

const $ = (id) => document.getElementById(id);
const ui = {
  url: $('url'), loadBtn: $('loadBtn'), progress: $('progress'), status: $('status'), chat: $('chat'),
  input: $('input'), sendBtn: $('sendBtn'), stopBtn: $('stopBtn'), speed: $('speed'), form: $('composer'),
  mode: $('mode'), toolChoice: $('toolChoice'), schema: $('schema'), tools: $('tools'),
};
let engine = null;
let messages = [];
let abort = null;

const params = new URLSearchParams(location.search);
if (params.get('model')) ui.url.value = params.get('model');

function mib(n) {
  return (n / 1048576).toFixed(1) + ' MiB';
}

function bubble(role, text = '') {
  const d = document.createElement('div');
  d.className = 'msg ' + role;
  d.textContent = text;
  ui.chat.append(d);
  ui.chat.scrollTop = ui.chat.scrollHeight;
  return d;
}

/** The request's structured-output fields for the chosen mode (the JSON boxes parsed). */
function structured() {
  if (ui.mode.value === 'schema') {
    return { response_format: { type: 'json_schema', json_schema: { name: 'reply', schema: JSON.parse(ui.schema.value) } } };
  }
  if (ui.mode.value === 'tools') return { tools: JSON.parse(ui.tools.value), tool_choice: ui.toolChoice.value };
  return {};
}

/** Calls as they stream in: `name({...arguments})`, one per line. */
function showCalls(calls) {
  return calls.map((c) => `tool call: ${c.function.name}(${c.function.arguments})`).join('\n');
}

function setBusy(generating) {
  ui.input.disabled = !engine || generating;
  ui.sendBtn.disabled = !engine || generating;
  ui.stopBtn.disabled = !generating;
}

ui.loadBtn.addEventListener('click', async () => {
  ui.loadBtn.disabled = true;
  ui.progress.hidden = false;
  ui.progress.value = 0;
  if (engine) {
    await engine.unload();
    engine = null;
  }
  messages = [];
  ui.chat.replaceChildren();
  setBusy(false);
  const t0 = performance.now();
  try {
    engine = await WorkerEngine.load(ui.url.value, {
      onProgress: (p) => {
        ui.progress.value = p.total ? p.loaded / p.total : 0;
        ui.status.textContent = `${p.phase}: ${mib(p.loaded)} of ${mib(p.total)}`;
      },
    });
    const i = engine.info;
    ui.status.textContent = `${i.name || i.architecture} · ${i.architecture} · ${i.parameters.layers} layers · context ${i.contextLength} · license ${i.license || 'not stated'} · ${i.backend === 'cpu' ? `CPU, ${i.threads} thread${i.threads > 1 ? 's' : ''}` : i.adapter} · loaded in ${((performance.now() - t0) / 1000).toFixed(1)} s`;
    document.body.dataset.loaded = '1';
  } catch (e) {
    ui.status.textContent = `${e.name}: ${e.message}`;
  } finally {
    ui.progress.hidden = true;
    ui.loadBtn.disabled = false;
    setBusy(false);
  }
});

ui.form.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const text = ui.input.value.trim();
  if (!engine || !text) return;
  ui.input.value = '';
  messages.push({ role: 'user', content: text });
  bubble('user', text);
  const out = bubble('assistant');
  abort = new AbortController();
  setBusy(true);
  let reply = '';
  const calls = [];
  try {
    const extra = structured();
    const stream = await engine.chat.completions.create({ messages, stream: true, max_tokens: 256, temperature: 0.7, top_p: 0.95, signal: abort.signal, ...extra });
    for await (const chunk of stream) {
      const delta = chunk.choices[0].delta;
      reply += delta.content || '';
      // Tool calls arrive as fragments: a start (id, name), then pieces of the arguments.
      for (const t of delta.tool_calls || []) {
        if (t.id) calls[t.index] = { id: t.id, type: 'function', function: { name: t.function.name, arguments: '' } };
        calls[t.index].function.arguments += t.function.arguments;
      }
      out.textContent = [reply, showCalls(calls)].filter(Boolean).join('\n');
      if (calls.length) out.classList.add('tool');
      if (chunk.choices[0].finish_reason) out.dataset.finish = chunk.choices[0].finish_reason;
      ui.chat.scrollTop = ui.chat.scrollHeight;
      if (chunk.usage) {
        const u = chunk.usage;
        ui.speed.textContent = `${u.decode_tokens_per_second.toFixed(1)} tok/s · prefill ${u.prefill_tokens_per_second.toFixed(1)} tok/s · ${u.completion_tokens} tokens`;
      }
    }
  } catch (e) {
    if (e.name !== 'AbortError') bubble('error', `${e.name}: ${e.message}`);
  } finally {
    messages.push(calls.length ? { role: 'assistant', content: reply || null, tool_calls: calls } : { role: 'assistant', content: reply });
    out.dataset.done = '1';
    abort = null;
    setBusy(false);
    ui.input.focus();
  }
});

ui.input.addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && !e.shiftKey) {
    e.preventDefault();
    ui.form.requestSubmit();
  }
});

ui.stopBtn.addEventListener('click', () => abort && abort.abort());
