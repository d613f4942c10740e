// Downloads that the server's file changes under (issue 19): resumes carry If-Range, a cached file is
// revalidated, and a load never yields a mix of two versions. The server (server.mjs `mount`) serves
// one path from two files of the same size: SmolLM2 (A, whose greedy ids are llama.cpp's) and a copy
// with bytes flipped all over its weights (B). Which version a load got is proved by the bytes the
// package cached (their SHA-256, read from the page's Origin Private File System) and by A's ids.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { launchBrowser, newPage, OUT_DIR, REPO_ROOT } from './harness.mjs';
import { start } from './server.mjs';
import { MODELS } from './golden.mjs';

const A = path.join(REPO_ROOT, 'models', MODELS.smollm2);
const B = path.join(OUT_DIR, 'smollm2-changed.gguf');
// llama.cpp's first greedy ids for 'The capital of France is' (as engine.test.mjs).
const A_IDS = [7042, 30];
// Where a first attempt is cut off: past the header (1.8 MB) and well into the weights.
const CUT = 60_000_000;
const sha = (file) => crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
let shaA;
let shaB;
let srv;

before(async () => {
  fs.mkdirSync(OUT_DIR, { recursive: true });
  const bytes = fs.readFileSync(A);
  // Same size and header, other weights: 256 bytes flipped in every MiB from 4 MiB on.
  for (let at = 4 << 20; at < bytes.length; at += 1 << 20) {
    for (let i = at; i < Math.min(at + 256, bytes.length); i++) bytes[i] ^= 0xa5;
  }
  fs.writeFileSync(B, bytes);
  shaA = sha(A);
  shaB = sha(B);
  srv = await start();
});
after(async () => {
  if (srv) await srv.close();
  fs.rmSync(B, { force: true });
});

async function openPage() {
  const browser = await launchBrowser({});
  const page = await newPage(browser, srv.url + 'tests/browser/pages/engine.html');
  await page.waitForFunction(() => window.gwReady);
  await page.evaluate(() => {
    // The cached bytes of a URL (fetcher.js: OPFS gguf-web-cache/<sha256(href)>.bin) and their state.
    const hex = (buf) => [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, '0')).join('');
    window.cached = async (url) => {
      const href = new URL(url, location.href).href;
      const key = hex(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(href)));
      try {
        const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle('gguf-web-cache');
        const f = await (await dir.getFileHandle(key + '.bin')).getFile();
        const meta = JSON.parse(await (await (await dir.getFileHandle(key + '.json')).getFile()).text());
        return { sha: hex(await crypto.subtle.digest('SHA-256', await f.arrayBuffer())), meta };
      } catch {
        return null;
      }
    };
    // Loads `url` and answers what it generated (or the error's name and code).
    window.tryLoad = async (url, opts, generate = true) => {
      try {
        const e = await gw.Engine.load(url, opts);
        const ids = generate ? (await e.completions.create({ prompt: 'The capital of France is', max_tokens: 2, temperature: 0 })).token_ids : null;
        await e.unload();
        return { ids };
      } catch (err) {
        return { error: err.name, code: err.code, message: err.message, details: err.details };
      }
    };
  });
  return { browser, page };
}

const modelRequests = (p) => srv.log.filter((e) => e.path === p);

test('a download resumed after the file changed on the server restarts from zero: never a mixed model', async () => {
  const { browser, page } = await openPage();
  try {
    for (const validators of ['both', 'etag', 'last-modified', 'none']) {
      const p = `/__v/resume-${validators}.gguf`;
      const url = p + `?cut=${CUT}`;
      const m = srv.mount(p, { versions: [A, B], validators, version: 1 });
      // A first attempt at B, cut off: its first CUT bytes stay in the cache.
      // (How much of the cut response the page read before the connection closed varies; B's
      // flipped bytes start at 4 MiB. On a loaded machine an attempt has once failed before it read
      // past the header: such an attempt, which caches no B bytes to test with, is tried again.)
      let first;
      let partial;
      for (let attempt = 0; attempt < 3; attempt++) {
        first = await page.evaluate(([u]) => tryLoad(u, { retries: 0 }), [url]);
        assert.equal(first.error, 'NetworkError', `${validators}: the cut attempt fails (${JSON.stringify(first)})`);
        partial = await page.evaluate((u) => cached(u), url);
        if (partial && partial.meta.have > 8 << 20) break;
        console.log(`${validators}: a cut attempt cached ${partial && partial.meta.have} bytes (${first.message}); again`);
      }
      assert.ok(partial && !partial.meta.complete && partial.meta.have > 8 << 20, `${validators}: a partial entry (${JSON.stringify(partial && partial.meta)}; ${first.message})`);
      // The server now has A: the next load must not append A's tail to B's head.
      m.version = 0;
      srv.log.reset();
      const second = await page.evaluate((u) => tryLoad(u, { retries: 3 }), url);
      const got = await page.evaluate((u) => cached(u), url);
      const log = modelRequests(p).map((e) => `${e.status} ${e.range}`);
      assert.equal(got && got.sha, shaA, `${validators}: the cached bytes are A's, not a mix (requests: ${log})`);
      assert.deepEqual(second.ids, A_IDS, `${validators}: A's output (${JSON.stringify(second)})`);
      // Nothing was resumed from B's bytes: the weights were downloaded again from the start.
      assert.ok(modelRequests(p).reduce((n, e) => n + e.bytes, 0) >= 90e6, `${validators}: downloaded anew (${log})`);
      console.log(`resume after a change (${validators}): ${log.join(', ')}`);
      srv.unmount(p);
    }
  } finally {
    await browser.close();
  }
});

