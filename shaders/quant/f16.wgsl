// F16 weights, kept packed two per word (no shader-f16 needed): "blocks" of 4 values.
const QK: u32 = 4u;
const BLOCK_WORDS: u32 = 2u;

fn q_get4(b: u32, i: u32) -> vec4<f32> {
    return vec4<f32>(unpack2x16float(W[b * 2u]), unpack2x16float(W[b * 2u + 1u]));
}
