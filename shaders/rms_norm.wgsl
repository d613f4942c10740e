// RMSNorm of each row: y = x / sqrt(mean(x²) + eps) * w. With ADD defined the result is added to
// y instead (Gemma's post-norms feed the residual stream directly); with THEN_NORM the updated row of
// y is then normed again into z with the weights at w2_offset (the next block's pre-norm), saving a
// dispatch. Every invocation reads back only the elements it wrote, so no barrier is needed between.
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> NW: array<f32>;
@group(0) @binding(3) var<storage, read_write> Y: array<f32>;
#ifdef THEN_NORM
@group(0) @binding(4) var<storage, read_write> Z: array<f32>;
#endif

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
#ifdef THEN_NORM
    var s2 = 0.0;
    for (var i = lid.x; i < P.n; i += WG_X) {
        let v = Y[yo + i];
        s2 += v * v;
    }
    let scale2 = 1.0 / sqrt(wg_sum(lid.x, s2) / f32(P.n) + P.eps);
    let zo = P.z_offset + row * P.n;
    for (var i = lid.x; i < P.n; i += WG_X) {
        Z[zo + i] = Y[yo + i] * scale2 * NW[P.w2_offset + i];
    }
#endif
}
