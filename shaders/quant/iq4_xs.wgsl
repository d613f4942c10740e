// IQ4_XS (ggml block_iq4_xs): eight groups of 32 as in IQ4_NL, group g scaled by d * (s_g - 32)
// with a 6-bit s_g. GPU layout: the 128 quant bytes are the block's 32 words (group g: words
// 4g..4g+3); the side plane holds [d | scales_h << 16, scales_l] per block (words 2b, 2b+1), so
// the low 4 bits of s_g are nibble g of scales_l and its high 2 bits bits 16 + 2g of the first word.
#include "quant/iq4.wgsl"
const QK: u32 = 256u;
const BLOCK_WORDS: u32 = 32u;

// d * (s_g - 32) of groups g0..g0 + 3, from the block's two side words.
fn iq4xs_scales(dh: u32, sl: u32, g0: u32) -> vec4<f32> {
    let g = vec4<u32>(g0) + vec4<u32>(0u, 1u, 2u, 3u);
    let s = ((vec4<u32>(sl) >> (4u * g)) & vec4<u32>(0xfu)) | (((vec4<u32>(dh) >> (16u + 2u * g)) & vec4<u32>(3u)) << vec4<u32>(4u));
    return unpack2x16float(dh).x * (vec4<f32>(vec4<i32>(s)) - 32.0);
}

fn q_get4(b: u32, i: u32) -> vec4<f32> {
    let g = i / 8u;
    let dl = iq4xs_scales(W[scale_base() + 2u * b], W[scale_base() + 2u * b + 1u], g & 4u)[g & 3u];
    return iq4_get4(b * 32u + g * 4u, i % 8u) * dl;
}

#ifdef MV_FAST
// Matvec steps of one block: its side words are read once (half of a side vector: the side plane
// starts on a vector) and turned into the 8 group scales, then 4 sub-steps of 64 values, each 2
// vectors of quants.
#define MV_STEP_BLOCKS 1u
#define MV_SUBS 4
#define MV_XV 16u
#define MV_XSCALE 0
#define MV_XG 8u
// d·(s_g - 32) of the even groups 0, 2, 4, 6 and of the odd ones 1, 3, 5, 7, built from masked
// fields in place: nothing is shifted (the CPU adapters shift lane by lane, see common.wgsl).
struct MvHead {
    ev: vec4<f32>,
    od: vec4<f32>,
}

fn mv_head(b: u32) -> MvHead {
    let v = W4[(scale_base() + 2u * b) / 4u];
    let w = select(v.xy, v.zw, (b & 1u) != 0u);
    let dh = w.x;
    let sl = w.y;
    // Group g's low 4 bits: nibble g of sl (byte g / 2); its high 2 bits: bits 16 + 2g of dh.
    let he = inplace(dh, vec4<u32>(0x30000u, 0x300000u, 0x3000000u, 0x30000000u))
           * vec4<f32>(1.0 / 65536.0, 1.0 / 1048576.0, 1.0 / 16777216.0, 1.0 / 268435456.0);
    let ho = inplace_u(dh, vec4<u32>(0xc0000u, 0xc00000u, 0xc000000u, 0xc0000000u))
           * vec4<f32>(1.0 / 262144.0, 1.0 / 4194304.0, 1.0 / 67108864.0, 1.0 / 1073741824.0);
    let d = unpack2x16float(dh).x;
    let ev = inplace(sl, M4) * XSCALE + 16.0 * he;
    let od = inplace_u(sl, M4H) * (XSCALE * 0.0625) + 16.0 * ho;
    return MvHead(d * (ev - 32.0), d * (od - 32.0));
}

fn mv_sub(b: u32, c: u32, h: MvHead) -> XS {
    let o = 8u * b + 2u * c;
    // c is a constant once the drivers have inlined: the components are picked at compile time.
    return h.ev[c] * iq4_dot(W4[o], 0u) + h.od[c] * iq4_dot(W4[o + 1u], 8u);
}
#endif
