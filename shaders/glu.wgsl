// Gated feed-forward activation: a = act(gate) * up, with act = SiLU or GELU (tanh approximation).
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> G: array<f32>;
@group(0) @binding(2) var<storage, read> U: array<f32>;
@group(0) @binding(3) var<storage, read_write> A: array<f32>;

#include "activation.wgsl"

@compute @workgroup_size(WG_X, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.y * nwg.x * WG_X + gid.x;
    if (i < P.n) {
        A[P.a_offset + i] = glu_act(G[P.g_offset + i]) * U[P.u_offset + i];
    }
}
