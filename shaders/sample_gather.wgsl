// Sampling, third pass over the vocabulary: every finite logit in the threshold bin or better.
// The buffer holds the whole vocabulary, so nothing is ever dropped; the order is arbitrary.
#include "sample_common.wgsl"

struct State {
    m: f32,
    tb: u32,
    k: u32,
    count: atomic<u32>,
}

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> L: array<f32>;
@group(0) @binding(2) var<storage, read_write> STATE: State;
@group(0) @binding(3) var<storage, read_write> CAND: array<Cand>;

@compute @workgroup_size(WG_X, 1, 1)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let base = wid.x * CHUNK;
    let m = STATE.m;
    let tb = STATE.tb;
    if (STATE.k == 0u) {
        return;
    }
    for (var j = lid.x; j < CHUNK && base + j < P.n; j += WG_X) {
        let l = L[P.logits_offset + base + j];
        if (is_finite(l) && bin_of(m, l) <= tb) {
            CAND[atomicAdd(&STATE.count, 1u)] = Cand(l, base + j);
        }
    }
}
