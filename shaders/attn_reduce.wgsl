// Combines the key splits of attn_decode (grid: heads × tokens): out = Σ e^(m_s - M) o_s /
// Σ e^(m_s - M) l_s. A split past a token's keys has l = 0 and m = -3e38, and adds nothing.
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> PART: array<f32>;
@group(0) @binding(2) var<storage, read_write> OUT: array<f32>;

@compute @workgroup_size(WG_X, 1, 1)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let h = wid.x;
    let z = wid.y;
    let stride = HEAD_DIM + 2u;
    let job = (z * P.n_head + h) * P.n_splits;
    var mx = -3.0e38;
    for (var sp = 0u; sp < P.n_splits; sp++) {
        mx = max(mx, PART[(job + sp) * stride]);
    }
    var l = 0.0;
    for (var sp = 0u; sp < P.n_splits; sp++) {
        let po = (job + sp) * stride;
        l += exp(PART[po] - mx) * PART[po + 1u];
    }
    for (var d = lid.x; d < HEAD_DIM; d += WG_X) {
        var o = 0.0;
        for (var sp = 0u; sp < P.n_splits; sp++) {
            let po = (job + sp) * stride;
            o += exp(PART[po] - mx) * PART[po + 2u + d];
        }
        OUT[P.out_offset + z * P.out_stride + h * HEAD_DIM + d] = o / l;
    }
}
