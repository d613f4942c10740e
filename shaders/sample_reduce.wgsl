// Sampling, first pass over the vocabulary: the repetition penalty, in place as the CPU sampler
// does it (so the later passes read penalized logits), and each workgroup's best logit.
#include "sample_best.wgsl"

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> L: array<f32>;
@group(0) @binding(2) var<storage, read> PEN: array<u32>;
@group(0) @binding(3) var<storage, read_write> PART: array<Partial>;
@group(0) @binding(4) var<storage, read_write> HIST: array<u32>;

@compute @workgroup_size(WG_X, 1, 1)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let t = lid.x;
    let base = wid.x * CHUNK;
    // The histogram pass accumulates; nothing else runs before it.
    if (wid.x == 0u) {
        for (var b = t; b < NB; b += WG_X) {
            HIST[b] = 0u;
        }
    }
    if (P.n_pen > 0u) {
        // The ids are distinct (deduplicated on the CPU), so no two invocations write one logit;
        // the scan below reads the penalized values after the barrier.
        for (var q = t; q < P.n_pen; q += WG_X) {
            let id = PEN[q];
            if (id >= base && id < base + CHUNK && id < P.n) {
                let o = P.logits_offset + id;
                L[o] = select(L[o] * P.pen, L[o] * P.inv_pen, L[o] > 0.0);
            }
        }
        storageBarrier();
    }
    var v = 0.0;
    var i = NONE;
    for (var j = t; j < CHUNK && base + j < P.n; j += WG_X) {
        let l = L[P.logits_offset + base + j];
        if (ahead(v, i, l, base + j)) {
            v = l;
            i = base + j;
        }
    }
    let best = reduce_best(t, v, i);
    if (t == 0u) {
        PART[wid.x] = best;
    }
}
