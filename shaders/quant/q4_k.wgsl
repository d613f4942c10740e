// Q4_K (ggml block_q4_K, 144 bytes, aligned): word 0 = d | dmin, 1..3 packed scales, 4..35 quants.
// Element e: chunk c = e/64 uses bytes qs[c*32 .. c*32+32], low nibbles for its first 32 values
// (sub-block 2c), high nibbles for the next 32 (sub-block 2c+1).
#include "quant/kscales.wgsl"
const QK: u32 = 256u;
const BLOCK_WORDS: u32 = 36u;

fn q_get4(b: u32, i: u32) -> vec4<f32> {
    let o = b * 36u;
    let e = i * 4u;
    let c = e / 64u;
    let hi = (e % 64u) / 32u;
    let l = e % 32u;
    let dm = unpack2x16float(W[o]);
    let sm = k4_scale_min(o, 2u * c + hi);
    let q = (bytes4(W[o + 4u + (c * 32u + l) / 4u]) >> vec4<u32>(4u * hi)) & vec4<u32>(0xfu);
    return vec4<f32>(q) * (dm.x * sm.x) - dm.y * sm.y;
}

#ifdef MV_FAST
// Matvec steps of one block: its first vector (d, dmin, scales) is read once, then 4 sub-steps of
// 64 values, each 2 vectors of quants (low nibbles: sub-block 2c, high nibbles: 2c + 1).
#define MV_STEP_BLOCKS 1u
#define MV_SUBS 4
#define MV_XV 16u
#define MV_XSCALE 1
#define MV_XG 8u
alias MvHead = vec4<u32>;

fn mv_head(b: u32) -> MvHead {
    return W4[9u * b];
}

// ggml's get_scale_min_k4 on the scale bytes in h.yzw (j is a constant after inlining).
fn k4_sm(h: vec4<u32>, j: u32) -> vec2<f32> {
    let i = j & 3u;
    let lo = vec2<f32>(f32(byte_at(h.y, i) & 63u), f32(byte_at(h.z, i) & 63u));
    let q = byte_at(h.w, i);
    let hi = vec2<f32>(f32((q & 0xfu) | ((byte_at(h.y, i) >> 6u) << 4u)), f32((q >> 4u) | ((byte_at(h.z, i) >> 6u) << 4u)));
    return select(hi, lo, j < 4u);
}

fn mv_sub(b: u32, c: u32, h: MvHead) -> XS {
    let o = 9u * b + 1u + 2u * c;
    let q0 = W4[o];
    let q1 = W4[o + 1u];
    let s_lo = dot4w(q0, M4, 0u) + dot4w(q1, M4, 4u);
    let s_hi = dot4w(q0 >> vec4<u32>(4u), M4, 8u) + dot4w(q1 >> vec4<u32>(4u), M4, 12u);
    let dm = unpack2x16float(h.x);
    let a = dm * k4_sm(h, 2u * c);
    let z = dm * k4_sm(h, 2u * c + 1u);
    return a.x * s_lo - a.y * xg[0] + z.x * s_hi - z.y * xg[1];
}
#endif
