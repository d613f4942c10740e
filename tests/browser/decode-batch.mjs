// The comparison of decode-batch.test.mjs and decode-batch-archs.test.mjs (as tests/common/batch.rs
// natively): K = 1 is the oracle; a fixed K (or the adaptive one, `null`) must give exactly its token
// ids, finish reasons and reused prompt tokens, greedy and seeded at temperature 1, over a script of
// requests: to `max_tokens`, ended by a stop string, and a request after it that reuses the cache. Past
// K = 1 the batches run pipelined (each starts the next ahead), and the first request takes some over.
import assert from 'node:assert/strict';

/**
 * Loads `url` on `host` (`Engine` or `WorkerEngine`) in `page`, runs the script with K = 1 and with
 * each of `ks`, and asserts; returns how many requests were compared. The stop string is picked from
 * K = 1's free run (two characters first seen past its start and before its last third), on the
 * first of `prompts` that has one.
 */
export async function compareK(page, { host, url, prompts, ks, maxTokens, what }) {
  const results = await page.evaluate(
    async ({ host, url, prompts, ks, maxTokens }) => {
      const e = await gw[host].load(url, { cache: false });
      const samplings = [{ temperature: 0 }, { temperature: 1, top_k: 0, top_p: 1, min_p: 0, seed: 1234 }];
      const stopIn = (text) => {
        const chars = Array.from(text);
        for (let at = 3; at < Math.floor((chars.length * 2) / 3); at++) {
          const stop = chars[at] + chars[at + 1];
          if (Array.from(text.slice(0, text.indexOf(stop))).length >= 3) return stop;
        }
        return null;
      };
      const run = async (req) => {
        const r = await e.completions.create({ ignore_eos: true, max_tokens: maxTokens, ...req });
        return { ids: r.token_ids, finish: r.choices[0].finish_reason, reused: r.usage.reused_prompt_tokens, text: r.choices[0].text, k: r.usage.decode_k, ahead: r.usage.decode_batches_ahead };
      };
      // The same cache before every script: what this one-token request leaves.
      const settle = () => e.completions.create({ prompt: 'Hi', max_tokens: 1, temperature: 0, decode_k: 1 });
      const rest = async (prompt, stop, o) => {
        const stopped = await run({ prompt, stop: [stop], ...o });
        const next = await run({ prompt: prompt + stopped.text + ' and', ...o });
        return [stopped, next];
      };
      const out = [];
      try {
        for (const s of samplings) {
          let picked = null;
          for (const prompt of prompts) {
            await settle();
            const free = await run({ prompt, ...s, decode_k: 1 });
            const stop = stopIn(free.text);
            if (stop) {
              picked = { prompt, stop, want: [free, ...(await rest(prompt, stop, { ...s, decode_k: 1 }))] };
              break;
            }
          }
          if (!picked) {
            out.push({ sampling: s, error: 'no output to pick a stop string from' });
            continue;
          }
          const got = [];
          for (const k of ks) {
            // Batches ahead forced on: these machines' adapters are CPU ones, which do not start them by default.
            const o = { ...s, decode_k: k ?? undefined, decode_ahead: true };
            await settle();
            got.push({ k, runs: [await run({ prompt: picked.prompt, ...o }), ...(await rest(picked.prompt, picked.stop, o))] });
          }
          out.push({ sampling: s, stop: picked.stop, want: picked.want, got });
        }
      } finally {
        await e.unload();
      }
      return out;
    },
    { host, url, prompts, ks, maxTokens },
  );
  let compared = 0;
  for (const r of results) {
    assert.ok(!r.error, `${what} ${JSON.stringify(r.sampling)}: ${r.error}`);
    const stopped = r.want[1];
    assert.equal(stopped.finish, 'stop', `${what}: the stop string ${JSON.stringify(r.stop)} ends the request`);
    assert.ok(stopped.ids.length < maxTokens - 1, `${what}: the stop string ${JSON.stringify(r.stop)} ends it early`);
    // K = 1 is one step per round trip, nothing started ahead; past it, the script's first request
    // (to max_tokens) takes over the batches started ahead.
    r.want.forEach((w, i) => assert.equal(w.ahead, 0, `${what}: K = 1 started a batch ahead (request ${i})`));
    for (const { k, runs } of r.got) {
      assert.ok(runs[0].ahead > 0, `${what}, K = ${k ?? 'adaptive'}: no batch started ahead was taken over (usage.decode_batches_ahead ${runs[0].ahead})`);
      runs.forEach((got, i) => {
        const w = r.want[i];
        const tag = `${what}, K = ${k ?? 'adaptive'} (used ${got.k}), ${JSON.stringify(r.sampling)}, request ${i}`;
        assert.deepEqual([got.ids, got.finish, got.reused], [w.ids, w.finish, w.reused], `${tag}: (ids, finish, reused) ${JSON.stringify([got.ids, got.finish, got.reused])} differ from K = 1's ${JSON.stringify([w.ids, w.finish, w.reused])}`);
        compared++;
      });
    }
  }
  return compared;
}
