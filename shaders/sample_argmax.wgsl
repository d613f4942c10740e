// Greedy sampling's second pass: the best of the partials, ties to the lowest id.
#include "sample_best.wgsl"

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> PART: array<Partial>;
@group(0) @binding(2) var<storage, read_write> OUT: array<u32>;

@compute @workgroup_size(WG_X, 1, 1)
fn main(@builtin(local_invocation_id) lid: vec3<u32>) {
    let best = best_of_partials(lid.x);
    if (lid.x == 0u) {
        // No logit at all cannot happen (n ≥ 1); NONE would be a caller's bug.
        OUT[0] = select(best.i, 0u, best.i == NONE);
    }
}
