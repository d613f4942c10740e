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

#ifdef MV_FAST
// Matvec steps of one block: its scales vector and d|dmin side word are read once, then 2 sub-steps
// of 128 values (ggml's halves), each 2 vectors of 2-bit quants.
#define MV_STEP_BLOCKS 1u
#define MV_SUBS 2
#define MV_XV 32u
#define MV_XSCALE 1
#define MV_XG 4u
// Per half h of the block (sub-step): d·scale and dmin·min of its groups 0..3 (s[2h], m[2h]) and
// 4..7 (s[2h + 1], m[2h + 1]). A group's 2-bit fields stay in place at bit 2·(k / 2) of their bytes,
// 4^(k / 2) times their value, so its scale is over that. Nothing is shifted: the CPU adapters
// shift lane by lane (see common.wgsl).
struct MvHead {
    s0: vec4<f32>,
    s1: vec4<f32>,
    s2: vec4<f32>,
    s3: vec4<f32>,
    m0: vec4<f32>,
    m1: vec4<f32>,
    m2: vec4<f32>,
    m3: vec4<f32>,
}

fn mv_head(b: u32) -> MvHead {
    let sc = W4[5u * b];
    let dm = unpack2x16float(W[scale_base() + b]);
    // Each scale byte: the scale in its low nibble, the min in its high one.
    let d03 = dm.x * XSCALE * vec4<f32>(1.0, 1.0, 0.25, 0.25);
    let d47 = dm.x * XSCALE * vec4<f32>(0.0625, 0.0625, 0.015625, 0.015625);
    let m = dm.y * XSCALE * 0.0625;
    return MvHead(inplace(sc.x, M4) * d03, inplace(sc.y, M4) * d47, inplace(sc.z, M4) * d03, inplace(sc.w, M4) * d47,
                  inplace_u(sc.x, M4H) * m, inplace_u(sc.y, M4H) * m, inplace_u(sc.z, M4H) * m, inplace_u(sc.w, M4H) * m);
}

fn mv_sub(b: u32, c: u32, h: MvHead) -> XS {
    let o = 5u * b + 1u + 2u * c;
    let q0 = W4[o];
    let q1 = W4[o + 1u];
    // c is a constant once the drivers have inlined: the selects fold away.
    let sa = select(h.s0, h.s2, c == 1u);
    let sb = select(h.s1, h.s3, c == 1u);
    let ma = select(h.m0, h.m2, c == 1u);
    let mb = select(h.m1, h.m3, c == 1u);
    let m2 = M2 * 4u;
    let m4 = M2 * 16u;
    return sa.x * dot4w(q0, M2, 0u) + sa.y * dot4w(q1, M2, 4u) + sa.z * dot4w(q0, m2, 8u) + sa.w * dot4w(q1, m2, 12u)
         + sb.x * dot4w(q0, m4, 16u) + sb.y * dot4w(q1, m4, 20u) + sb.z * dot4wu(q0, M2H, 24u) + sb.w * dot4wu(q1, M2H, 28u)
         - (ma.x * xg[0] + ma.y * xg[1] + ma.z * xg[2] + ma.w * xg[3] + mb.x * xg[4] + mb.y * xg[5] + mb.z * xg[6] + mb.w * xg[7]);
}
#endif
