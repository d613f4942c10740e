// The npm package as users get it: `npm pack` of pkg/, installed into a fresh Vite app, built with
// Vite and run in Chromium, where it loads the default model and generates.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { launchBrowser, newPage, OUT_DIR, REPO_ROOT, withServer } from './harness.mjs';

const APP_MAIN = `
import { Engine, WorkerEngine } from 'gguf-web';
window.run = async (url) => {
  const e = await Engine.load(url, { cache: false });
  const r = await e.completions.create({ prompt: 'The capital of France is', max_tokens: 2, temperature: 0 });
  const w = await WorkerEngine.load(url, { cache: false });
  const s = await w.completions.create({ prompt: 'The capital of France is', max_tokens: 2, temperature: 0 });
  return { page: r.token_ids, worker: s.token_ids };
};
window.ready = true;
`;

test('npm pack installs into a fresh Vite app that builds and runs', async () => {
  const app = path.join(OUT_DIR, 'vite-app');
  fs.rmSync(app, { recursive: true, force: true });
  fs.mkdirSync(path.join(app, 'src'), { recursive: true });
  const tgz = execFileSync('npm', ['pack', '--silent', '--pack-destination', app], { cwd: path.join(REPO_ROOT, 'pkg') }).toString().trim().split('\n').pop();
  fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'fresh-app', private: true, type: 'module' }, null, 1));
  fs.writeFileSync(path.join(app, 'index.html'), '<!doctype html><meta charset="utf-8"><script type="module" src="/src/main.js"></script>');
  fs.writeFileSync(path.join(app, 'src', 'main.js'), APP_MAIN);
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--silent', './' + tgz], { cwd: app, stdio: 'inherit' });
  const pkg = JSON.parse(fs.readFileSync(path.join(app, 'node_modules', 'gguf-web', 'package.json'), 'utf8'));
  assert.equal(pkg.name, 'gguf-web');
  assert.ok(fs.existsSync(path.join(app, 'node_modules', 'gguf-web', 'index.d.ts')), 'types ship with the package');
  execFileSync(path.join(REPO_ROOT, 'node_modules', '.bin', 'vite'), ['build', '--base', '/tests/browser/out/vite-app/dist/', '--logLevel', 'warn'], { cwd: app, stdio: 'inherit' });
  await withServer(async (srv) => {
    const browser = await launchBrowser();
    try {
      const page = await newPage(browser, srv.url + 'tests/browser/out/vite-app/dist/index.html');
      await page.waitForFunction(() => window.ready);
      const r = await page.evaluate((u) => window.run(u), '/models/SmolLM2-135M-Instruct.Q4_1.gguf');
      assert.deepEqual(r.page, [7042, 30]);
      assert.deepEqual(r.worker, [7042, 30]);
    } finally {
      await browser.close();
    }
  });
});
