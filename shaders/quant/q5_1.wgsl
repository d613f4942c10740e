// Q5_1 (ggml block_q5_1): x = q5 * d + m; 24-byte blocks (words dm, qh, qs[0..4]) are aligned.
const QK: u32 = 32u;
const BLOCK_WORDS: u32 = 6u;

fn q_get4(b: u32, i: u32) -> vec4<f32> {
    let o = b * 6u;
    let dm = unpack2x16float(W[o]);
    let qh = W[o + 1u];
    let half = i >> 2u;
    let e0 = i * 4u;
    let w = W[o + 2u + (i & 3u)];
    let lo = (bytes4(w) >> vec4<u32>(half * 4u)) & vec4<u32>(0xfu);
    let hb = (vec4<u32>(qh) >> (vec4<u32>(e0) + vec4<u32>(0u, 1u, 2u, 3u))) & vec4<u32>(1u);
    return vec4<f32>(lo | (hb << vec4<u32>(4u))) * dm.x + dm.y;
}
