// The static test server (server.mjs) on its own, from Node: no browser needed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { start, parseRange } from './server.mjs';

let root;
let srv;
const BIG = 1 << 20; // 1 MiB fixture "model"
const bigBytes = Buffer.alloc(BIG);
for (let i = 0; i < BIG; i++) bigBytes[i] = (i * 2654435761) >>> 24;
bigBytes.write('GGUF', 0);

before(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'gguf-web-server-test-'));
  fs.writeFileSync(path.join(root, 'm.gguf'), bigBytes);
  fs.writeFileSync(path.join(root, 'a.wasm'), Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]));
  fs.writeFileSync(path.join(root, 'a.js'), 'export {};\n');
  fs.writeFileSync(path.join(root, 'a.mjs'), 'export {};\n');
  fs.writeFileSync(path.join(root, 'a.json'), '{}\n');
  fs.writeFileSync(path.join(root, 'empty.bin'), '');
  fs.mkdirSync(path.join(root, 'sub'));
  fs.writeFileSync(path.join(root, 'sub', 'index.html'), '<!doctype html><p>hi</p>\n');
  srv = await start({ root });
});

after(async () => {
  await srv.close();
  fs.rmSync(root, { recursive: true, force: true });
});

/** A raw request (no URL normalisation, no automatic headers beyond Host). */
function raw(method, pathname, headers = {}, port = srv.port) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: pathname, headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

test('parseRange', () => {
  assert.deepEqual(parseRange('bytes=0-3', 10), { start: 0, end: 3 });
  assert.deepEqual(parseRange('bytes=5-', 10), { start: 5, end: 9 });
  assert.deepEqual(parseRange('bytes=5-100', 10), { start: 5, end: 9 });
  assert.deepEqual(parseRange('bytes=-3', 10), { start: 7, end: 9 });
  assert.deepEqual(parseRange('bytes=-30', 10), { start: 0, end: 9 });
  for (const bad of ['bytes=10-', 'bytes=4-3', 'bytes=-0', 'bytes=-', 'bytes=0-1,3-4', 'items=0-1', 'bytes=a-b', '']) {
    assert.equal(parseRange(bad, 10), null, bad);
  }
  assert.equal(parseRange('bytes=0-', 0), null);
});

test('MIME types, isolation headers, directory index', async () => {
  const want = {
    'a.wasm': 'application/wasm',
    'a.js': 'text/javascript; charset=utf-8',
    'a.mjs': 'text/javascript; charset=utf-8',
    'a.json': 'application/json; charset=utf-8',
    'sub/': 'text/html; charset=utf-8',
    'm.gguf': 'application/octet-stream',
  };
  for (const [p, type] of Object.entries(want)) {
    const r = await fetch(srv.url + p);
    await r.arrayBuffer();
    assert.equal(r.status, 200, p);
    assert.equal(r.headers.get('content-type'), type, p);
    assert.equal(r.headers.get('cross-origin-opener-policy'), 'same-origin');
    assert.equal(r.headers.get('cross-origin-embedder-policy'), 'require-corp');
    assert.equal(r.headers.get('cross-origin-resource-policy'), 'same-origin');
  }
  const redirect = await raw('GET', '/sub');
  assert.equal(redirect.status, 301);
  assert.equal(redirect.headers.location, '/sub/');
});

test('full GET and HEAD', async () => {
  const r = await fetch(srv.url + 'm.gguf');
  const body = Buffer.from(await r.arrayBuffer());
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('accept-ranges'), 'bytes');
  assert.equal(r.headers.get('content-length'), String(BIG));
  assert.ok(body.equals(bigBytes));
  const h = await raw('HEAD', '/m.gguf');
  assert.equal(h.status, 200);
  assert.equal(h.headers['content-length'], String(BIG));
  assert.equal(h.body.length, 0);
  const e = await raw('GET', '/empty.bin');
  assert.equal(e.status, 200);
  assert.equal(e.body.length, 0);
});

test('single ranges answer 206 with Content-Range', async () => {
  const cases = [
    ['bytes=0-3', 0, 3],
    ['bytes=1000-', 1000, BIG - 1],
    ['bytes=-16', BIG - 16, BIG - 1],
    [`bytes=100-${BIG + 5}`, 100, BIG - 1],
  ];
  for (const [range, s, e] of cases) {
    const r = await raw('GET', '/m.gguf', { Range: range });
    assert.equal(r.status, 206, range);
    assert.equal(r.headers['content-range'], `bytes ${s}-${e}/${BIG}`, range);
    assert.equal(r.headers['content-length'], String(e - s + 1), range);
    assert.ok(r.body.equals(bigBytes.subarray(s, e + 1)), range);
  }
  const first = await raw('GET', '/m.gguf', { Range: 'bytes=0-3' });
  assert.equal(first.body.toString('latin1'), 'GGUF');
  const head = await raw('HEAD', '/m.gguf', { Range: 'bytes=10-19' });
  assert.equal(head.status, 206);
  assert.equal(head.headers['content-length'], '10');
  assert.equal(head.body.length, 0);
});

