// Headless Chromium has WebGPU (SwiftShader) and the test server does what the browser package needs:
// cross-origin isolation, byte ranges on the model, and faults on demand.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { start } from './server.mjs';
import { launchBrowser, newPage, pageLog, screenshot, REPO_ROOT } from './harness.mjs';

const MODEL = 'models/SmolLM2-135M-Instruct.Q4_1.gguf';
const MODEL_SIZE = fs.statSync(path.join(REPO_ROOT, MODEL)).size;

let srv;
let browser;
let page;

before(async () => {
  srv = await start();
  browser = await launchBrowser();
  page = await newPage(browser, srv.url + 'tests/browser/pages/webgpu.html');
});

after(async () => {
  await browser?.close();
  await srv?.close();
});

test('WebGPU adapter and device (SwiftShader)', async (t) => {
  const r = await page.evaluate(() => window.webgpuResult);
  await screenshot(page, 'webgpu');
  assert.ok(r.hasGpu, 'navigator.gpu exists');
  assert.equal(r.error, undefined, `probe error: ${r.error}`);
  t.diagnostic(`adapter ${JSON.stringify(r.adapter)}`);
  t.diagnostic(`features ${r.features.join(' ')}`);
  t.diagnostic(
    `maxStorageBufferBindingSize ${r.limits.maxStorageBufferBindingSize} maxBufferSize ${r.limits.maxBufferSize} ` +
      `maxComputeWorkgroupStorageSize ${r.limits.maxComputeWorkgroupStorageSize}`,
  );
  assert.equal(r.adapter.architecture, 'swiftshader');
  assert.ok(r.features.includes('subgroups'), 'subgroups feature');
  assert.ok(r.features.includes('timestamp-query'), 'timestamp-query feature');
  assert.ok(r.limits.maxStorageBufferBindingSize >= 128 << 20, 'storage binding >= 128 MiB');
  assert.equal(r.deviceLimits.maxStorageBufferBindingSize, r.limits.maxStorageBufferBindingSize, 'device got the raised limit');
  assert.ok(r.computeOk, `compute shader result ${r.computeSample}`);
  assert.equal(r.uncapturedError, null);
  assert.equal(r.ok, true);
  assert.deepEqual(pageLog(page).errors, []);
});

test('page is cross-origin isolated (COOP/COEP)', async () => {
  const r = await page.evaluate(() => ({
    isolated: self.crossOriginIsolated,
    sab: typeof SharedArrayBuffer === 'function',
  }));
  assert.deepEqual(r, { isolated: true, sab: true });
});

test('Range request on the model from the page: 206, "GGUF"', async () => {
  srv.log.reset();
  const r = await page.evaluate(async (url) => {
    const res = await fetch(url, { headers: { Range: 'bytes=0-3' } });
    const bytes = new Uint8Array(await res.arrayBuffer());
    return {
      status: res.status,
      contentRange: res.headers.get('content-range'),
      contentLength: res.headers.get('content-length'),
      magic: String.fromCharCode(...bytes),
    };
  }, '/' + MODEL);
  assert.deepEqual(r, {
    status: 206,
    contentRange: `bytes 0-3/${MODEL_SIZE}`,
    contentLength: '4',
    magic: 'GGUF',
  });
  const entries = srv.log.filter(MODEL);
  assert.equal(entries.length, 1);
  assert.equal(entries[0].range, 'bytes=0-3');
  assert.equal(entries[0].status, 206);
  assert.equal(entries[0].bytes, 4);

  const tail = await page.evaluate(async (url) => {
    const res = await fetch(url, { headers: { Range: 'bytes=-8' } });
    return { status: res.status, n: (await res.arrayBuffer()).byteLength, cr: res.headers.get('content-range') };
  }, '/' + MODEL);
  assert.deepEqual(tail, { status: 206, n: 8, cr: `bytes ${MODEL_SIZE - 8}-${MODEL_SIZE - 1}/${MODEL_SIZE}` });

  const bad = await page.evaluate(async (url) => (await fetch(url, { headers: { Range: 'bytes=999999999999-' } })).status, '/' + MODEL);
  assert.equal(bad, 416);
});

test('cut-off download: reading the body fails or comes up short', async (t) => {
  srv.log.reset();
  const cut = 3 << 20;
  const r = await page.evaluate(async (url) => {
    const res = await fetch(url);
    let received = 0;
    try {
      const reader = res.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        received += value.byteLength;
      }
      return { status: res.status, received, error: null };
    } catch (err) {
      return { status: res.status, received, error: String(err) };
    }
  }, `/${MODEL}?cut=${cut}`);
  t.diagnostic(`cut at ${cut}: ${JSON.stringify(r)}`);
  assert.equal(r.status, 200);
  assert.ok(r.error !== null || r.received < MODEL_SIZE, `expected a failure, got ${JSON.stringify(r)}`);
  assert.ok(r.received <= cut, `received ${r.received} > cut ${cut}`);
  const [e] = srv.log.filter(MODEL);
  assert.equal(e.cut, true);
  assert.equal(e.bytes, cut);
});

test('injected 404 and 503 reach the page', async () => {
  const r = await page.evaluate(async () => [
    (await fetch('/__404/' + 'whatever.gguf')).status,
    (await fetch('/package.json?status=503')).status,
  ]);
  assert.deepEqual(r, [404, 503]);
});

test('without COOP/COEP the page is not isolated', async () => {
  const plain = await start({ coopCoep: false });
  try {
    const p = await newPage(browser, plain.url + 'tests/browser/pages/webgpu.html');
    const r = await p.evaluate(async () => ({ isolated: self.crossOriginIsolated, ok: (await window.webgpuResult).ok }));
    assert.deepEqual(r, { isolated: false, ok: true });
    await p.close();
  } finally {
    await plain.close();
  }
});
