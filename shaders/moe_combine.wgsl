// y[t, i] += Σ_j weight[t, j] · d[t·K + j, i]: the chosen experts' outputs, weighted and summed in
// the order picked (as llama.cpp adds them), onto the residual stream.
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> ROUTE: array<u32>;
@group(0) @binding(2) var<storage, read> D: array<f32>;
@group(0) @binding(3) var<storage, read_write> Y: array<f32>;

@compute @workgroup_size(WG_X, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = gid.y * nwg.x * WG_X + gid.x;
    if (idx >= P.n_tokens * P.n) {
        return;
    }
    let t = idx / P.n;
    let i = idx % P.n;
    var acc = 0.0;
    for (var j = 0u; j < P.k; j++) {
        let w = bitcast<f32>(ROUTE[P.w_offset + t * P.k + j]);
        acc += D[(t * P.k + j) * P.n + i] * w;
    }
    if (P.accumulate != 0u) {
        Y[P.y_offset + idx] += acc;
    } else {
        Y[P.y_offset + idx] = acc;
    }
}
