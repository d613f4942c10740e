// A small static HTTP server for the browser tests and benchmarks (node:http only, no framework).
//
//   import { start } from './server.mjs';
//   const srv = await start();                 // serves the repository root on http://127.0.0.1:<random>/
//   ... srv.url, srv.port, srv.log.entries, srv.log.reset() ...
//   await srv.close();
//
//   node tests/browser/server.mjs [--port N] [--root DIR] [--no-coop-coep] [--quiet]   # prints the URL
//
// What it does:
// - binds 127.0.0.1 only; port 0 picks a free port;
// - MIME types for .wasm .js .mjs .json .html .gguf and a few more; a directory serves its index.html;
// - single HTTP ranges (`bytes=a-b`, `bytes=a-`, `bytes=-n`): 206 with Content-Range and Content-Length;
//   416 (with `Content-Range: bytes */SIZE`) for anything else: unsatisfiable, malformed or several ranges;
//   `Accept-Ranges: bytes` on full responses; HEAD; ETag and Last-Modified with If-None-Match (304) and
//   If-Range;
// - bodies are streamed from disk (fs streams, backpressure), never read whole into memory;
// - COOP/COEP (+ CORP) headers on every response unless `coopCoep: false`, so pages are cross-origin
//   isolated (SharedArrayBuffer, wasm threads);
// - `Cache-Control: no-cache` by default, so the browser's HTTP cache revalidates every time and every load
//   shows up in the request log (a 304 when nothing changed);
// - a request log: one entry per request, created when it arrives and updated as bytes go out (see
//   RequestLog); also readable from a page: `GET /__log` (JSON), `GET /__log?reset=1` (read and clear);
// - fault injection, as query parameters on any file path:
//     ?cut=N      send the headers (with the full Content-Length), then N bytes of body, then close the
//                 connection: a download cut off mid-file;
//     ?delay=MS   wait MS milliseconds before each body chunk;
//     ?chunk=N    body chunk size in bytes (default 64 KiB), to make delay/cut finer grained;
//     ?status=N   answer status N (e.g. 500, 503) with a short text body instead of the file;
//     ?norange=1  ignore Range headers (answer 200 with the whole file, no Accept-Ranges), like a server
//                 without range support;
//   and any path starting with /__404 answers 404;
// - mounted files that change between requests (`srv.mount(path, {versions, validators})`): a test
//   switches the version a path serves (same size, other bytes), picks the validators the server
//   sends (ETag, Last-Modified, both or neither), or takes the server down for that path.
import http from 'node:http';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
/** The repository root (two levels above this file); the default document root. */
export const REPO_ROOT = path.resolve(HERE, '..', '..');

/** Content types by file extension (lower case, with the dot). Anything else: application/octet-stream. */
export const MIME_TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.htm': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.cjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.gguf': 'application/octet-stream',
  '.bin': 'application/octet-stream',
  '.css': 'text/css; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.md': 'text/markdown; charset=utf-8',
  '.ts': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.ico': 'image/x-icon',
};

const DEFAULT_CHUNK = 64 * 1024;

/**
 * The request log. `entries` is a live array; each entry is
 *   { id, t, method, path, query, range, status, bytes, done, aborted, cut, ms }
 * where `t` is ms since the server started, `path` the decoded pathname, `query` the raw search string
 * ('' when none), `range` the Range header or null, `bytes` the body bytes written so far, `done` true
 * once the response is over (finished or aborted), `aborted` true when the connection closed before the
 * whole body went out, `cut` true when a ?cut= fault closed it, `ms` the duration once done.
 * Requests for /__log itself are not logged.
 */
export class RequestLog {
  constructor() {
    this.entries = [];
    this.nextId = 1;
  }
  /** Forget every entry (in-flight requests keep updating their own, now detached, entries). */
  reset() {
    this.entries = [];
  }
  /**
   * Entries matching `filter`: a string (the path ends with it, e.g. '.gguf' or '/models/x.gguf'),
   * a RegExp (tested on the path) or a function(entry) -> boolean. No filter: all entries.
   */
  filter(filter) {
    if (filter == null) return [...this.entries];
    let pred = filter;
    if (typeof filter === 'string') pred = (e) => e.path.endsWith(filter);
    else if (filter instanceof RegExp) pred = (e) => filter.test(e.path);
    return this.entries.filter(pred);
  }
  /** Total body bytes sent for the matching entries. */
  bytes(filter) {
    return this.filter(filter).reduce((n, e) => n + e.bytes, 0);
  }
  toJSON() {
    return this.entries;
  }
}

