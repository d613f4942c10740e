// Q5_0 (ggml block_q5_0): x = (q5 - 16) * d; fifth bits in qh. GPU layout: words qh, qs[0..4];
// the f16 scale in the scale plane.
const QK: u32 = 32u;
const BLOCK_WORDS: u32 = 5u;

fn q_get4(b: u32, i: u32) -> vec4<f32> {
    let d = unpack2x16float(W[scale_base() + b / 2u])[b & 1u];
    let o = b * 5u;
    let qh = W[o];
    let half = i >> 2u;          // 0: low nibbles (elements 0..15), 1: high nibbles (16..31)
    let e0 = i * 4u;             // first element
    let w = W[o + 1u + (i & 3u)];
    let lo = (bytes4(w) >> vec4<u32>(half * 4u)) & vec4<u32>(0xfu);
    let hb = (vec4<u32>(qh) >> (vec4<u32>(e0) + vec4<u32>(0u, 1u, 2u, 3u))) & vec4<u32>(1u);
    return (vec4<f32>(lo | (hb << vec4<u32>(4u))) - 16.0) * d;
}
