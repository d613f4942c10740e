// Token embeddings: out[t, :] = dequant(W[ids[t], :]) * scale, for the tokens whose id falls in
// this part of the (row-split) embedding matrix.
#include "common.wgsl"

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> W: array<u32>;
@group(0) @binding(2) var<storage, read> IDS: array<u32>;
@group(0) @binding(3) var<storage, read_write> OUT: array<vec4<f32>>;

fn scale_base() -> u32 {
    return P.scale_base;
}

#include "quant/TYPE_FILE"

@compute @workgroup_size(WG_X, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let g = gid.x;                 // group of 4 values within the row
    let t = gid.y;
    let groups = P.n_embd / 4u;
    if (g >= groups || t >= P.n_tokens) {
        return;
    }
    let id = IDS[P.ids_offset + t];
    if (id < P.row0 || id >= P.row0 + P.rows) {
        return;
    }
    let b = (id - P.row0) * P.blocks_per_row + g / (QK / 4u);
    OUT[(P.out_offset + t * P.n_embd) / 4u + g] = q_get4(b, g % (QK / 4u)) * P.scale;
}
