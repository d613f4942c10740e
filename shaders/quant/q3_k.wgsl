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
// hmask (the sub-steps' high bits, as stored) and the 16 scales times d: scale n is s[n / 4][n % 4].
// Nothing is shifted: the CPU adapters shift lane by lane (see common.wgsl).
struct MvHead {
    hm0: vec4<u32>,
    hm1: vec4<u32>,
    s0: vec4<f32>,
    s1: vec4<f32>,
    s2: vec4<f32>,
    s3: vec4<f32>,
}

fn mv_head(b: u32) -> MvHead {
    let o = 7u * b;
    let v = W4[o + 6u];
    // ggml's 6-bit scales: the low 4 bits are the nibbles of the first 8 bytes (scales 0..7 the
    // low ones), the high 2 bits the 2-bit fields of the next 4 (scale n: byte n % 4, field n / 4).
    let d = unpack2x16float(v.w).x * XSCALE;
    let t = v.z;
    let s0 = inplace(v.x, M4) + inplace(t, M2) * 16.0;
    let s1 = inplace(v.y, M4) + inplace(t, M2 * 4u) * 4.0;
    let s2 = inplace_u(v.x, M4H) * 0.0625 + inplace(t, M2 * 16u);
    let s3 = inplace_u(v.y, M4H) * 0.0625 + inplace_u(t, M2H) * 0.25;
    let z = 32.0 / XSCALE;
    return MvHead(W4[o], W4[o + 1u], (s0 - z) * d, (s1 - z) * d, (s2 - z) * d, (s3 - z) * d);
}

// Σ (3-bit value)·x of 16 values against xs[j..j + 4]: the 2-bit fields at bit s of q's bytes with
// the high bits at bit p of hm's (constants after inlining) on top; the -4 is left to the caller.
// Below s = 6 the value is assembled in place at bit e of each byte, whichever of the two parts
// is lower multiplied up to the other; at s = 6 it would not fit in its byte, and the high bits
// are a dot of their own.
fn q3_group(q: vec4<u32>, hm: vec4<u32>, s: u32, p: u32, j: u32) -> XS {
    let hb = M1 * (1u << p);
    if (s == 6u) {
        return dot4wu(q, M2H, j) * (1.0 / 64.0) + (4.0 / f32(1u << p)) * dot4wu(hm, hb, j);
    }
    let e = max(s + 2u, p) - 2u;
    let v = ((q & vec4<u32>(0x03030303u << s)) * (1u << (e - s))) | ((hm & vec4<u32>(0x01010101u << p)) * (1u << (e + 2u - p)));
    let m = M3 * (1u << e);
    if (e == 5u) {
        return dot4wu(v, m, j) / f32(1u << e);
    }
    return dot4w(v, m, j) / f32(1u << e);
}

fn mv_sub(b: u32, c: u32, h: MvHead) -> XS {
    let o = 7u * b + 2u + 2u * c;
    let q0 = W4[o];
    let q1 = W4[o + 1u];
    let hb = 4u * c;
    // c is a constant once the drivers have inlined: the selects fold away.
    let sa = select(h.s0, h.s2, c == 1u);
    let sb = select(h.s1, h.s3, c == 1u);
    return sa.x * (q3_group(q0, h.hm0, 0u, hb, 0u) - 4.0 * xg[0]) + sa.y * (q3_group(q1, h.hm1, 0u, hb, 4u) - 4.0 * xg[1])
         + sa.z * (q3_group(q0, h.hm0, 2u, hb + 1u, 8u) - 4.0 * xg[2]) + sa.w * (q3_group(q1, h.hm1, 2u, hb + 1u, 12u) - 4.0 * xg[3])
         + sb.x * (q3_group(q0, h.hm0, 4u, hb + 2u, 16u) - 4.0 * xg[4]) + sb.y * (q3_group(q1, h.hm1, 4u, hb + 2u, 20u) - 4.0 * xg[5])
         + sb.z * (q3_group(q0, h.hm0, 6u, hb + 3u, 24u) - 4.0 * xg[6]) + sb.w * (q3_group(q1, h.hm1, 6u, hb + 3u, 28u) - 4.0 * xg[7]);
}
#endif