test('bad ranges answer 416', async () => {
  for (const range of [`bytes=${BIG}-`, 'bytes=9-3', 'bytes=0-1,4-5', 'bytes=x', 'bytes=-0']) {
    const r = await raw('GET', '/m.gguf', { Range: range });
    assert.equal(r.status, 416, range);
    assert.equal(r.headers['content-range'], `bytes */${BIG}`, range);
  }
  const r = await raw('GET', '/empty.bin', { Range: 'bytes=0-' });
  assert.equal(r.status, 416);
});

test('ETag: If-None-Match gives 304, a stale If-Range gives the whole file', async () => {
  const h = await raw('HEAD', '/m.gguf');
  const etag = h.headers.etag;
  assert.ok(etag && h.headers['last-modified']);
  assert.equal((await raw('GET', '/m.gguf', { 'If-None-Match': etag })).status, 304);
  const ok = await raw('GET', '/m.gguf', { Range: 'bytes=0-3', 'If-Range': etag });
  assert.equal(ok.status, 206);
  const stale = await raw('GET', '/m.gguf', { Range: 'bytes=0-3', 'If-Range': '"other"' });
  assert.equal(stale.status, 200);
  assert.equal(stale.body.length, BIG);
});

test('errors: 404, /__404, traversal, 405, injected status', async () => {
  assert.equal((await raw('GET', '/nope.bin')).status, 404);
  assert.equal((await raw('GET', '/__404/m.gguf')).status, 404);
  assert.equal((await raw('GET', '/m.gguf/x')).status, 404);
  const trav = await raw('GET', '/../../../../etc/passwd');
  assert.ok([403, 404].includes(trav.status), `traversal answered ${trav.status}`);
  assert.equal((await raw('GET', '/%2e%2e/%2e%2e/etc/passwd')).status === 200, false);
  assert.equal((await raw('POST', '/m.gguf')).status, 405);
  assert.equal((await raw('GET', '/m.gguf?status=503')).status, 503);
});

test('?cut=N closes the connection after N bytes', async () => {
  srv.log.reset();
  const r = await fetch(srv.url + 'm.gguf?cut=100000');
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('content-length'), String(BIG));
  await assert.rejects(r.arrayBuffer());
  const [e] = srv.log.filter('m.gguf');
  await new Promise((res) => setTimeout(res, 50));
  assert.equal(e.bytes, 100000);
  assert.equal(e.cut, true);
  assert.equal(e.aborted, true);
  // also inside a range, counting from the range's start
  const rr = await fetch(srv.url + 'm.gguf?cut=10&chunk=4', { headers: { Range: 'bytes=4-99' } });
  assert.equal(rr.status, 206);
  await assert.rejects(rr.arrayBuffer());
  // cut=0: headers only
  const r0 = await fetch(srv.url + 'm.gguf?cut=0');
  await assert.rejects(r0.arrayBuffer());
});

test('?delay=ms&chunk=N slows the body down', async () => {
  const t = performance.now();
  const r = await fetch(srv.url + 'm.gguf?delay=20&chunk=1024', { headers: { Range: 'bytes=0-4095' } });
  const body = Buffer.from(await r.arrayBuffer());
  const ms = performance.now() - t;
  assert.equal(body.length, 4096);
  assert.ok(ms >= 75, `4 chunks x 20 ms took ${ms.toFixed(0)} ms`);
});

test('?norange=1 ignores Range', async () => {
  const r = await raw('GET', '/m.gguf?norange=1', { Range: 'bytes=0-3' });
  assert.equal(r.status, 200);
  assert.equal(r.body.length, BIG);
  assert.equal(r.headers['accept-ranges'], undefined);
});

