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

#ifdef MV_FAST
// Matvec steps of one block: its scales vector and d are read once, then 2 sub-steps of 128 values
// (ggml's halves), each 4 vectors of low bits and 2 of high bits.
#define MV_STEP_BLOCKS 1u
#define MV_SUBS 2
#define MV_XV 32u
#define MV_XSCALE 1
#define MV_XG 4u
struct MvHead {
    sc: vec4<u32>,
    d: f32,
}

fn mv_head(b: u32) -> MvHead {
    let d = unpack2x16float(W[scale_base() + b / 2u]);
    return MvHead(W4[13u * b + 12u], select(d.x, d.y, (b & 1u) != 0u));
}

// 6-bit values: nibbles (ql >> ns) with bits (qh >> hs) & 3 on top.
fn q6_words(ql: vec4<u32>, qh: vec4<u32>, ns: u32, hs: u32) -> vec4<u32> {
    return ((ql >> vec4<u32>(ns)) & vec4<u32>(0x0f0f0f0fu)) | (((qh >> vec4<u32>(hs)) & vec4<u32>(0x03030303u)) << vec4<u32>(4u));
}

// Signed 8-bit scale n (a constant after inlining) of the block.
fn q6_scale(sc: vec4<u32>, n: u32) -> f32 {
    return f32(extractBits(bitcast<i32>(sc[n / 4u]), 8u * (n % 4u), 8u));
}

// Quarter qq (32 values): two groups of 16 with their own scales.
fn q6_quarter(ql0: vec4<u32>, ql1: vec4<u32>, qh0: vec4<u32>, qh1: vec4<u32>, qq: u32, n: u32, sc: vec4<u32>) -> XS {
    let ns = 4u * (qq >> 1u);
    let j = 8u * qq;
    let s0 = dot4w(q6_words(ql0, qh0, ns, 2u * qq), M6, j) - 32.0 * xg[2u * qq];
    let s1 = dot4w(q6_words(ql1, qh1, ns, 2u * qq), M6, j + 4u) - 32.0 * xg[2u * qq + 1u];
    return q6_scale(sc, n) * s0 + q6_scale(sc, n + 1u) * s1;
}

fn mv_sub(b: u32, c: u32, h: MvHead) -> XS {
    let o = 13u * b + 4u * c;
    let ql0 = W4[o];
    let ql1 = W4[o + 1u];
    let ql2 = W4[o + 2u];
    let ql3 = W4[o + 3u];
    let qh0 = W4[13u * b + 8u + 2u * c];
    let qh1 = W4[13u * b + 9u + 2u * c];
    let n = 8u * c;
    return h.d * (q6_quarter(ql0, ql1, qh0, qh1, 0u, n, h.sc) + q6_quarter(ql2, ql3, qh0, qh1, 1u, n + 2u, h.sc)
                + q6_quarter(ql0, ql1, qh0, qh1, 2u, n + 4u, h.sc) + q6_quarter(ql2, ql3, qh0, qh1, 3u, n + 6u, h.sc));
}
#endif
