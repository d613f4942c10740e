// Q8_0 (ggml block_q8_0): x = q * d with signed bytes; 8 words of quants, f16 scale in the plane.
const QK: u32 = 32u;
const BLOCK_WORDS: u32 = 8u;

fn q_get4(b: u32, i: u32) -> vec4<f32> {
    let d = unpack2x16float(W[scale_base() + b / 2u])[b & 1u];
    return vec4<f32>(sbytes4(W[b * 8u + i])) * d;
}
