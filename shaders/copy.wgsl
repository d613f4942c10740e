// A plain copy: the bandwidth reference the benchmarks compare every kernel with.
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> A: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read_write> B: array<vec4<u32>>;

@compute @workgroup_size(WG_X, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.y * nwg.x * WG_X + gid.x;
    if (i < P.n) {
        B[i] = A[i];
    }
}
