// Q5_1 (ggml block_q5_1): x = q5 * d + m. GPU layout: the 16 quant bytes are the block's 4 words;
// the side plane holds [d|m, qh] per block (words 2b, 2b+1).
const QK: u32 = 32u;
const BLOCK_WORDS: u32 = 4u;

#include "quant/q5_bits.wgsl"

fn q_get4(b: u32, i: u32) -> vec4<f32> {
    let dm = unpack2x16float(W[scale_base() + 2u * b]);
    let qh = W[scale_base() + 2u * b + 1u];
    let half = i >> 2u;
    let w = W[b * 4u + (i & 3u)];
    let lo = (bytes4(w) >> vec4<u32>(half * 4u)) & vec4<u32>(0xfu);
    let hb = q5_hb4(qh, i);
    return vec4<f32>(lo | (hb << vec4<u32>(4u))) * dm.x + dm.y;
}

#ifdef MV_FAST
// Matvec steps of a pair of blocks: 2 vectors of quants and one side vector [dm, qh, dm, qh].
#define MV_STEP_BLOCKS 2u
#define MV_SUBS 1
#define MV_XV 16u
#define MV_XSCALE 1
#define MV_XG 8u
struct MvHead {
    qh: vec2<u32>,
    dm: vec4<f32>,
}

fn mv_head(b: u32) -> MvHead {
    let v = W4[(scale_base() + 2u * b) / 4u];
    return MvHead(v.yw, vec4<f32>(unpack2x16float(v.x), unpack2x16float(v.z)));
}


fn mv_sub(b: u32, c: u32, h: MvHead) -> XS {
    return h.dm.x * q5_dot(W4[b], h.qh.x, 0u) + h.dm.y * xg[0] + h.dm.z * q5_dot(W4[b + 1u], h.qh.y, 8u) + h.dm.w * xg[1];
}
#endif
