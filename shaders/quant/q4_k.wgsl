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
alias MvHead = KScales;

fn mv_head(b: u32) -> MvHead {
    return k4_scales(W4[9u * b]);
}

fn mv_sub(b: u32, c: u32, h: MvHead) -> XS {
    let o = 9u * b + 1u + 2u * c;
    let q0 = W4[o];
    let q1 = W4[o + 1u];
    let s_lo = dot4w(q0, M4, 0u) + dot4w(q1, M4, 4u);
    let s_hi = dot4wu(q0, M4H, 8u) + dot4wu(q1, M4H, 12u);
    let t = k4_sub(h, c);
    return t.x * s_lo - t.y * xg[0] + t.z * s_hi - t.w * xg[1];
}
#endif
