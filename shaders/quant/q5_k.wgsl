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
    k: KScales,
    qh0: vec4<u32>,
    qh1: vec4<u32>,
}

fn mv_head(b: u32) -> MvHead {
    let o = 11u * b;
    return MvHead(k4_scales(W4[o]), W4[o + 1u], W4[o + 2u]);
}

// Σ value·x of the low-nibble sub-block (fifth bits at `hs` of the qh bytes) against xs[0..8]. Its
// 5-bit values are assembled in place: the bits multiplied up to bit 4 (hs < 4), or the nibbles up
// below bit hs (then the values are 2^(hs - 4) times theirs, undone by the returned sum's scale).
fn q5k_lo(q0: vec4<u32>, q1: vec4<u32>, h: MvHead, hs: u32) -> XS {
    let m = vec4<u32>(0x01010101u << hs);
    let up = select(1u << (max(hs, 4u) - 4u), 1u, hs < 4u);
    let bup = select(1u, 16u >> hs, hs < 4u);
    let v0 = ((q0 & vec4<u32>(0x0f0f0f0fu)) * up) | ((h.qh0 & m) * bup);
    let v1 = ((q1 & vec4<u32>(0x0f0f0f0fu)) * up) | ((h.qh1 & m) * bup);
    let fm = M5 * up;
    return (dot4w(v0, fm, 0u) + dot4w(v1, fm, 4u)) / f32(up);
}

// Σ (fifth bit at `hs` of each qh byte)·x against xs[j..j + 8], the bits in place (2^hs times
// their value).
fn q5k_bits(h: MvHead, hs: u32, j: u32) -> XS {
    let m = M1 * (1u << hs);
    return dot4wu(h.qh0, m, j) + dot4wu(h.qh1, m, j + 4u);
}

fn mv_sub(b: u32, c: u32, h: MvHead) -> XS {
    let o = 11u * b + 3u + 2u * c;
    let q0 = W4[o];
    let q1 = W4[o + 1u];
    let t = k4_sub(h.k, c);
    // Value = nibble + 16·bit; the high nibbles are 16 times theirs in place, as t.z expects, and
    // their bits (at 2c + 1) cannot join them within the byte, so they are a dot of their own.
    let hs = 2u * c;
    let s_lo = q5k_lo(q0, q1, h, hs);
    let s_hi = dot4wu(q0, M4H, 8u) + dot4wu(q1, M4H, 12u) + (128.0 / f32(1u << hs)) * q5k_bits(h, hs + 1u, 8u);
    return t.x * s_lo - t.y * xg[0] + t.z * s_hi - t.w * xg[1];
}
#endif
