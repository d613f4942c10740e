// Q6_K (ggml block_q6_K): words 0..31 ql (low 4 bits), 32..47 qh (high 2 bits), 48..51 sixteen
// signed 8-bit scales; the f16 d in the scale plane. Element e: half h = e/128, quarter qq and
// l = e%32 within it: ql byte h*64 + (qq&1)*32 + l (nibble qq>>1), qh byte h*32 + l (bits 2qq),
// scale h*8 + l/16 + 2qq; x = d * scale * (q - 32).
const QK: u32 = 256u;
const BLOCK_WORDS: u32 = 52u;

fn q_get4(b: u32, i: u32) -> vec4<f32> {
    let o = b * 52u;
    let d = unpack2x16float(W[scale_base() + b / 2u])[b & 1u];
    let e = i * 4u;
    let h = e / 128u;
    let r = e % 128u;
    let qq = r / 32u;
    let l = r % 32u;
    let lo = (bytes4(W[o + (h * 64u + (qq & 1u) * 32u + l) / 4u]) >> vec4<u32>((qq >> 1u) * 4u)) & vec4<u32>(0xfu);
    let hb = (bytes4(W[o + 32u + (h * 32u + l) / 4u]) >> vec4<u32>(2u * qq)) & vec4<u32>(3u);
    let si = h * 8u + l / 16u + 2u * qq;
    let sc = f32(extractBits(bitcast<i32>(W[o + 48u + si / 4u]), 8u * (si % 4u), 8u));
    return (vec4<f32>(lo | (hb << vec4<u32>(4u))) - 32.0) * (d * sc);
}
