// Sampling, second pass: the histogram of how far each finite logit is below the best one.
// Counts go straight into the global histogram. A workgroup-local one would need its workgroup
// memory zero-initialised, which WebGPU does and CPU drivers (SwiftShader in Chromium) compile
// into one store per bin: most of a second for 2048 bins, paid on the first sampled token.
#include "sample_best.wgsl"

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> L: array<f32>;
@group(0) @binding(2) var<storage, read> PART: array<Partial>;
@group(0) @binding(3) var<storage, read_write> HIST: array<atomic<u32>>;

@compute @workgroup_size(WG_X, 1, 1)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let t = lid.x;
    let base = wid.x * CHUNK;
    // Every workgroup finds the best itself: cheaper than a dispatch (a few dozen partials).
    let m = best_of_partials(t).v;
    for (var j = t; j < CHUNK && base + j < P.n; j += WG_X) {
        let l = L[P.logits_offset + base + j];
        if (is_finite(l)) {
            atomicAdd(&HIST[bin_of(m, l)], 1u);
        }
    }
}
