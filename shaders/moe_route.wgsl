// The router of a mixture of experts, one invocation per token: softmax over the expert logits,
// the K most probable experts (ties to the lower id, as a stable sort gives), and their weights,
// renormalized to sum to 1 with NORM. Writes ROUTE[t·K + j] = expert id and
// ROUTE[P.w_offset + t·K + j] = bitcast weight, for the expert matvecs and the combine.
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> L: array<f32>;
@group(0) @binding(2) var<storage, read_write> ROUTE: array<u32>;

@compute @workgroup_size(WG_X, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let t = gid.x;
    if (t >= P.n_tokens) {
        return;
    }
    let l0 = P.l_offset + t * P.n_expert;
    var m = L[l0];
    for (var i = 1u; i < P.n_expert; i++) {
        m = max(m, L[l0 + i]);
    }
    var sum = 0.0;
    for (var i = 0u; i < P.n_expert; i++) {
        sum += exp(L[l0 + i] - m);
    }
    // Selection by rank: the next pick is the best expert ranked after the previous pick (lower
    // probability, or equal probability and a higher id), so no taken-set is needed.
    var prev_p = 2.0;
    var prev_i = 0u;
    var picked = 0.0;
    for (var j = 0u; j < P.k; j++) {
        var best_p = -1.0;
        var best_i = 0u;
        for (var i = 0u; i < P.n_expert; i++) {
            let p = exp(L[l0 + i] - m) / sum;
            let after = p < prev_p || (p == prev_p && i > prev_i);
            if (after && p > best_p) {
                best_p = p;
                best_i = i;
            }
        }
        ROUTE[t * P.k + j] = best_i;
        ROUTE[P.w_offset + t * P.k + j] = bitcast<u32>(best_p);
        picked += best_p;
        prev_p = best_p;
        prev_i = best_i;
    }
#ifdef NORM
    for (var j = 0u; j < P.k; j++) {
        let w = bitcast<f32>(ROUTE[P.w_offset + t * P.k + j]);
        ROUTE[P.w_offset + t * P.k + j] = bitcast<u32>(w / picked);
    }
#endif
}
