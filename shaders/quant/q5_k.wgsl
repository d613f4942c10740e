// Q5_K (ggml block_q5_K, 176 bytes, aligned): as Q4_K plus qh (words 4..11): the fifth bit of
// element e is bit (2c + hi) of qh[e % 32].
#include "quant/kscales.wgsl"
const QK: u32 = 256u;
const BLOCK_WORDS: u32 = 44u;

fn q_get4(b: u32, i: u32) -> vec4<f32> {
    let o = b * 44u;
    let e = i * 4u;
    let c = e / 64u;
    let hi = (e % 64u) / 32u;
    let l = e % 32u;
    let dm = unpack2x16float(W[o]);
    let sm = k4_scale_min(o, 2u * c + hi);
    let lo = (bytes4(W[o + 12u + (c * 32u + l) / 4u]) >> vec4<u32>(4u * hi)) & vec4<u32>(0xfu);
    let hb = (bytes4(W[o + 4u + l / 4u]) >> vec4<u32>(2u * c + hi)) & vec4<u32>(1u);
    return vec4<f32>(lo | (hb << vec4<u32>(4u))) * (dm.x * sm.x) - dm.y * sm.y;
}

#ifdef MV_FAST
// Matvec steps of one block: its first 3 vectors (d, dmin, scales; the 32 bytes of fifth bits) are
// read once, then 4 sub-steps of 64 values, each 2 vectors of low nibbles.
#define MV_STEP_BLOCKS 1u
#define MV_SUBS 4
#define MV_XV 16u
#define MV_XSCALE 1
#define MV_XG 8u
struct MvHead {
    h: vec4<u32>,
    qh0: vec4<u32>,
    qh1: vec4<u32>,
}

fn mv_head(b: u32) -> MvHead {
    let o = 11u * b;
    return MvHead(W4[o], W4[o + 1u], W4[o + 2u]);
}

fn k4_sm(h: vec4<u32>, j: u32) -> vec2<f32> {
    let i = j & 3u;
    let lo = vec2<f32>(f32(byte_at(h.y, i) & 63u), f32(byte_at(h.z, i) & 63u));
    let q = byte_at(h.w, i);
    let hi = vec2<f32>(f32((q & 0xfu) | ((byte_at(h.y, i) >> 6u) << 4u)), f32((q >> 4u) | ((byte_at(h.z, i) >> 6u) << 4u)));
    return select(hi, lo, j < 4u);
}

// Nibbles (q >> ns) with bit `hs` of each qh byte as their fifth bit.
fn q5k_words(q: vec4<u32>, qh: vec4<u32>, ns: u32, hs: u32) -> vec4<u32> {
    return ((q >> vec4<u32>(ns)) & vec4<u32>(0x0f0f0f0fu)) | (((qh >> vec4<u32>(hs)) & vec4<u32>(0x01010101u)) << vec4<u32>(4u));
}

fn mv_sub(b: u32, c: u32, h: MvHead) -> XS {
    let o = 11u * b + 3u + 2u * c;
    let q0 = W4[o];
    let q1 = W4[o + 1u];
    let dm = unpack2x16float(h.h.x);
    let a = dm * k4_sm(h.h, 2u * c);
    let z = dm * k4_sm(h.h, 2u * c + 1u);
    let s_lo = dot4w(q5k_words(q0, h.qh0, 0u, 2u * c), M5, 0u) + dot4w(q5k_words(q1, h.qh1, 0u, 2u * c), M5, 4u);
    let s_hi = dot4w(q5k_words(q0, h.qh0, 4u, 2u * c + 1u), M5, 8u) + dot4w(q5k_words(q1, h.qh1, 4u, 2u * c + 1u), M5, 12u);
    return a.x * s_lo - a.y * xg[0] + z.x * s_hi - z.y * xg[1];
}
#endif
