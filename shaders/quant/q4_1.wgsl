// Q4_1 (ggml block_q4_1): x = q * d + m; 20-byte blocks are word aligned as stored.
const QK: u32 = 32u;
const BLOCK_WORDS: u32 = 5u;

fn q_get4(b: u32, i: u32) -> vec4<f32> {
    let o = b * 5u;
    let dm = unpack2x16float(W[o]);
    let w = W[o + 1u + (i & 3u)];
    let q = (bytes4(w) >> vec4<u32>((i >> 2u) * 4u)) & vec4<u32>(0xfu);
    return vec4<f32>(q) * dm.x + dm.y;
}
