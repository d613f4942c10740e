// IQ4_NL (ggml block_iq4_nl): x = d * codebook[q]. Laid out as Q4_0 on the GPU: the 16 quant bytes
// are the block's 4 words, the f16 scales of a pair of blocks one word of the side plane.
#include "quant/iq4.wgsl"
const QK: u32 = 32u;
const BLOCK_WORDS: u32 = 4u;

fn q_get4(b: u32, i: u32) -> vec4<f32> {
    let d = unpack2x16float(W[scale_base() + b / 2u])[b & 1u];
    return iq4_get4(b * 4u, i) * d;
}

#ifdef MV_FAST
// Matvec steps of a pair of blocks: their quants are 2 vectors, their scales one side word.
#define MV_STEP_BLOCKS 2u
#define MV_SUBS 1
#define MV_XV 16u
#define MV_XSCALE 0
#define MV_XG 8u
alias MvHead = vec2<f32>;

fn mv_head(b: u32) -> MvHead {
    return unpack2x16float(W[scale_base() + b / 2u]);
}

fn mv_sub(b: u32, c: u32, h: MvHead) -> XS {
    return h.x * iq4_dot(W4[b], 0u) + h.y * iq4_dot(W4[b + 1u], 8u);
}
#endif
