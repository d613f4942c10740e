// Q8_0 (ggml block_q8_0): x = q * d with signed bytes; 8 words of quants, f16 scale in the plane.
const QK: u32 = 32u;
const BLOCK_WORDS: u32 = 8u;

fn q_get4(b: u32, i: u32) -> vec4<f32> {
    let d = unpack2x16float(W[scale_base() + b / 2u])[b & 1u];
    return vec4<f32>(sbytes4(W[b * 8u + i])) * d;
}

#ifdef MV_FAST
// Matvec steps of a pair of blocks: 4 vectors of quants and one side word of scales.
#define MV_STEP_BLOCKS 2u
#define MV_SUBS 1
#define MV_XV 16u
#define MV_XSCALE 0
alias MvHead = vec2<f32>;

fn mv_head(b: u32) -> MvHead {
    // dot4s sees every quant times 2^24.
    return unpack2x16float(W[scale_base() + b / 2u]) * 0.000000059604644775390625;
}

fn mv_sub(b: u32, c: u32, h: MvHead) -> XS {
    let o = 2u * b;
    return h.x * (dot4s(W4[o], 0u) + dot4s(W4[o + 1u], 4u)) + h.y * (dot4s(W4[o + 2u], 8u) + dot4s(W4[o + 3u], 12u));
}
#endif