test('a file that changes during a load (between a cut and its resume) restarts the load from zero', async () => {
  const { browser, page } = await openPage();
  try {
    for (const validators of ['both', 'etag', 'last-modified']) {
      const p = `/__v/during-${validators}.gguf`;
      const url = p + `?cut=${CUT}`;
      // B until a response has been cut off, A afterwards: the resume meets another file.
      srv.mount(p, { versions: [A, B], validators, select: () => (srv.log.entries.some((e) => e.path === p && e.cut) ? 0 : 1) });
      srv.log.reset();
      const r = await page.evaluate((u) => tryLoad(u, { retries: 3 }), url);
      const got = await page.evaluate((u) => cached(u), url);
      const log = modelRequests(p).map((e) => `${e.status} ${e.range}${e.cut ? ' (cut)' : ''}`);
      assert.equal(got && got.sha, shaA, `${validators}: the cached bytes are A's (requests: ${log})`);
      assert.deepEqual(r.ids, A_IDS, `${validators}: A's output (${JSON.stringify(r)})`);
      assert.ok(modelRequests(p).some((e) => e.status === 200 && e.range), `${validators}: a resume answered 200 (${log})`);
      console.log(`change during a load (${validators}): ${log.join(', ')}`);
      srv.unmount(p);
    }
  } finally {
    await browser.close();
  }
});

test('a cached file is revalidated: unchanged, one 304 and no bytes; changed, downloaded anew; revalidate: false and an unreachable server use the cache', async () => {
  const { browser, page } = await openPage();
  try {
    for (const validators of ['both', 'last-modified', 'none']) {
      const p = `/__v/cache-${validators}.gguf`;
      const m = srv.mount(p, { versions: [A, B], validators });
      const first = await page.evaluate((u) => tryLoad(u, {}), p);
      assert.deepEqual(first.ids, A_IDS, `${validators}: first load`);
      assert.equal((await page.evaluate((u) => cached(u), p)).sha, shaA);
      // Unchanged.
      srv.log.reset();
      const again = await page.evaluate((u) => tryLoad(u, {}), p);
      assert.deepEqual(again.ids, A_IDS, `${validators}: second load`);
      const log = modelRequests(p);
      if (validators === 'none') {
        // Nothing to revalidate with: the cached copy is not trusted, the file is downloaded again.
        assert.ok(log.reduce((n, e) => n + e.bytes, 0) >= 90e6, `none: downloaded again (${JSON.stringify(log)})`);
      } else if (validators === 'both') {
        assert.deepEqual(log.map((e) => [e.status, e.bytes]), [[304, 0]], `${validators}: one conditional request answered 304`);
      } else {
        // Only a date: one byte with If-Range.
        assert.deepEqual(log.map((e) => [e.status, e.bytes, e.range]), [[206, 1, 'bytes=0-0']], `${validators}: one If-Range request for a byte`);
      }
      // Changed on the server.
      m.version = 1;
      srv.log.reset();
      const changed = await page.evaluate((u) => tryLoad(u, {}, false), p);
      assert.ok(!changed.error, JSON.stringify(changed));
      assert.equal((await page.evaluate((u) => cached(u), p)).sha, shaB, `${validators}: the cache holds the new file`);
      assert.ok(modelRequests(p).reduce((n, e) => n + e.bytes, 0) >= 90e6, `${validators}: downloaded anew`);
      // And back.
      m.version = 0;
      const back = await page.evaluate((u) => tryLoad(u, {}), p);
      assert.deepEqual(back.ids, A_IDS, `${validators}: back to A`);
      assert.equal((await page.evaluate((u) => cached(u), p)).sha, shaA);
      if (validators !== 'both') {
        srv.unmount(p);
        continue;
      }
      // Offline: revalidate: false makes no request at all, even though the server's file changed.
      m.version = 1;
      srv.log.reset();
      const offline = await page.evaluate((u) => tryLoad(u, { revalidate: false }), p);
      assert.deepEqual(offline.ids, A_IDS, 'revalidate: false loads the cached copy');
      assert.equal(modelRequests(p).length, 0, 'revalidate: false: no request');
      // An unreachable server: the conditional request fails, the cached copy is used.
      m.down = true;
      srv.log.reset();
      const down = await page.evaluate((u) => tryLoad(u, {}), p);
      assert.deepEqual(down.ids, A_IDS, `an unreachable server: the cached copy (${JSON.stringify(down)})`);
      // The fetcher may retry a request that failed (`retries`, 2 by default) before it falls back
      // to the cached copy: the CI run saw two attempts where a quieter run saw one.
      const attempts = modelRequests(p).length;
      assert.ok(attempts >= 1 && attempts <= 3, `attempts to revalidate against an unreachable server: ${attempts}`);
      srv.unmount(p);
    }
  } finally {
    await browser.close();
  }
});
