// The 6-bit (scale, min) pairs of Q4_K and Q5_K: 12 bytes in words o+1..o+3.
fn k4_scale_min(o: u32, j: u32) -> vec2<f32> {
    let q0 = byte_at(W[o + 1u + j / 4u], j % 4u);
    if (j < 4u) {
        let q4 = byte_at(W[o + 2u + j / 4u], j % 4u);
        return vec2<f32>(f32(q0 & 63u), f32(q4 & 63u));
    }
    let qm4 = byte_at(W[o + 1u + (j - 4u) / 4u], (j - 4u) % 4u);
    let qp4 = byte_at(W[o + 1u + (j + 4u) / 4u], (j + 4u) % 4u);
    return vec2<f32>(f32((qp4 & 0xfu) | ((qm4 >> 6u) << 4u)), f32((qp4 >> 4u) | ((q0 >> 6u) << 4u)));
}

#ifdef MV_FAST
// Per sub-step c of 64 values: (d·scale, dmin·min) of sub-block 2c (low nibbles) and of sub-block
// 2c + 1 (high nibbles, decoded in place: 16 times their value, so that scale is over 16). Nothing
// is shifted: the CPU adapters shift lane by lane (see common.wgsl).
struct KScales {
    t0: vec4<f32>,
    t1: vec4<f32>,
    t2: vec4<f32>,
    t3: vec4<f32>,
}

// From a block's first vector: d | dmin, then the 12 scale bytes.
fn k4_scales(h: vec4<u32>) -> KScales {
    let dm = unpack2x16float(h.x);
    // ggml's get_scale_min_k4: sub-blocks 0..3 take the low 6 bits of the bytes of h.y (scales)
    // and h.z (mins); 4..7 the nibbles of h.w's bytes with the top 2 bits of h.y's or h.z's above.
    let s03 = inplace(h.y, M6) * XSCALE;
    let m03 = inplace(h.z, M6) * XSCALE;
    let s47 = inplace(h.w, M4) * XSCALE + inplace_u(h.y, M2H) * (XSCALE * 0.25);
    let m47 = inplace_u(h.w, M4H) * (XSCALE * 0.0625) + inplace_u(h.z, M2H) * (XSCALE * 0.25);
    let odd = vec4<f32>(1.0, 0.0625, 1.0, 0.0625);
    let a = s03 * (dm.x * odd);
    let z = s47 * (dm.x * odd);
    let am = m03 * dm.y;
    let zm = m47 * dm.y;
    return KScales(vec4<f32>(a.x, am.x, a.y, am.y), vec4<f32>(a.z, am.z, a.w, am.w),
                   vec4<f32>(z.x, zm.x, z.y, zm.y), vec4<f32>(z.z, zm.z, z.w, zm.w));
}

// Sub-step c's vector: c is a constant once the drivers have inlined, and the selects fold away.
fn k4_sub(k: KScales, c: u32) -> vec4<f32> {
    return select(select(k.t0, k.t1, c == 1u), select(k.t2, k.t3, c == 3u), c >= 2u);
}
#endif
