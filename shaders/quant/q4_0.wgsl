// Q4_0 (ggml block_q4_0): x = (q - 8) * d. On the GPU the 16 quant bytes are the block's 4 words
// and the f16 scales sit in a separate plane (see gpu/weights.rs), so every word is aligned.
const QK: u32 = 32u;
const BLOCK_WORDS: u32 = 4u;

fn q_get4(b: u32, i: u32) -> vec4<f32> {
    let d = unpack2x16float(W[scale_base() + b / 2u])[b & 1u];
    // Elements 0..15 are the low nibbles of bytes 0..15, 16..31 the high nibbles.
    let w = W[b * 4u + (i & 3u)];
    let q = (bytes4(w) >> vec4<u32>((i >> 2u) * 4u)) & vec4<u32>(0xfu);
    return (vec4<f32>(q) - 8.0) * d;
}

#ifdef MV_FAST
// Matvec steps of a pair of blocks: their quants are 2 vectors, their scales one side word.
#define MV_STEP_BLOCKS 2u
#define MV_SUBS 1
#define MV_XV 16u
#define MV_XSCALE 1
#define MV_XG 8u
alias MvHead = vec2<f32>;

fn mv_head(b: u32) -> MvHead {
    return unpack2x16float(W[scale_base() + b / 2u]);
}

// Σ q·x of one block against xs[j..j + 8]: low nibbles are values 0..15, high nibbles (in place, 16
// times their value: SwiftShader shifts lane by lane) 16..31.
fn q4_dot(q: vec4<u32>, j: u32) -> XS {
    return dot4w(q, M4, j) + 0.0625 * dot4wu(q, M4H, j + 4u);
}

fn mv_sub(b: u32, c: u32, h: MvHead) -> XS {
    return h.x * (q4_dot(W4[b], 0u) - 8.0 * xg[0]) + h.y * (q4_dot(W4[b + 1u], 8u) - 8.0 * xg[1]);
}
#endif
