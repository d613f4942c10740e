// y[row] = sum_k W[row, k] * x[k] for one token (decode): WG_X threads share a row, WG_Y rows per
// workgroup. Every weight byte is read once; blocks are dequantized in registers.
#include "common.wgsl"

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> W: array<u32>;
@group(0) @binding(2) var<storage, read> X: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> Y: array<f32>;

fn scale_base() -> u32 {
    return P.scale_base;
}

#include "quant/TYPE_FILE"

#if WG_X != 1
var<workgroup> partial: array<f32, WG_SIZE>;
#endif

@compute @workgroup_size(WG_X, WG_Y, 1)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
    let row = (wid.y * nwg.x + wid.x) * WG_Y + lid.y;
    var acc = 0.0;
    if (row < P.rows) {
        let xb = P.x_offset / 4u;
        for (var b = lid.x; b < P.blocks_per_row; b += WG_X) {
            let blk = row * P.blocks_per_row + b;
            let x0 = xb + b * (QK / 4u);
            var s = 0.0;
            for (var i = 0u; i < QK / 4u; i++) {
                s += dot(q_get4(blk, i), X[x0 + i]);
            }
            acc += s;
        }
    }
#if WG_X != 1
    let t = lid.y * WG_X + lid.x;
    partial[t] = acc;
    workgroupBarrier();
    for (var stride = WG_X / 2u; stride > 0u; stride >>= 1u) {
        if (lid.x < stride) {
            partial[t] += partial[t + stride];
        }
        workgroupBarrier();
    }
    acc = partial[lid.y * WG_X];
#endif
    if (lid.x == 0u && row < P.rows) {
        if (P.accumulate != 0u) {
            Y[P.y_offset + row] += acc;
        } else {
            Y[P.y_offset + row] = acc;
        }
    }
}
