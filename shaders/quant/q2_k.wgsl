// Q2_K (ggml block_q2_K): words 0..3 scales (4-bit scale | 4-bit min per 16 values), 4..19 the
// 2-bit quants; d | dmin is word b of the side plane. Element e: half h = e/128, shift 2*((e%128)/32),
// sub-block part = (e%32)/16; its byte is qs[h*32 + part*16 + e%16], its scale scales[h*8 + s*2 + part].
const QK: u32 = 256u;
const BLOCK_WORDS: u32 = 20u;

fn q_get4(b: u32, i: u32) -> vec4<f32> {
    let o = b * 20u;
    let e = i * 4u;
    let h = e / 128u;
    let s = (e % 128u) / 32u;
    let part = (e % 32u) / 16u;
    let l = e % 16u;
    let dm = unpack2x16float(W[scale_base() + b]);
    let si = h * 8u + s * 2u + part;
    let sc = byte_at(W[o + si / 4u], si % 4u);
    let q = (bytes4(W[o + 4u + (h * 32u + part * 16u + l) / 4u]) >> vec4<u32>(2u * s)) & vec4<u32>(3u);
    return vec4<f32>(q) * (dm.x * f32(sc & 0xfu)) - dm.y * f32(sc >> 4u);
}

#ifdef MV_FAST
// Matvec steps of one block: its scales vector and d|dmin side word are read once, then 2 sub-steps
// of 128 values (ggml's halves), each 2 vectors of 2-bit quants.
#define MV_STEP_BLOCKS 1u
#define MV_SUBS 2
#define MV_XV 32u
#define MV_XSCALE 1
#define MV_XG 4u
struct MvHead {
    sc: vec4<u32>,
    dm: vec2<f32>,
}

fn mv_head(b: u32) -> MvHead {
    return MvHead(W4[5u * b], unpack2x16float(W[scale_base() + b]));
}

// 16 values: 2-bit fields at `shift` of q, scale byte n (a constant after inlining).
fn q2_group(q: vec4<u32>, shift: u32, j: u32, n: u32, h: MvHead) -> XS {
    let s = byte_at(h.sc[n / 4u], n % 4u);
    return h.dm.x * f32(s & 0xfu) * dot4w(q >> vec4<u32>(shift), M2, j) - h.dm.y * f32(s >> 4u) * xg[j / 4u];
}

fn mv_sub(b: u32, c: u32, h: MvHead) -> XS {
    let o = 5u * b + 1u + 2u * c;
    let q0 = W4[o];
    let q1 = W4[o + 1u];
    let n = 8u * c;
    return q2_group(q0, 0u, 0u, n, h) + q2_group(q1, 0u, 4u, n + 1u, h)
         + q2_group(q0, 2u, 8u, n + 2u, h) + q2_group(q1, 2u, 12u, n + 3u, h)
         + q2_group(q0, 4u, 16u, n + 4u, h) + q2_group(q1, 4u, 20u, n + 5u, h)
         + q2_group(q0, 6u, 24u, n + 6u, h) + q2_group(q1, 6u, 28u, n + 7u, h);
}
#endif
