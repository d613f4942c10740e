// Q3_K (ggml block_q3_K, padded to 112 bytes): words 0..7 hmask, 8..23 the low 2 bits, 24..26
// twelve bytes of 6-bit scales, 27 = d | padding. Element e: half h, shift s and part as in Q2_K;
// the high bit is hmask[part*16 + e%16] bit (h*4 + s), set meaning "no -4".
const QK: u32 = 256u;
const BLOCK_WORDS: u32 = 28u;

fn q3k_scale(o: u32, j: u32) -> f32 {
    var low: u32;
    if (j < 8u) {
        low = byte_at(W[o + 24u + j / 4u], j % 4u) & 0xfu;
    } else {
        low = byte_at(W[o + 24u + (j - 8u) / 4u], (j - 8u) % 4u) >> 4u;
    }
    let high = (byte_at(W[o + 26u], j % 4u) >> (2u * (j / 4u))) & 3u;
    return f32(i32(low | (high << 4u)) - 32);
}

fn q_get4(b: u32, i: u32) -> vec4<f32> {
    let o = b * 28u;
    let d = unpack2x16float(W[o + 27u]).x;
    let e = i * 4u;
    let h = e / 128u;
    let s = (e % 128u) / 32u;
    let part = (e % 32u) / 16u;
    let l = e % 16u;
    let sc = q3k_scale(o, h * 8u + s * 2u + part);
    let q = (bytes4(W[o + 8u + (h * 32u + part * 16u + l) / 4u]) >> vec4<u32>(2u * s)) & vec4<u32>(3u);
    let hm = (bytes4(W[o + (part * 16u + l) / 4u]) >> vec4<u32>(h * 4u + s)) & vec4<u32>(1u);
    return (vec4<f32>(q) - 4.0 + 4.0 * vec4<f32>(hm)) * (d * sc);
}

#ifdef MV_FAST
// Matvec steps of one block: hmask (2 vectors) and the scales vector are read once, then 2
// sub-steps of 128 values (ggml's halves), each 2 vectors of low bits.
#define MV_STEP_BLOCKS 1u
#define MV_SUBS 2
#define MV_XV 32u
#define MV_XSCALE 1
#define MV_XG 4u
struct MvHead {
    hm0: vec4<u32>,
    hm1: vec4<u32>,
    // The 16 six-bit scales (+32), one per byte, as ggml unpacks them.
    sc: vec4<u32>,
    d: f32,
}

fn mv_head(b: u32) -> MvHead {
    let o = 7u * b;
    let v = W4[o + 6u];
    let t = v.z;
    let sc = vec4<u32>((v.x & 0x0f0f0f0fu) | ((t & 0x03030303u) << 4u),
                       (v.y & 0x0f0f0f0fu) | (((t >> 2u) & 0x03030303u) << 4u),
                       ((v.x >> 4u) & 0x0f0f0f0fu) | (((t >> 4u) & 0x03030303u) << 4u),
                       ((v.y >> 4u) & 0x0f0f0f0fu) | (((t >> 6u) & 0x03030303u) << 4u));
    return MvHead(W4[o], W4[o + 1u], sc, unpack2x16float(v.w).x);
}

// 16 values: 2-bit fields at `shift` of q plus 4 × bit `hb` of hm, minus 4; scale byte n.
fn q3_group(q: vec4<u32>, hm: vec4<u32>, shift: u32, hb: u32, j: u32, n: u32, sc: vec4<u32>) -> XS {
    let v = ((q >> vec4<u32>(shift)) & vec4<u32>(0x03030303u)) | (((hm >> vec4<u32>(hb)) & vec4<u32>(0x01010101u)) << vec4<u32>(2u));
    let s = f32(byte_at(sc[n / 4u], n % 4u)) - 32.0;
    return s * (dot4w(v, M3, j) - 4.0 * xg[j / 4u]);
}

fn mv_sub(b: u32, c: u32, h: MvHead) -> XS {
    let o = 7u * b + 2u + 2u * c;
    let q0 = W4[o];
    let q1 = W4[o + 1u];
    let n = 8u * c;
    let hb = 4u * c;
    return h.d * (q3_group(q0, h.hm0, 0u, hb, 0u, n, h.sc) + q3_group(q1, h.hm1, 0u, hb, 4u, n + 1u, h.sc)
                + q3_group(q0, h.hm0, 2u, hb + 1u, 8u, n + 2u, h.sc) + q3_group(q1, h.hm1, 2u, hb + 1u, 12u, n + 3u, h.sc)
                + q3_group(q0, h.hm0, 4u, hb + 2u, 16u, n + 4u, h.sc) + q3_group(q1, h.hm1, 4u, hb + 2u, 20u, n + 5u, h.sc)
                + q3_group(q0, h.hm0, 6u, hb + 3u, 24u, n + 6u, h.sc) + q3_group(q1, h.hm1, 6u, hb + 3u, 28u, n + 7u, h.sc));
}
#endif
