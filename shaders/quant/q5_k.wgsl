// Q5_K (ggml block_q5_K, 176 bytes, aligned): as Q4_K plus qh (words 4..11): the fifth bit of
// element e is bit (2c + hi) of qh[e % 32].
#include "quant/kscales.wgsl"
const QK: u32 = 256u;
const BLOCK_WORDS: u32 = 44u;

fn q_get4(b: u32, i: u32) -> vec4<f32> {
    let o = b * 44u;
    let e = i * 4u;
    let c = e / 64u;
    let hi = (e % 64u) / 32u;
    let l = e % 32u;
    let dm = unpack2x16float(W[o]);
    let sm = k4_scale_min(o, 2u * c + hi);
    let lo = (bytes4(W[o + 12u + (c * 32u + l) / 4u]) >> vec4<u32>(4u * hi)) & vec4<u32>(0xfu);
    let hb = (bytes4(W[o + 4u + l / 4u]) >> vec4<u32>(2u * c + hi)) & vec4<u32>(1u);
    return vec4<f32>(lo | (hb << vec4<u32>(4u))) * (dm.x * sm.x) - dm.y * sm.y;
}
