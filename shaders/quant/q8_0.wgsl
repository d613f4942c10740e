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
#define MV_XSCALE 1
#define MV_XG 8u
#define MV_XW 1
alias MvHead = vec2<f32>;

fn mv_head(b: u32) -> MvHead {
    return unpack2x16float(W[scale_base() + b / 2u]);
}

// Σ q·x of a block (words q0, q1) against xs[j..j + 8], plus 128 · the x of its first three bytes
// of each word: the signed bytes are decoded in place, those three flipped to unsigned (q + 128)
// by one XOR per word, the top one already signed in place (SwiftShader shifts lane by lane).
fn q8_dot(q0: vec4<u32>, q1: vec4<u32>, j: u32) -> XS {
    let f = vec4<u32>(0x00808080u);
    let m = vec4<u32>(0xffu, 0xff00u, 0xff0000u, 0xff000000u);
    return dot4w(q0 ^ f, m, j) + dot4w(q1 ^ f, m, j + 4u);
}

fn mv_sub(b: u32, c: u32, h: MvHead) -> XS {
    let o = 2u * b;
    return h.x * (q8_dot(W4[o], W4[o + 1u], 0u) - 128.0 * (xg[0] - xw[0]))
         + h.y * (q8_dot(W4[o + 2u], W4[o + 3u], 8u) - 128.0 * (xg[1] - xw[1]));
}
#endif
