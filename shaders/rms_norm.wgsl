// RMSNorm of each row: y = x / sqrt(mean(x²) + eps) * w. With ADD defined the result is added to
// y instead (Gemma's post-norms feed the residual stream directly).
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> NW: array<f32>;
@group(0) @binding(3) var<storage, read_write> Y: array<f32>;

#include "reduce.wgsl"

@compute @workgroup_size(WG_X, 1, 1)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let row = wid.x;
    let xo = P.x_offset + row * P.n;
    var s = 0.0;
    for (var i = lid.x; i < P.n; i += WG_X) {
        let v = X[xo + i];
        s += v * v;
    }
    let scale = 1.0 / sqrt(wg_sum(lid.x, s) / f32(P.n) + P.eps);
    let yo = P.y_offset + row * P.n;
    for (var i = lid.x; i < P.n; i += WG_X) {
#ifdef ADD
        Y[yo + i] += X[xo + i] * scale * NW[P.w_offset + i];
#else
        Y[yo + i] = X[xo + i] * scale * NW[P.w_offset + i];
#endif
    }
}
