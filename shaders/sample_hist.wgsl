// Sampling, second pass: the histogram of how far each finite logit is below the best one. Its
// workgroups take more logits than the other passes' to share the cost of the local histogram.
#include "sample_best.wgsl"

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> L: array<f32>;
@group(0) @binding(2) var<storage, read> PART: array<Partial>;
@group(0) @binding(3) var<storage, read_write> HIST: array<atomic<u32>>;

var<workgroup> local_hist: array<atomic<u32>, NB>;

@compute @workgroup_size(WG_X, 1, 1)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let t = lid.x;
    let base = wid.x * HIST_CHUNK;
    for (var b = t; b < NB; b += WG_X) {
        atomicStore(&local_hist[b], 0u);
    }
    // Every workgroup finds the best itself: cheaper than a dispatch (a few hundred partials).
    let m = best_of_partials(t).v;
    for (var j = t; j < HIST_CHUNK && base + j < P.n; j += WG_X) {
        let l = L[P.logits_offset + base + j];
        if (is_finite(l)) {
            atomicAdd(&local_hist[bin_of(m, l)], 1u);
        }
    }
    workgroupBarrier();
    for (var b = t; b < NB; b += WG_X) {
        let c = atomicLoad(&local_hist[b]);
        if (c != 0u) {
            atomicAdd(&HIST[b], c);
        }
    }
}
