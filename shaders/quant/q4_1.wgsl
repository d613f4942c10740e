// Q4_1 (ggml block_q4_1): x = q * d + m. GPU layout: the 16 quant bytes are the block's 4 words;
// the d|m word sits in the side plane (word b), see gpu/weights.rs.
const QK: u32 = 32u;
const BLOCK_WORDS: u32 = 4u;

fn q_get4(b: u32, i: u32) -> vec4<f32> {
    let dm = unpack2x16float(W[scale_base() + b]);
    let w = W[b * 4u + (i & 3u)];
    let q = (bytes4(w) >> vec4<u32>((i >> 2u) * 4u)) & vec4<u32>(0xfu);
    return vec4<f32>(q) * dm.x + dm.y;
}
