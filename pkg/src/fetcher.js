// Getting a GGUF file's bytes: the header first (an HTTP Range request), then the rest as a
// stream of chunks, from the browser's Origin Private File System cache when it holds them and
// from the network otherwise. Downloaded bytes are written to the cache as they arrive, so a
// later load needs only a conditional request (revalidation) and an interrupted download resumes
// with a Range request from where it stopped. Nothing here holds more than one chunk of the file in
// memory.
//
// Never a mix of two versions of the file: the first response's validator (its strong ETag, else
// its Last-Modified) is kept with the cache entry and sent as `If-Range` with every later Range
// request, so a server whose file changed answers 200 (the whole new file) instead of a piece of it.
// Before a load, a partial entry is resumed only when its validator still matches, and a complete
// one is used only after a conditional request answered 304 (unless `revalidate: false`, or the
// server cannot be reached). A file that changes during a load fails it with a NetworkError whose
// `details.fileChanged` is true; `Engine.load` then starts again from zero.

import { AbortError, NetworkError } from './errors.js';

const PROBE_BYTES = 1 << 20;
const CACHE_DIR = 'gguf-web-cache';

function abortIfNeeded(signal) {
  if (signal && signal.aborted) throw new AbortError('the load was aborted');
}

async function sha256Hex(text) {
  const d = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
  return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * The validators of a response: `{ etag, lastModified }` (null when absent). A weak ETag (`W/"..."`)
 * cannot validate a Range request, so it is not kept.
 */
function validatorsOf(res) {
  const etag = res.headers.get('ETag');
  return { etag: etag && !etag.startsWith('W/') ? etag : null, lastModified: res.headers.get('Last-Modified') || null };
}

/** The `If-Range` value for validators: the ETag, else the Last-Modified date; null without either. */
function ifRangeOf(v) {
  return (v && (v.etag || v.lastModified)) || null;
}

/** Whether a response's validators contradict the expected ones (a header left out contradicts nothing). */
function changed(expected, res) {
  const got = validatorsOf(res);
  if (expected.etag && got.etag) return got.etag !== expected.etag;
  if (expected.lastModified && got.lastModified) return got.lastModified !== expected.lastModified;
  return false;
}

function fileChangedError(href) {
  return new NetworkError(`${href} changed on the server during the download`, { fileChanged: true });
}

/** One cached file (`<key>.bin`) and its state (`<key>.json`: url, size, have, complete, etag, lastModified). */
class CacheEntry {
  static async open(url) {
    try {
      if (!navigator.storage || !navigator.storage.getDirectory) return null;
      const root = await navigator.storage.getDirectory();
      const dir = await root.getDirectoryHandle(CACHE_DIR, { create: true });
      return new CacheEntry(dir, await sha256Hex(url), url);
    } catch {
      return null; // no OPFS (private mode, old browser): load without a cache
    }
  }

  constructor(dir, key, url) {
    this.dir = dir;
    this.key = key;
    this.url = url;
  }

  async meta() {
    try {
      const f = await (await this.dir.getFileHandle(this.key + '.json')).getFile();
      const m = JSON.parse(await f.text());
      return m.url === this.url ? m : null;
    } catch {
      return null;
    }
  }

  async setMeta(m) {
    const w = await (await this.dir.getFileHandle(this.key + '.json', { create: true })).createWritable();
    await w.write(JSON.stringify({ url: this.url, ...m }));
    await w.close();
  }

  async file() {
    return (await this.dir.getFileHandle(this.key + '.bin')).getFile();
  }

  /** A writable positioned at `at`, keeping the bytes before it. */
  async writer(at) {
    const h = await this.dir.getFileHandle(this.key + '.bin', { create: true });
    const w = await h.createWritable({ keepExistingData: at > 0 });
    if (at > 0) await w.truncate(at);
    await w.seek(at);
    return w;
  }

  async remove() {
    for (const name of [this.key + '.bin', this.key + '.json']) {
      try {
        await this.dir.removeEntry(name);
      } catch {
        /* not there */
      }
    }
  }
}

function parseTotal(res) {
  const cr = res.headers.get('Content-Range');
  const m = cr && /\/(\d+)\s*$/.exec(cr);
  if (m) return Number(m[1]);
  const len = res.headers.get('Content-Length');
  return len !== null ? Number(len) : NaN;
}

/**
 * Opens `url` for loading. Returns `{ total, prefix(end), chunks(from), commit(), discard(),
 * fromCacheComplete, stats }`: `prefix(end)` resolves to the first `end` bytes (at least),
 * `chunks(from)` iterates `{ offset, bytes }` to the end of the file, `commit()` marks the cache
 * entry complete, `discard()` deletes it (an integrity failure must leave nothing cached).
 * `stats.revalidated` says what became of a complete cache entry: 'not-modified' (a 304),
 * 'changed' (downloaded anew), 'unvalidated' (no validator kept: downloaded anew), 'unreachable'
 * (the server failed to answer: the cached copy is used), 'skipped' (`revalidate: false`), or null.
 */
export async function openModelFile(url, { signal, cache = true, retries = 2, revalidate = true, onProgress } = {}) {
  const href = new URL(url, globalThis.location ? globalThis.location.href : undefined).href;
  const entry = cache ? await CacheEntry.open(href) : null;
  let meta = entry ? await entry.meta() : null;
  const stats = { requests: 0, fromCache: 0, fromNetwork: 0, revalidated: null };
  // The validators of the version being loaded (the first response's, or the cache entry's): every
  // later Range request carries them as If-Range.
  let validators = null;

  /** One fetch; a failure to reach the server is a NetworkError, an abort an AbortError. */
  async function send(headers) {
    abortIfNeeded(signal);
    stats.requests++;
    try {
      return await fetch(href, { headers, signal, cache: 'no-store' });
    } catch (e) {
      if (signal && signal.aborted) throw new AbortError('the load was aborted');
      throw new NetworkError(`fetching ${href} failed: ${e.message || e}`);
    }
  }

  function checkRange(res) {
    if (res.status === 206 && !res.headers.get('Content-Range')) {
      // A cross-origin server must expose the header, or the file's size cannot be known.
      throw new NetworkError(`${href} answered a Range request without a readable Content-Range (a cross-origin server must send Access-Control-Expose-Headers: Content-Range)`);
    }
  }

  async function request(start, end) {
    const headers = {};
    if (start > 0 || end !== undefined) headers.Range = `bytes=${start}-${end === undefined ? '' : end - 1}`;
    const ifRange = ifRangeOf(validators);
    if (ifRange && headers.Range) headers['If-Range'] = ifRange;
    const res = await send(headers);
    if (!res.ok) throw new NetworkError(`HTTP ${res.status} ${res.statusText} for ${href}`, { status: res.status });
    // A 200 to an If-Range request (or any answer with other validators) is another version of the file.
    if (validators && changed(validators, res)) {
      res.body && res.body.cancel().catch(() => {});
      throw fileChangedError(href);
    }
    if (start > 0 && res.status !== 206) {
      res.body && res.body.cancel().catch(() => {});
      throw new NetworkError(`the server ignored the Range request for ${href} (HTTP ${res.status})`);
    }
    checkRange(res);
    return res;
  }

  // A complete cache entry is used once the server says it has not changed (or cannot be asked).
  // The conditional request is also a Range request for the header: a changed file's answer is
  // the probe of the new download.
  let probeRes = null;
  let complete = false;
  if (meta && meta.complete) {
    const kept = { etag: meta.etag || null, lastModified: meta.lastModified || null };
    let use = true;
    if (!revalidate) stats.revalidated = 'skipped';
    else if (!ifRangeOf(kept)) {
      stats.revalidated = 'unvalidated';
      use = false;
    } else {
      // With an ETag: If-None-Match (304, or the new file's header). With only a date: If-Range on
      // one byte (206 while the date is the same, else 200 and the whole new file), not
      // If-Modified-Since, which misses a file replaced by an older one.
      const headers = kept.etag
        ? { Range: `bytes=0-${PROBE_BYTES - 1}`, 'If-None-Match': kept.etag }
        : { Range: 'bytes=0-0', 'If-Range': kept.lastModified };
      let res = null;
      try {
        res = await send(headers);
      } catch (e) {
        if (e instanceof AbortError) throw e;
      }
      const same = res && res.status === 206 && (kept.etag ? res.headers.get('ETag') === kept.etag : !changed(kept, res) && !!res.headers.get('Last-Modified'));
      if (res && res.status === 304) stats.revalidated = 'not-modified';
      else if (same) {
        // The date matched (or a server ignored If-None-Match but sent the same ETag): unchanged.
        res.body && res.body.cancel().catch(() => {});
        stats.revalidated = 'not-modified';
      } else if (res && (res.status === 200 || res.status === 206)) {
        stats.revalidated = 'changed';
        probeRes = res;
        use = false;
      } else {
        // Unreachable, or an error status: the cached copy is the file as last downloaded.
        if (res && res.body) res.body.cancel().catch(() => {});
        stats.revalidated = 'unreachable';
      }
    }
    if (use) {
      complete = true;
      validators = kept;
    } else {
      await entry.remove();
      meta = null;
    }
  }

  // The header probe: the cached file, or a Range request for the first megabyte (which resumes a
  // partial entry only while its validator matches: If-Range).
  let total;
  let head;
  // A server that ignores Range answers the probe with the whole file: that response is then read
  // as far as the header needs and kept for the weights, never held in memory whole.
  let body = null;
  async function readBody(end) {
    const parts = [head];
    let n = head.length;
    while (n < end && !body.done) {
      abortIfNeeded(signal);
      const { done, value } = await body.reader.read();
      if (done) body.done = true;
      else {
        parts.push(value);
        n += value.length;
      }
    }
    head = new Uint8Array(n);
    let at = 0;
    for (const p of parts) {
      head.set(p, at);
      at += p.length;
    }
    stats.fromNetwork += n - parts[0].length;
  }
  let resumable = 0;
  if (complete) {
    const f = await entry.file();
    total = f.size;
    head = new Uint8Array(await f.slice(0, Math.min(PROBE_BYTES, total)).arrayBuffer());
    stats.fromCache += head.length;
  } else {
    const partial = meta && !meta.complete && meta.have > 0 ? { etag: meta.etag || null, lastModified: meta.lastModified || null } : null;
    // Bytes of unknown version are never resumed.
    if (meta && (!partial || !ifRangeOf(partial))) {
      await entry.remove();
      meta = null;
    }
    let res = probeRes;
    if (!res) {
      const headers = { Range: `bytes=0-${PROBE_BYTES - 1}` };
      if (meta) headers['If-Range'] = ifRangeOf(partial);
      res = await send(headers);
    }
    if (!res.ok) throw new NetworkError(`HTTP ${res.status} ${res.statusText} for ${href}`, { status: res.status });
    checkRange(res);
    validators = validatorsOf(res);
    total = parseTotal(res);
    if (meta && (res.status !== 206 || changed(partial, res) || meta.size !== total)) {
      // Another version of the file (or one the server will not resume): start from zero.
      await entry.remove();
      meta = null;
    }
    resumable = meta ? meta.have : 0;
    if (res.status === 200) {
      body = { reader: res.body.getReader(), done: false };
      head = new Uint8Array(0);
      await readBody(PROBE_BYTES);
      if (body.done) total = head.length;
    } else {
      head = new Uint8Array(await res.arrayBuffer());
      stats.fromNetwork += head.length;
    }
    if (!Number.isFinite(total)) throw new NetworkError(`${href}: the server did not say how big the file is`);
  }

  async function prefix(end) {
    end = Math.min(end, total);
    if (end <= head.length) return head.subarray(0, end);
    if (body) {
      await readBody(end);
      if (head.length < end) throw new NetworkError(`the download of ${href} ended after ${head.length} of ${total} bytes`);
      return head.subarray(0, end);
    }
    const more = complete ? new Uint8Array(await (await entry.file()).slice(head.length, end).arrayBuffer()) : new Uint8Array(await (await request(head.length, end)).arrayBuffer());
    const joined = new Uint8Array(head.length + more.length);
    joined.set(head);
    joined.set(more, head.length);
    head = joined;
    return head.subarray(0, end);
  }

  async function* fromCache(from, to) {
    const f = await entry.file();
    const STEP = 4 << 20;
    for (let off = from; off < to; off += STEP) {
      abortIfNeeded(signal);
      const bytes = new Uint8Array(await f.slice(off, Math.min(to, off + STEP)).arrayBuffer());
      stats.fromCache += bytes.length;
      yield { offset: off, bytes };
    }
  }

  async function* chunks(from) {
    if (complete) {
      yield* fromCache(from, total);
      return;
    }
    let offset = from;
    // Bytes already cached by an interrupted download.
    if (resumable > offset) {
      yield* fromCache(offset, resumable);
      offset = resumable;
    }
    // The cache is best effort: a writer that cannot be opened or fails (a full quota) is dropped
    // and the download goes on uncached.
    let writer = null;
    try {
      writer = entry ? await entry.writer(Math.min(offset, resumable || 0)) : null;
    } catch {
      writer = null;
    }
    let written = resumable || 0;
    let stale = false;
    const persist = async (bytes) => {
      if (!writer) return;
      try {
        await writer.write(bytes);
        written += bytes.length;
      } catch {
        const w = writer;
        writer = null;
        await w.abort().catch(() => {});
        await entry.remove();
      }
    };
    try {
      if (!resumable && writer) await persist(head);
      if (offset < head.length) {
        yield { offset, bytes: head.subarray(offset) };
        offset = head.length;
      }
      let failures = 0;
      while (offset < total) {
        const attemptFrom = offset;
        let reader = null;
        try {
          if (body && !body.done && offset === head.length) {
            // The whole-file response of a server without Range support, where the header left it.
            reader = body.reader;
            body.done = true;
          } else {
            reader = (await request(offset)).body.getReader();
          }
          for (;;) {
            abortIfNeeded(signal);
            const { done, value } = await reader.read();
            if (done) break;
            if (written === offset) await persist(value);
            stats.fromNetwork += value.length;
            yield { offset, bytes: value };
            offset += value.length;
          }
          if (offset < total) throw new NetworkError(`the download of ${href} ended after ${offset} of ${total} bytes`);
        } catch (e) {
          if ((signal && signal.aborted) || e instanceof AbortError) throw new AbortError('the load was aborted');
          if (e && e.details && e.details.fileChanged) {
            // What was cached belongs to the old version.
            stale = true;
            throw e;
          }
          // `retries` bounds failures in a row: a stream that keeps advancing before it breaks resumes
          // as often as it needs to.
          if (offset > attemptFrom) failures = 0;
          if (++failures > retries) {
            throw e instanceof NetworkError ? e : new NetworkError(`the download of ${href} failed after ${offset} of ${total} bytes: ${e.message || e}`);
          }
          if (onProgress) onProgress({ phase: 'retry', loaded: offset, total });
        } finally {
          // A failed attempt, an abort or a consumer that stopped reading: the body stops downloading.
          if (reader) reader.cancel().catch(() => {});
        }
      }
    } finally {
      if (writer && stale) {
        await writer.abort().catch(() => {});
        await entry.remove();
      } else if (writer) {
        // Closing commits what was written: an interrupted download resumes from here, if the
        // server still has the same version (the validators, checked with If-Range).
        try {
          await writer.close();
          await entry.setMeta({ size: total, have: written, complete: false, ...validators });
        } catch {
          /* the cache is best effort */
        }
      }
    }
  }

  return {
    total,
    fromCacheComplete: complete,
    stats,
    prefix,
    chunks,
    async commit() {
      if (entry && !complete) await entry.setMeta({ size: total, have: total, complete: true, ...validators });
    },
    async discard() {
      if (entry) await entry.remove();
    },
  };
}

/** Deletes every cached model file. */
export async function clearCache() {
  try {
    const root = await navigator.storage.getDirectory();
    await root.removeEntry(CACHE_DIR, { recursive: true });
  } catch {
    /* nothing cached */
  }
}
