// The package's worker with a trap on purpose (tests/browser/engine.test.mjs): every model it loads
// traps inside its second next() call, through the core's keyed test hook (crate/src/wasm/testing.rs).
import { Engine } from '/pkg/src/engine.js';
import '/pkg/src/worker.js';

const KEY = 'gguf-web test hook: trap this instance';
const load = Engine.load;
Engine.load = async function (...args) {
  const engine = await load.apply(this, args);
  const next = engine.model.next;
  let calls = 0;
  engine.model.next = function () {
    return ++calls === 2 ? this.__testTrap(KEY) : next.call(this);
  };
  return engine;
};
