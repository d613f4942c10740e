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
// Per sub-step c: (d·scale, dmin·min) of sub-block 2c (low nibbles) and of sub-block 2c + 1 (high
// nibbles, decoded in place: 16 times their value, so that scale is over 16). Nothing is shifted:
// the CPU adapters shift lane by lane (see common.wgsl).
struct MvHead {
    t0: vec4<f32>,
    t1: vec4<f32>,
    t2: vec4<f32>,
    t3: vec4<f32>,
}

fn mv_head(b: u32) -> MvHead {
    let h = W4[9u * b];
    let dm = unpack2x16float(h.x);
    // ggml's get_scale_min_k4: sub-blocks 0..3 take the low 6 bits of the bytes of h.y (scales)
    // and h.z (mins); 4..7 the nibbles of h.w's bytes with the top 2 bits of h.y's or h.z's above.
    let s03 = inplace(h.y, M6) * XSCALE;
    let m03 = inplace(h.z, M6) * XSCALE;
    let s47 = inplace(h.w, M4) * XSCALE + inplace_u(h.y, M2H) * (XSCALE * 0.25);
    let m47 = inplace_u(h.w, M4H) * (XSCALE * 0.0625) + inplace_u(h.z, M2H) * (XSCALE * 0.25);
    let odd = vec4<f32>(1.0, 0.0625, 1.0, 0.0625);
    let a = s03 * (dm.x * odd);
    let z = s47 * (dm.x * odd);
    let am = m03 * dm.y;
    let zm = m47 * dm.y;
    return MvHead(vec4<f32>(a.x, am.x, a.y, am.y), vec4<f32>(a.z, am.z, a.w, am.w),
                  vec4<f32>(z.x, zm.x, z.y, zm.y), vec4<f32>(z.z, zm.z, z.w, zm.w));
}

fn mv_sub(b: u32, c: u32, h: MvHead) -> XS {
    let o = 9u * b + 1u + 2u * c;
    let q0 = W4[o];
    let q1 = W4[o + 1u];
    let s_lo = dot4w(q0, M4, 0u) + dot4w(q1, M4, 4u);
    let s_hi = dot4wu(q0, M4H, 8u) + dot4wu(q1, M4H, 12u);
    // c is a constant once the drivers have inlined: the selects fold away.
    let t = select(select(h.t0, h.t1, c == 1u), select(h.t2, h.t3, c == 3u), c >= 2u);
    return t.x * s_lo - t.y * xg[0] + t.z * s_hi - t.w * xg[1];
}
#endif
