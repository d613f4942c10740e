// Helpers for browser tests: Debian's Chromium driven by playwright-core, Debian's Firefox (firefox-esr)
// driven by puppeteer-core over WebDriver BiDi (never a downloaded browser), the static server of
// server.mjs, polling, screenshots.
//
//   import { launchBrowser, newPage, withServer } from './harness.mjs';
//   await withServer(async (srv) => {
//     const browser = await launchBrowser();          // Chromium; launchBrowser({ browser: 'firefox' })
//     try {
//       const page = await newPage(browser, srv.url + 'tests/browser/pages/webgpu.html');
//       ...
//     } finally {
//       await browser.close();
//     }
//   });
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { start, REPO_ROOT } from './server.mjs';

export { REPO_ROOT };
/** Where screenshots and other test output go (ignored by git). */
export const OUT_DIR = path.join(REPO_ROOT, 'tests', 'browser', 'out');
/** The browser binary: Debian's chromium (scripts/setup.sh installs it); override with $CHROMIUM. */
export const CHROMIUM_PATH = process.env.CHROMIUM || '/usr/bin/chromium';
/** Flags for a headless Chromium with WebGPU (SwiftShader) on a machine without network or GPU. */
/** Debian's Firefox ESR (scripts/setup.sh installs it); override with $FIREFOX. */
export const FIREFOX_PATH = process.env.FIREFOX || '/usr/bin/firefox-esr';
/**
 * Prefs for a Firefox with WebGPU: on (it is off by default in ESR), and allowed on a blocklisted
 * adapter (this machine's is lavapipe, a software Vulkan that Firefox blocklists).
 */
export const FIREFOX_PREFS = {
  'dom.webgpu.enabled': true,
  'gfx.webgpu.ignore-blocklist': true,
  'dom.webgpu.workers.enabled': true,
  'browser.shell.checkDefaultBrowser': false,
  'datareporting.policy.dataSubmissionEnabled': false,
  'toolkit.telemetry.reportingpolicy.firstRun': false,
};
/** The browsers launchBrowser knows: Chromium is the main runner, Firefox runs a part of the tests. */
export const BROWSERS = ['chromium', 'firefox'];
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--enable-unsafe-webgpu',
];

/**
 * Launch Chromium with a profile directory (a persistent Playwright context, so storage such as OPFS and
 * the Cache API behaves as in a normal profile, not as in incognito), or with `browser: 'firefox'` Debian's
 * Firefox through puppeteer-core (WebDriver BiDi). Both give the same small interface to the tests:
 * `newPage(browser, url)` below, then `page.evaluate(fn, arg)`, `page.waitForFunction(fn)`,
 * `page.goto(url)`, and `browser.close()` (which deletes a temporary profile); `browser.browserName`
 * says which one it is.
 *
 * @param {object} [opts]
 * @param {'chromium'|'firefox'} [opts.browser]  default 'chromium'
 * @param {string} [opts.userDataDir]  profile to use and keep (e.g. to relaunch on the same profile);
 *                                     default: a fresh temporary one, deleted when the browser closes
 * @param {string[]} [opts.args]       extra Chromium flags
 * @param {object} [opts.contextOptions] extra options for chromium.launchPersistentContext
 * @returns {Promise<import('playwright-core').BrowserContext>}  call `.close()` when done (it also
 *          deletes a temporary profile); its `userDataDir` property names the profile directory
 */
export async function launchBrowser({ browser = 'chromium', userDataDir, args = [], contextOptions = {} } = {}) {
  if (!BROWSERS.includes(browser)) throw new Error(`unknown browser ${browser}: one of ${BROWSERS.join(', ')}`);
  if (browser === 'firefox') return launchFirefox({ userDataDir, args });
  const temporary = !userDataDir;
  const dir = userDataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'gguf-web-chromium-'));
  fs.mkdirSync(dir, { recursive: true });
  let context;
  try {
    context = await chromium.launchPersistentContext(dir, {
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: [...CHROMIUM_ARGS, ...args],
      viewport: { width: 1024, height: 768 },
      ...contextOptions,
    });
  } catch (err) {
    if (temporary) fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  context.userDataDir = dir;
  context.browserName = 'chromium';
  if (temporary) {
    // Remove the profile once the browser process is gone (it may still be writing on 'close').
    const close = context.close.bind(context);
    context.close = async (...a) => {
      try {
        await close(...a);
      } finally {
        await fs.promises.rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
      }
    };
  }
  return context;
}

/**
 * Firefox through puppeteer-core, WebDriver BiDi, headless, with FIREFOX_PREFS in its profile. Its
 * Browser has the `newPage()` and `close()` the tests use; puppeteer's Page has the same `evaluate`,
 * `waitForFunction`, `goto` and `on('console' | 'pageerror')` as Playwright's for what the tests do.
 */
