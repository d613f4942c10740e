// Q5_0 (ggml block_q5_0): x = (q5 - 16) * d; fifth bits in qh. GPU layout: the 16 quant bytes
// are the block's 4 words; blocks (2p, 2p+1) share the side record [qh, qh, d|d] (3 words).
const QK: u32 = 32u;
const BLOCK_WORDS: u32 = 4u;

#include "quant/q5_bits.wgsl"

fn q_get4(b: u32, i: u32) -> vec4<f32> {
    let rec = scale_base() + (b / 2u) * 3u;
    let d = unpack2x16float(W[rec + 2u])[b & 1u];
    let qh = W[rec + (b & 1u)];
    let half = i >> 2u;          // 0: low nibbles (elements 0..15), 1: high nibbles (16..31)
    let w = W[b * 4u + (i & 3u)];
    let lo = (bytes4(w) >> vec4<u32>(half * 4u)) & vec4<u32>(0xfu);
    let hb = q5_hb4(qh, i);
    return (vec4<f32>(lo | (hb << vec4<u32>(4u))) - 16.0) * d;
}

#ifdef MV_FAST
// Matvec steps of a pair of blocks: 2 vectors of quants and their 3-word side record.
#define MV_STEP_BLOCKS 2u
#define MV_SUBS 1
#define MV_XV 16u
#define MV_XSCALE 1
#define MV_XG 8u
struct MvHead {
    qh: vec2<u32>,
    d: vec2<f32>,
}

fn mv_head(b: u32) -> MvHead {
    let rec = scale_base() + (b / 2u) * 3u;
    return MvHead(vec2<u32>(W[rec], W[rec + 1u]), unpack2x16float(W[rec + 2u]));
}


fn mv_sub(b: u32, c: u32, h: MvHead) -> XS {
    return h.d.x * (q5_dot(W4[b], h.qh.x, 0u) - 16.0 * xg[0]) + h.d.y * (q5_dot(W4[b + 1u], h.qh.y, 8u) - 16.0 * xg[1]);
}
#endif
