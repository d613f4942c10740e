// Q4_K (ggml block_q4_K, 144 bytes, aligned): word 0 = d | dmin, 1..3 packed scales, 4..35 quants.
// Element e: chunk c = e/64 uses bytes qs[c*32 .. c*32+32], low nibbles for its first 32 values
// (sub-block 2c), high nibbles for the next 32 (sub-block 2c+1).
#include "quant/kscales.wgsl"
const QK: u32 = 256u;
const BLOCK_WORDS: u32 = 36u;

fn q_get4(b: u32, i: u32) -> vec4<f32> {
    let o = b * 36u;
    let e = i * 4u;
    let c = e / 64u;
    let hi = (e % 64u) / 32u;
    let l = e % 32u;
    let dm = unpack2x16float(W[o]);
    let sm = k4_scale_min(o, 2u * c + hi);
    let q = (bytes4(W[o + 4u + (c * 32u + l) / 4u]) >> vec4<u32>(4u * hi)) & vec4<u32>(0xfu);
    return vec4<f32>(q) * (dm.x * sm.x) - dm.y * sm.y;
}