async function launchFirefox({ userDataDir, args = [] }) {
  const { default: puppeteer } = await import('puppeteer-core');
  const temporary = !userDataDir;
  const dir = userDataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'gguf-web-firefox-'));
  fs.mkdirSync(dir, { recursive: true });
  let browser;
  try {
    browser = await puppeteer.launch({
      browser: 'firefox',
      executablePath: FIREFOX_PATH,
      headless: true,
      userDataDir: dir,
      args,
      extraPrefsFirefox: FIREFOX_PREFS,
      defaultViewport: { width: 1024, height: 768 },
      protocolTimeout: 600_000,
    });
  } catch (err) {
    if (temporary) fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  browser.userDataDir = dir;
  browser.browserName = 'firefox';
  const close = browser.close.bind(browser);
  browser.close = async () => {
    try {
      await close();
    } finally {
      if (temporary) await fs.promises.rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
    }
  };
  return browser;
}

const collected = new WeakMap();

/**
 * Open `url` in a new page of `browser` (a context from launchBrowser) and wait for its load event.
 * The page's console messages, uncaught errors and crashes are forwarded to `log` (default: stderr,
 * which node:test shows with the test's output) and collected for pageLog().
 *
 * @param {import('playwright-core').BrowserContext} browser
 * @param {string} url
 * @param {object} [opts]
 * @param {(line: string) => void} [opts.log]  where forwarded lines go; null to only collect
 * @param {string} [opts.label]                prefix for forwarded lines (default 'page')
 * @param {number} [opts.timeout]              navigation timeout in ms (default 30000)
 * @returns {Promise<import('playwright-core').Page>}
 */
export async function newPage(browser, url, { log = (line) => process.stderr.write(line + '\n'), label = 'page', timeout = 30_000 } = {}) {
  const page = await browser.newPage();
  const record = { console: [], errors: [] };
  collected.set(page, record);
  const out = log ?? (() => {});
  page.on('console', (msg) => {
    const line = { type: msg.type(), text: msg.text() };
    record.console.push(line);
    out(`[${label} console.${line.type}] ${line.text}`);
  });
  page.on('pageerror', (err) => {
    record.errors.push(err);
    out(`[${label} uncaught] ${err.stack || err.message || err}`);
  });
  // Playwright's event; puppeteer's is 'error'.
  for (const event of ['crash', 'error']) {
    page.on(event, () => {
      record.errors.push(new Error('page crashed'));
      out(`[${label} crashed]`);
    });
  }
  if (url) await page.goto(url, { waitUntil: 'load', timeout });
  return page;
}

/**
 * What newPage collected so far: { console: [{type, text}], errors: [Error] } (live arrays).
 * @param {import('playwright-core').Page} page
 */
export function pageLog(page) {
  return collected.get(page) ?? { console: [], errors: [] };
}

/**
 * Start the static server (options as server.mjs start(); default: repository root, COOP/COEP on), run
 * `fn(server)`, close the server whatever happens; returns what fn returns.
 * @template T
 * @param {(server: Awaited<ReturnType<typeof start>>) => Promise<T>} fn
 * @param {Parameters<typeof start>[0]} [opts]
 * @returns {Promise<T>}
 */
export async function withServer(fn, opts = {}) {
  const server = await start(opts);
  try {
    return await fn(server);
  } finally {
    await server.close();
  }
}

/**
 * Poll `cond` (sync or async) until it returns a truthy value, and return that value; throw after
 * `timeout` ms. For conditions inside a page prefer page.waitForFunction.
 * @template T
 * @param {() => T | Promise<T>} cond
 * @param {object} [opts]
 * @param {number} [opts.timeout]   ms (default 10000)
 * @param {number} [opts.interval]  ms between tries (default 50)
 * @param {string} [opts.message]   added to the timeout error
 * @returns {Promise<T>}
 */
export async function waitFor(cond, { timeout = 10_000, interval = 50, message = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let lastError;
  for (;;) {
    try {
      const v = await cond();
      if (v) return v;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const why = lastError ? ` (last error: ${lastError.message})` : '';
      throw new Error(`timed out after ${timeout} ms waiting for ${message}${why}`);
    }
    await new Promise((r) => setTimeout(r, interval));
  }
}

/**
 * Save a full-page PNG of `page` as tests/browser/out/<name>.png and return its path.
 * @param {import('playwright-core').Page} page
 * @param {string} name  file name without extension; characters outside [A-Za-z0-9._-] become '_'
 */
export async function screenshot(page, name) {
  fs.mkdirSync(OUT_DIR, { recursive: true });
  const file = path.join(OUT_DIR, `${String(name).replace(/[^A-Za-z0-9._-]/g, '_')}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}
