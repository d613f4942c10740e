// Q2_K (ggml block_q2_K): words 0..3 scales (4-bit scale | 4-bit min per 16 values), 4..19 the
// 2-bit quants; d | dmin is word b of the side plane. Element e: half h = e/128, shift 2*((e%128)/32),
// sub-block part = (e%32)/16; its byte is qs[h*32 + part*16 + e%16], its scale scales[h*8 + s*2 + part].
const QK: u32 = 256u;
const BLOCK_WORDS: u32 = 20u;

fn q_get4(b: u32, i: u32) -> vec4<f32> {
    let o = b * 20u;
    let e = i * 4u;
    let h = e / 128u;
    let s = (e % 128u) / 32u;
    let part = (e % 32u) / 16u;
    let l = e % 16u;
    let dm = unpack2x16float(W[scale_base() + b]);
    let si = h * 8u + s * 2u + part;
    let sc = byte_at(W[o + si / 4u], si % 4u);
    let q = (bytes4(W[o + 4u + (h * 32u + part * 16u + l) / 4u]) >> vec4<u32>(2u * s)) & vec4<u32>(3u);
    return vec4<f32>(q) * (dm.x * f32(sc & 0xfu)) - dm.y * f32(sc >> 4u);
}