/** The Last-Modified date of a mounted file's version `i` (whole seconds, one hour apart). */
const MOUNT_EPOCH = Date.UTC(2026, 0, 1);

/**
 * A path served from one of several files, switchable by a test (see `start().mount`):
 *   versions    the files (absolute paths) it can serve; a test sets `version` (an index) at any time
 *   validators  'both' (default), 'etag', 'last-modified' or 'none': what the responses carry; version i
 *               has ETag `"NAME-vI"` and Last-Modified MOUNT_EPOCH + i hours
 *   select      optional (n) => index: the version of this path's n-th request (1-based), instead of
 *               `version` (to change the file between two requests of one load)
 *   down        true: requests for the path get their connection closed unanswered (an unreachable
 *               server, as fetch sees it)
 *   requests    how many requests the path has had (counted from the mount)
 */
export class Mount {
  constructor(urlPath, { versions, validators = 'both', version = 0, select = null } = {}) {
    if (!Array.isArray(versions) || versions.length === 0) throw new Error('mount: versions must be a non-empty array of files');
    if (!['both', 'etag', 'last-modified', 'none'].includes(validators)) throw new Error(`mount: bad validators ${validators}`);
    this.path = urlPath;
    this.versions = versions.map((f) => path.resolve(f));
    this.validators = validators;
    this.version = version;
    this.select = select;
    this.down = false;
    this.requests = 0;
  }

  /** The file, ETag and Last-Modified (null when not sent) of the next request. */
  next() {
    this.requests++;
    const i = this.select ? this.select(this.requests) : this.version;
    const file = this.versions[i];
    if (!file) throw new Error(`mount ${this.path}: no version ${i}`);
    const name = path.basename(this.path).replace(/[^A-Za-z0-9._-]/g, '_');
    const etag = this.validators === 'both' || this.validators === 'etag' ? `"${name}-v${i}"` : null;
    const lastModified = this.validators === 'both' || this.validators === 'last-modified' ? new Date(MOUNT_EPOCH + i * 3600e3).toUTCString() : null;
    return { file, etag, lastModified };
  }
}

/** Parse a Range header against a size: {start, end} (inclusive), or null when it cannot be served. */
export function parseRange(header, size) {
  const m = /^bytes=(\d*)-(\d*)$/.exec(String(header).trim());
  if (!m || (m[1] === '' && m[2] === '')) return null; // malformed, several ranges, or "bytes=-"
  let start;
  let end;
  if (m[1] === '') {
    const n = Number(m[2]); // suffix: the last n bytes
    if (n === 0 || size === 0) return null;
    start = Math.max(0, size - n);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
    if (start >= size || start > end) return null;
  }
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end)) return null;
  return { start, end };
}

