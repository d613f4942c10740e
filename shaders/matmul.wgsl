// Y[t, r] = Σ_k W[r, k] · X[t, k] for a block of tokens (prefill): each invocation keeps a
// register tile of ROWS rows × TOK tokens, so every weight block it decodes serves TOK tokens and
// every x value ROWS rows.
#include "common.wgsl"

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> W: array<u32>;
@group(0) @binding(2) var<storage, read> X: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> Y: array<f32>;

fn scale_base() -> u32 {
    return P.scale_base;
}

#include "quant/TYPE_FILE"

@compute @workgroup_size(WG_X, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let row0 = gid.x * ROWS;
    let t0 = gid.y * TOK;
    if (row0 >= P.rows) {
        return;
    }
    var acc: array<array<f32, TOK>, ROWS>;
    var blk0: array<u32, ROWS>;
    for (var r = 0u; r < ROWS; r++) {
        blk0[r] = min(row0 + r, P.rows - 1u) * P.blocks_per_row;
    }
    let xs = P.x_stride / 4u;
    for (var b = 0u; b < P.blocks_per_row; b++) {
        for (var i = 0u; i < QK / 4u; i++) {
            var xv: array<vec4<f32>, TOK>;
            for (var t = 0u; t < TOK; t++) {
                let tt = min(t0 + t, P.n_tokens - 1u);
                xv[t] = X[P.x_offset / 4u + tt * xs + b * (QK / 4u) + i];
            }
            for (var r = 0u; r < ROWS; r++) {
                let w = q_get4(blk0[r] + b, i);
                for (var t = 0u; t < TOK; t++) {
                    acc[r][t] += dot(w, xv[t]);
                }
            }
        }
    }
    for (var t = 0u; t < TOK; t++) {
        if (t0 + t < P.n_tokens) {
            for (var r = 0u; r < ROWS; r++) {
                if (row0 + r < P.rows) {
                    let yi = P.y_offset + (t0 + t) * P.y_stride + row0 + r;
                    if (P.accumulate != 0u) {
                        Y[yi] += acc[r][t];
                    } else {
                        Y[yi] = acc[r][t];
                    }
                }
            }
        }
    }
}
