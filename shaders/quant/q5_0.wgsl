// Q5_0 (ggml block_q5_0): x = (q5 - 16) * d; fifth bits in qh. GPU layout: the 16 quant bytes
// are the block's 4 words; blocks (2p, 2p+1) share the side record [qh, qh, d|d] (3 words).
const QK: u32 = 32u;
const BLOCK_WORDS: u32 = 4u;

fn q_get4(b: u32, i: u32) -> vec4<f32> {
    let rec = scale_base() + (b / 2u) * 3u;
    let d = unpack2x16float(W[rec + 2u])[b & 1u];
    let qh = W[rec + (b & 1u)];
    let half = i >> 2u;          // 0: low nibbles (elements 0..15), 1: high nibbles (16..31)
    let e0 = i * 4u;             // first element
    let w = W[b * 4u + (i & 3u)];
    let lo = (bytes4(w) >> vec4<u32>(half * 4u)) & vec4<u32>(0xfu);
    let hb = (vec4<u32>(qh) >> (vec4<u32>(e0) + vec4<u32>(0u, 1u, 2u, 3u))) & vec4<u32>(1u);
    return (vec4<f32>(lo | (hb << vec4<u32>(4u))) - 16.0) * d;
}
