// The soak test (soak.test.mjs says what it does) with the model in a Web Worker.
import { soakTest } from './soak.mjs';

soakTest('WorkerEngine');
