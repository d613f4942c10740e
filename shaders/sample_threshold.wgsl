// Sampling, one workgroup: the number of candidates k (top-k, the cap and the finite logits) and
// the histogram bin holding the k-th best, so that the gather collects a small superset of them.
#include "sample_best.wgsl"

struct State {
    m: f32,
    tb: u32,
    k: u32,
    count: u32,
}

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> PART: array<Partial>;
@group(0) @binding(2) var<storage, read> HIST: array<u32>;
@group(0) @binding(3) var<storage, read_write> STATE: State;

const PER: u32 = NB / WG_X;

var<workgroup> sums: array<u32, WG_X>;

@compute @workgroup_size(WG_X, 1, 1)
fn main(@builtin(local_invocation_id) lid: vec3<u32>) {
    let t = lid.x;
    let best = best_of_partials(t);
    var c = 0u;
    for (var j = 0u; j < PER; j++) {
        c += HIST[t * PER + j];
    }
    sums[t] = c;
    workgroupBarrier();
    // Inclusive scan of the invocations' counts.
    for (var off = 1u; off < WG_X; off <<= 1u) {
        let x = select(0u, sums[t - off], t >= off);
        workgroupBarrier();
        sums[t] += x;
        workgroupBarrier();
    }
    let k = min(P.k, sums[WG_X - 1u]);
    var run = sums[t] - c;
    if (k > 0u && run < k && run + c >= k) {
        for (var j = 0u; j < PER; j++) {
            run += HIST[t * PER + j];
            if (run >= k) {
                STATE.tb = t * PER + j;
                break;
            }
        }
    }
    if (t == 0u) {
        STATE.m = best.v;
        STATE.k = k;
        STATE.count = 0u;
    }
}
