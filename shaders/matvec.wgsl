// y[row] = sum_k W[row, k] * x[k] for one token (decode). Each invocation computes ROWS consecutive
// rows, so every x value it loads serves ROWS rows (on CPU-emulated adapters the loads, not the
// arithmetic, dominate); WG_X invocations may share the rows' blocks and add up their partial sums.
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
var<workgroup> partial: array<array<f32, ROWS>, WG_SIZE>;
#endif

@compute @workgroup_size(WG_X, WG_Y, 1)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
    let row0 = ((wid.y * nwg.x + wid.x) * WG_Y + lid.y) * ROWS;
    var acc: array<f32, ROWS>;
    // Rows past the end re-read the last row instead of branching per row.
    var blk0: array<u32, ROWS>;
    for (var r = 0u; r < ROWS; r++) {
        blk0[r] = min(row0 + r, P.rows - 1u) * P.blocks_per_row;
    }
    if (row0 < P.rows) {
        let xb = P.x_offset / 4u;
        for (var b = lid.x; b < P.blocks_per_row; b += WG_X) {
            let x0 = xb + b * (QK / 4u);
            for (var i = 0u; i < QK / 4u; i++) {
                let xv = X[x0 + i];
                for (var r = 0u; r < ROWS; r++) {
                    acc[r] += dot(q_get4(blk0[r] + b, i), xv);
                }
            }
        }
    }
#if WG_X != 1
    let t = lid.y * WG_X + lid.x;
    partial[t] = acc;
    workgroupBarrier();
    for (var stride = WG_X / 2u; stride > 0u; stride >>= 1u) {
        if (lid.x < stride) {
            for (var r = 0u; r < ROWS; r++) {
                partial[t][r] += partial[t + stride][r];
            }
        }
        workgroupBarrier();
    }
    acc = partial[lid.y * WG_X];
#endif
    if (lid.x == 0u) {
        for (var r = 0u; r < ROWS; r++) {
            let row = row0 + r;
            if (row < P.rows) {
                if (P.accumulate != 0u) {
                    Y[P.y_offset + row] += acc[r];
                } else {
                    Y[P.y_offset + row] = acc[r];
                }
            }
        }
    }
}
