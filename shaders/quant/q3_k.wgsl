// Q3_K (ggml block_q3_K, padded to 112 bytes): words 0..7 hmask, 8..23 the low 2 bits, 24..26
// twelve bytes of 6-bit scales, 27 = d | padding. Element e: half h, shift s and part as in Q2_K;
// the high bit is hmask[part*16 + e%16] bit (h*4 + s), set meaning "no -4".
const QK: u32 = 256u;
const BLOCK_WORDS: u32 = 28u;

fn q3k_scale(o: u32, j: u32) -> f32 {
    var low: u32;
    if (j < 8u) {
        low = byte_at(W[o + 24u + j / 4u], j % 4u) & 0xfu;
    } else {
        low = byte_at(W[o + 24u + (j - 8u) / 4u], (j - 8u) % 4u) >> 4u;
    }
    let high = (byte_at(W[o + 26u], j % 4u) >> (2u * (j / 4u))) & 3u;
    return f32(i32(low | (high << 4u)) - 32);
}

fn q_get4(b: u32, i: u32) -> vec4<f32> {
    let o = b * 28u;
    let d = unpack2x16float(W[o + 27u]).x;
    let e = i * 4u;
    let h = e / 128u;
    let s = (e % 128u) / 32u;
    let part = (e % 32u) / 16u;
    let l = e % 16u;
    let sc = q3k_scale(o, h * 8u + s * 2u + part);
    let q = (bytes4(W[o + 8u + (h * 32u + part * 16u + l) / 4u]) >> vec4<u32>(2u * s)) & vec4<u32>(3u);
    let hm = (bytes4(W[o + (part * 16u + l) / 4u]) >> vec4<u32>(h * 4u + s)) & vec4<u32>(1u);
    return (vec4<f32>(q) - 4.0 + 4.0 * vec4<f32>(hm)) * (d * sc);
}
