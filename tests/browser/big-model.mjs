// A llama model of about 6 GB, more than wasm32 can address, as a sparse file (its header only on
// disk): tests/fixtures/make_big_model.py writes it into models/gen/ once.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from './server.mjs';

export function bigModel() {
  const name = 'too-big-for-wasm32.gguf';
  const file = path.join(REPO_ROOT, 'models', 'gen', name);
  if (!fs.existsSync(file)) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    execFileSync('python3', [path.join(REPO_ROOT, 'tests/fixtures/make_big_model.py'), file], { stdio: 'inherit' });
  }
  return { name, url: '/models/gen/' + name, bytes: fs.statSync(file).size };
}
