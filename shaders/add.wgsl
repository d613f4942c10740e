// y[i] += x[i % period]: a residual connection (period = n) or a bias added to every token's row.
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;

@compute @workgroup_size(WG_X, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    // Large n spills into a second grid dimension (at most 65535 groups per dimension).
    let i = gid.y * nwg.x * WG_X + gid.x;
    if (i < P.n) {
        Y[P.y_offset + i] += X[P.x_offset + i % P.period];
    }
}
