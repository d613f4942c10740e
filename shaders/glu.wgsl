// Gated feed-forward activation: a = act(gate) * up, with act = SiLU or GELU (tanh approximation).
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> G: array<f32>;
@group(0) @binding(2) var<storage, read> U: array<f32>;
@group(0) @binding(3) var<storage, read_write> A: array<f32>;

fn act(x: f32) -> f32 {
#ifdef GELU
    // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x³))), written with exp so a large |x| cannot
    // overflow tanh on any driver.
    let u = 0.7978846 * x * (1.0 + 0.044715 * x * x);
    let t = 1.0 - 2.0 / (exp(2.0 * clamp(u, -20.0, 20.0)) + 1.0);
    return 0.5 * x * (1.0 + t);
#else
    return x / (1.0 + exp(-x));
#endif
}

@compute @workgroup_size(WG_X, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.y * nwg.x * WG_X + gid.x;
    if (i < P.n) {
        A[P.a_offset + i] = act(G[P.g_offset + i]) * U[P.u_offset + i];
    }
}