function intParam(query, name) {
  const v = query.get(name);
  if (v == null || v === '') return null;
  const n = Number(v);
  return Number.isFinite(n) && n >= 0 ? Math.floor(n) : null;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Start a server.
 * @param {object} [opts]
 * @param {string} [opts.root]          document root (default: the repository root)
 * @param {number} [opts.port]          0 (default) for a free port
 * @param {boolean} [opts.coopCoep]     send COOP/COEP/CORP (default true)
 * @param {string|null} [opts.cacheControl]  Cache-Control for files (default 'no-cache'; null: none)
 * @param {(entry) => void} [opts.onRequest] called with each log entry once its response is over
 * @returns {Promise<{url: string, port: number, root: string, log: RequestLog, server: http.Server,
 *                    close: () => Promise<void>}>}  `url` ends with '/'
 */
export async function start({
  root = REPO_ROOT,
  port = 0,
  coopCoep = true,
  cacheControl = 'no-cache',
  onRequest = null,
} = {}) {
  root = path.resolve(root);
  const log = new RequestLog();
  const t0 = performance.now();
  /** Mounted paths (decoded pathname -> Mount). */
  const mounts = new Map();

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err) => {
      if (!res.headersSent) {
        res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' });
        res.end(`500 ${err && err.message}\n`);
      } else {
        res.destroy();
      }
    });
  });

  function commonHeaders(res) {
    if (coopCoep) {
      res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
      res.setHeader('Cross-Origin-Embedder-Policy', 'require-corp');
      res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
    }
  }

  function sendText(res, status, text, extra = {}) {
    const body = Buffer.from(text + '\n');
    res.writeHead(status, {
      'Content-Type': 'text/plain; charset=utf-8',
      'Content-Length': body.length,
      'Cache-Control': 'no-store',
      ...extra,
    });
    if (res.req.method === 'HEAD') res.end();
    else res.end(body);
  }

  async function handle(req, res) {
    const u = new URL(req.url, 'http://127.0.0.1');
    let pathname;
    try {
      pathname = decodeURIComponent(u.pathname);
    } catch {
      pathname = u.pathname;
    }
    commonHeaders(res);

    // The log, readable from pages; not logged itself.
    if (pathname === '/__log') {
      const body = JSON.stringify(log.entries);
      if (u.searchParams.has('reset')) log.reset();
      res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' });
      res.end(body);
      return;
    }

    const entry = {
      id: log.nextId++,
      t: Math.round(performance.now() - t0),
      method: req.method,
      path: pathname,
      query: u.search,
      range: req.headers.range ?? null,
      status: 0,
      bytes: 0,
      done: false,
      aborted: false,
      cut: false,
      ms: null,
    };
    log.entries.push(entry);
    const started = performance.now();
    res.on('close', () => {
      entry.done = true;
      entry.status = res.statusCode;
      entry.aborted = !res.writableFinished;
      entry.ms = Math.round(performance.now() - started);
      if (onRequest) onRequest(entry);
    });
    const writeHead = res.writeHead;
    res.writeHead = function (status, ...rest) {
      entry.status = status;
      return writeHead.call(this, status, ...rest);
    };

    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return sendText(res, 405, '405 method not allowed', { Allow: 'GET, HEAD' });
    }
    const mount = mounts.get(pathname);
    if (mount && mount.down) {
      entry.aborted = true;
      req.socket.destroy();
      return;
    }
    if (pathname.startsWith('/__404')) return sendText(res, 404, '404 not found (injected)');
    const status = intParam(u.searchParams, 'status');
    if (status != null && status >= 200 && status <= 599) {
      return sendText(res, status, `${status} (injected)`);
    }
    if (mount) {
      const { file, etag, lastModified } = mount.next();
      const st = await fsp.stat(file);
      return serveFile(req, res, u, entry, file, st.size, etag, lastModified);
    }

    // Resolve inside the root; never outside it.
    let file = path.resolve(root, '.' + path.posix.normalize('/' + pathname));
    if (file !== root && !file.startsWith(root + path.sep)) return sendText(res, 403, '403 forbidden');
    let st;
    try {
      st = await fsp.stat(file);
      if (st.isDirectory()) {
        if (!pathname.endsWith('/')) {
          return sendText(res, 301, 'moved', { Location: u.pathname + '/' + u.search });
        }
        file = path.join(file, 'index.html');
        st = await fsp.stat(file);
      }
    } catch (err) {
      if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return sendText(res, 404, '404 not found');
      if (err.code === 'EACCES') return sendText(res, 403, '403 forbidden');
      throw err;
    }
    if (!st.isFile()) return sendText(res, 403, '403 not a file');

    const size = st.size;
    const etag = `"${size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`;
    const lastModified = new Date(Math.floor(st.mtimeMs / 1000) * 1000).toUTCString();
    return serveFile(req, res, u, entry, file, size, etag, lastModified);
  }

  /** A file's answer: conditional requests, ranges, faults. `etag`/`lastModified` null: not sent. */
  async function serveFile(req, res, u, entry, file, size, etag, lastModified) {
    const noRange = u.searchParams.has('norange');
    const headers = { 'Content-Type': MIME_TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream' };
    if (etag) headers.ETag = etag;
    if (lastModified) headers['Last-Modified'] = lastModified;
    if (cacheControl) headers['Cache-Control'] = cacheControl;
    if (!noRange) headers['Accept-Ranges'] = 'bytes';

    // If-None-Match, else If-Modified-Since (RFC 9110 13.2.2): 304 when the client's copy is current.
    const inm = req.headers['if-none-match'];
    const ims = req.headers['if-modified-since'];
    const notModified = inm
      ? inm.split(',').some((t) => (etag && t.trim() === etag) || t.trim() === '*')
      : !!(ims && lastModified && Date.parse(lastModified) <= Date.parse(ims));
    if (notModified) {
      res.writeHead(304, headers);
      res.end();
      return;
    }

    let start = 0;
    let end = size - 1;
    let code = 200;
    let rangeHeader = req.headers.range;
    const ifRange = req.headers['if-range'];
    // If-Range: the range only while the validator matches exactly (a strong ETag or the date).
    if (rangeHeader && ifRange && !((etag && ifRange === etag) || (lastModified && ifRange === lastModified))) rangeHeader = undefined;
    if (rangeHeader && !noRange) {
      const r = parseRange(rangeHeader, size);
      if (!r) {
        return sendText(res, 416, '416 range not satisfiable', { 'Content-Range': `bytes */${size}` });
      }
      ({ start, end } = r);
      code = 206;
      headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
    }
    const length = size === 0 ? 0 : end - start + 1;
    headers['Content-Length'] = length;
    res.writeHead(code, headers);
    if (req.method === 'HEAD' || length === 0) {
      res.end();
      return;
    }
    await sendBody(req, res, file, start, end, u.searchParams, entry);
  }

  async function sendBody(req, res, file, start, end, query, entry) {
    const cut = intParam(query, 'cut');
    const delay = intParam(query, 'delay') ?? 0;
    const chunk = Math.max(1, intParam(query, 'chunk') ?? DEFAULT_CHUNK);
    const socket = req.socket;
    const cutNow = () => {
      entry.cut = true;
      socket.end(); // flush what was written, then FIN: the client sees fewer bytes than Content-Length
      // Only a safety net for a client that never reads on: destroying a socket whose send buffer
      // still holds data (a slow reader under load) resets the connection and drops those bytes.
      socket.once('finish', () => setTimeout(() => socket.destroy(), 1000).unref());
      setTimeout(() => socket.destroy(), 30_000).unref();
    };
    if (cut === 0) {
      res.flushHeaders();
      cutNow();
      return;
    }
    const rs = fs.createReadStream(file, { start, end, highWaterMark: chunk });
    const onClose = () => rs.destroy();
    res.on('close', onClose);
    try {
      for await (let buf of rs) {
        if (delay) await sleep(delay);
        if (res.destroyed) return;
        if (cut != null && entry.bytes + buf.length > cut) {
          buf = buf.subarray(0, cut - entry.bytes);
          entry.bytes += buf.length;
          res.write(buf, cutNow);
          return;
        }
        entry.bytes += buf.length;
        if (!res.write(buf)) {
          await new Promise((resolve) => {
            const done = () => {
              res.off('drain', done);
              res.off('close', done);
              resolve();
            };
            res.on('drain', done);
            res.on('close', done);
          });
        }
      }
      if (!res.destroyed) res.end();
    } catch {
      res.destroy();
    } finally {
      res.off('close', onClose);
      rs.destroy();
    }
  }

  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const actualPort = server.address().port;
  return {
    url: `http://127.0.0.1:${actualPort}/`,
    port: actualPort,
    root,
    log,
    server,
    /** Serves `urlPath` (e.g. '/__v/model.gguf') from switchable files; returns the `Mount` to steer it. */
    mount(urlPath, opts) {
      const m = new Mount(urlPath, opts);
      mounts.set(urlPath, m);
      return m;
    },
    unmount(urlPath) {
      mounts.delete(urlPath);
    },
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

// --- CLI -----------------------------------------------------------------------------------------------
function parseArgs(argv) {
  const opts = { port: 0, root: REPO_ROOT, coopCoep: true, quiet: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--port') opts.port = Number(val());
    else if (a.startsWith('--port=')) opts.port = Number(a.slice(7));
    else if (a === '--root') opts.root = val();
    else if (a.startsWith('--root=')) opts.root = a.slice(7);
    else if (a === '--no-coop-coep') opts.coopCoep = false;
    else if (a === '--quiet' || a === '-q') opts.quiet = true;
    else if (a === '--help' || a === '-h') {
      console.log('usage: node tests/browser/server.mjs [--port N] [--root DIR] [--no-coop-coep] [--quiet]');
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) throw new Error('bad --port');
  return opts;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (err) {
    console.error(`error: ${err.message}`);
    process.exit(1);
  }
  const srv = await start({
    root: opts.root,
    port: opts.port,
    coopCoep: opts.coopCoep,
    onRequest: opts.quiet
      ? null
      : (e) =>
          console.error(
            `${e.method} ${e.path}${e.query}${e.range ? ` [${e.range}]` : ''} -> ${e.status} ` +
              `${e.bytes} B${e.aborted ? ' (aborted)' : ''}${e.cut ? ' (cut)' : ''} ${e.ms} ms`,
          ),
  });
  console.log(srv.url);
  const stop = () => srv.close().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
