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
// The block's 16 scales times d: scale n is s[n / 4][n % 4]. Nothing is shifted: the CPU adapters
// shift lane by lane (see common.wgsl).
struct MvHead {
    s0: vec4<f32>,
    s1: vec4<f32>,
    s2: vec4<f32>,
    s3: vec4<f32>,
}

fn mv_head(b: u32) -> MvHead {
    let d2 = unpack2x16float(W[scale_base() + b / 2u]);
    let d = select(d2.x, d2.y, (b & 1u) != 0u) * (1.0 / 16777216.0);
    let sc = W4[13u * b + 12u];
    return MvHead(sbytes_top(sc.x) * d, sbytes_top(sc.y) * d, sbytes_top(sc.z) * d, sbytes_top(sc.w) * d);
}

// Σ (6-bit value)·x of a group of 16 whose low nibbles are the low ones of ql (hs < 4, so that the
// high bits are multiplied up next to them and the values assembled in place) or the high ones
// (in place, 16 times their value; the high bits then a dot of their own), against xs[j..j + 4];
// the -32 is left to the caller.
fn q6_group(ql: vec4<u32>, qh: vec4<u32>, high: bool, hs: u32, j: u32) -> XS {
    if (high) {
        return (dot4wu(ql, M4H, j) + (256.0 / f32(1u << hs)) * dot4wu(qh, M2 * (1u << hs), j)) * 0.0625;
    }
    return dot4w((ql & vec4<u32>(0x0f0f0f0fu)) | ((qh & vec4<u32>(0x03030303u << hs)) * (16u >> hs)), M6, j);
}

// Quarter qq (32 values): two groups of 16 with their own scales (sa, sb).
fn q6_quarter(ql0: vec4<u32>, ql1: vec4<u32>, qh0: vec4<u32>, qh1: vec4<u32>, qq: u32, sa: f32, sb: f32) -> XS {
    let high = qq >= 2u;
    let j = 8u * qq;
    let s0 = q6_group(ql0, qh0, high, 2u * qq, j) - 32.0 * xg[2u * qq];
    let s1 = q6_group(ql1, qh1, high, 2u * qq, j + 4u) - 32.0 * xg[2u * qq + 1u];
    return sa * s0 + sb * s1;
}

fn mv_sub(b: u32, c: u32, h: MvHead) -> XS {
    let o = 13u * b + 4u * c;
    let ql0 = W4[o];
    let ql1 = W4[o + 1u];
    let ql2 = W4[o + 2u];
    let ql3 = W4[o + 3u];
    let qh0 = W4[13u * b + 8u + 2u * c];
    let qh1 = W4[13u * b + 9u + 2u * c];
    // c is a constant once the drivers have inlined: the selects fold away.
    let sa = select(h.s0, h.s2, c == 1u);
    let sb = select(h.s1, h.s3, c == 1u);
    return q6_quarter(ql0, ql1, qh0, qh1, 0u, sa.x, sa.y) + q6_quarter(ql2, ql3, qh0, qh1, 1u, sa.z, sa.w)
         + q6_quarter(ql0, ql1, qh0, qh1, 2u, sb.x, sb.y) + q6_quarter(ql2, ql3, qh0, qh1, 3u, sb.z, sb.w);
}
#endif
