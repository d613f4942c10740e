// BF16 weights: the top half of an f32, two per word; "blocks" of 4 values.
const QK: u32 = 4u;
const BLOCK_WORDS: u32 = 2u;

fn bf16x2(w: u32) -> vec2<f32> {
    return vec2<f32>(bitcast<f32>(w << 16u), bitcast<f32>(w & 0xffff0000u));
}

fn q_get4(b: u32, i: u32) -> vec4<f32> {
    return vec4<f32>(bf16x2(W[b * 2u]), bf16x2(W[b * 2u + 1u]));
}
