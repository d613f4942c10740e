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