test('request log: entries, filter, bytes, reset, /__log', async () => {
  srv.log.reset();
  await raw('GET', '/m.gguf', { Range: 'bytes=0-99' });
  await raw('HEAD', '/a.json');
  await raw('GET', '/missing');
  const entries = srv.log.entries;
  assert.equal(entries.length, 3);
  assert.deepEqual(
    entries.map((e) => [e.method, e.path, e.range, e.status, e.bytes, e.done]),
    [
      ['GET', '/m.gguf', 'bytes=0-99', 206, 100, true],
      ['HEAD', '/a.json', null, 200, 0, true],
      ['GET', '/missing', null, 404, 0, true],
    ],
  );
  assert.equal(srv.log.filter('.gguf').length, 1);
  assert.equal(srv.log.filter(/^\/a\./).length, 1);
  assert.equal(srv.log.bytes('.gguf'), 100);
  const viaHttp = JSON.parse((await raw('GET', '/__log?reset=1')).body);
  assert.equal(viaHttp.length, 3);
  assert.equal(srv.log.entries.length, 0);
  srv.log.reset();
  assert.equal(srv.log.entries.length, 0);
});

test('coopCoep: false sends no isolation headers', async () => {
  const s = await start({ root, coopCoep: false });
  try {
    const r = await raw('HEAD', '/a.js', {}, s.port);
    assert.equal(r.status, 200);
    assert.equal(r.headers['cross-origin-opener-policy'], undefined);
    assert.equal(r.headers['cross-origin-embedder-policy'], undefined);
    assert.match(s.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
  } finally {
    await s.close();
  }
});

test('mounted versions: same size, other bytes, per-version validators, If-Range, conditional requests', async () => {
  const other = Buffer.from(bigBytes);
  for (let i = 1000; i < BIG; i += 4096) other[i] ^= 0xff;
  fs.writeFileSync(path.join(root, 'v0.bin'), bigBytes);
  fs.writeFileSync(path.join(root, 'v1.bin'), other);
  const versions = [path.join(root, 'v0.bin'), path.join(root, 'v1.bin')];
  try {
    for (const validators of ['both', 'etag', 'last-modified', 'none']) {
      const m = srv.mount('/__v/m.gguf', { versions, validators });
      const a = await raw('GET', '/__v/m.gguf', { Range: 'bytes=0-9999' });
      assert.equal(a.status, 206, validators);
      assert.ok(a.body.equals(bigBytes.subarray(0, 10000)));
      assert.equal('etag' in a.headers, validators === 'both' || validators === 'etag', `${validators}: ETag sent`);
      assert.equal('last-modified' in a.headers, validators === 'both' || validators === 'last-modified', `${validators}: Last-Modified sent`);
      const v = a.headers.etag ?? a.headers['last-modified'];
      // Unchanged: If-Range keeps the range, conditional requests answer 304.
      if (v) {
        assert.equal((await raw('GET', '/__v/m.gguf', { Range: 'bytes=10000-', 'If-Range': v })).status, 206);
        const cond = a.headers.etag ? { 'If-None-Match': a.headers.etag } : { 'If-Modified-Since': a.headers['last-modified'] };
        assert.equal((await raw('GET', '/__v/m.gguf', cond)).status, 304, `${validators}: 304`);
      }
      m.version = 1;
      // Changed: the same size, other bytes, other validators; If-Range answers the whole new file.
      const b = await raw('GET', '/__v/m.gguf', v ? { Range: 'bytes=10000-', 'If-Range': v } : { Range: 'bytes=10000-' });
      if (v) {
        assert.equal(b.status, 200, `${validators}: If-Range after a change`);
        assert.ok(b.body.equals(other));
        assert.notEqual(b.headers.etag ?? b.headers['last-modified'], v);
        const cond = a.headers.etag ? { 'If-None-Match': a.headers.etag } : { 'If-Modified-Since': a.headers['last-modified'] };
        assert.equal((await raw('GET', '/__v/m.gguf', cond)).status, 200, `${validators}: changed, no 304`);
      } else {
        assert.equal(b.status, 206);
        assert.ok(b.body.equals(other.subarray(10000)));
      }
      // Down: the connection closes unanswered.
      m.down = true;
      await assert.rejects(raw('GET', '/__v/m.gguf'));
      m.down = false;
    }
    // A version chosen per request: the file changes between two requests of one download.
    const m = srv.mount('/__v/m.gguf', { versions, select: (n) => (n <= 1 ? 0 : 1) });
    const first = await raw('GET', '/__v/m.gguf', { Range: 'bytes=0-99' });
    const second = await raw('GET', '/__v/m.gguf', { Range: 'bytes=100-', 'If-Range': first.headers.etag });
    assert.equal(second.status, 200);
    assert.equal(m.requests, 2);
    srv.unmount('/__v/m.gguf');
    assert.equal((await raw('GET', '/__v/m.gguf')).status, 404);
  } finally {
    srv.unmount('/__v/m.gguf');
  }
});
