// Getting a GGUF file's bytes: the header first (an HTTP Range request), then the rest as a
// stream of chunks, from the browser's Origin Private File System cache when it holds them and
// from the network otherwise. Downloaded bytes are written to the cache as they arrive, so a
// second load needs no network request and an interrupted download resumes with a Range request
// from where it stopped. Nothing here holds more than one chunk of the file in memory.

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

/** One cached file (`<key>.bin`) and its state (`<key>.json`: url, size, have, complete). */
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
 * fromCache, requests }`: `prefix(end)` resolves to the first `end` bytes (at least), `chunks(from)`
 * iterates `{ offset, bytes }` to the end of the file, `commit()` marks the cache entry complete,
 * `discard()` deletes it (an integrity failure must leave nothing cached).
 */
export async function openModelFile(url, { signal, cache = true, retries = 2, onProgress } = {}) {
  const href = new URL(url, globalThis.location ? globalThis.location.href : undefined).href;
  const entry = cache ? await CacheEntry.open(href) : null;
  const meta = entry ? await entry.meta() : null;
  const stats = { requests: 0, fromCache: 0, fromNetwork: 0 };

  async function request(start, end) {
    abortIfNeeded(signal);
    const headers = {};
    if (start > 0 || end !== undefined) headers.Range = `bytes=${start}-${end === undefined ? '' : end - 1}`;
    stats.requests++;
    let res;
    try {
      res = await fetch(href, { headers, signal, cache: 'no-store' });
    } catch (e) {
      if (signal && signal.aborted) throw new AbortError('the load was aborted');
      throw new NetworkError(`fetching ${href} failed: ${e.message || e}`);
    }
    if (!res.ok) throw new NetworkError(`HTTP ${res.status} ${res.statusText} for ${href}`, { status: res.status });
    if (start > 0 && res.status !== 206) {
      throw new NetworkError(`the server ignored the Range request for ${href} (HTTP ${res.status})`);
    }
    if (res.status === 206 && !res.headers.get('Content-Range')) {
      // A cross-origin server must expose the header, or the file's size cannot be known.
      throw new NetworkError(`${href} answered a Range request without a readable Content-Range (a cross-origin server must send Access-Control-Expose-Headers: Content-Range)`);
    }
    return res;
  }

  // The header probe: the cached file, or a Range request for the first megabyte.
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
  if (meta && meta.complete) {
    const f = await entry.file();
    total = f.size;
    head = new Uint8Array(await f.slice(0, Math.min(PROBE_BYTES, total)).arrayBuffer());
    stats.fromCache += head.length;
  } else {
    const res = await request(0, PROBE_BYTES);
    total = parseTotal(res);
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
  // A cache entry for another size (the file changed) is stale.
  const resumable = meta && !meta.complete && meta.size === total && meta.have > 0 ? meta.have : 0;
  if (meta && !meta.complete && !resumable && entry) await entry.remove();

  const complete = !!(meta && meta.complete);

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
      if (writer) {
        // Closing commits what was written: an interrupted download resumes from here.
        try {
          await writer.close();
          await entry.setMeta({ size: total, have: written, complete: false });
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
      if (entry && !complete) await entry.setMeta({ size: total, have: total, complete: true });
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
