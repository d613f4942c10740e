// The fifth bits of Q5_0 and Q5_1, shared by both types' decoders. On the GPU the bit of element
// 4i + k is bit 8k + i of the block's qh word (gpu/weights.rs, q5_qh_to_gpu): the bits of quant word
// i's four values (its low nibbles for i < 4, its high nibbles for i - 4) sit at the same bit of each
// byte, to be masked in place instead of shifted (SwiftShader shifts lane by lane, see common.wgsl).

// The fifth bits of elements 4i..4i+3, as 0 or 1.
fn q5_hb4(qh: u32, i: u32) -> vec4<u32> {
    return (vec4<u32>(qh) >> (vec4<u32>(0u, 8u, 16u, 24u) + vec4<u32>(i))) & vec4<u32>(1u);
}

#ifdef MV_FAST
// Low-nibble values of word w (quant word i, a constant after inlining): its fifth bits, at bit i
// of each byte, multiplied up to bit 4 next to the nibbles, the 5-bit values then in place.
fn q5_lo(w: u32, qh: u32, i: u32) -> vec4<f32> {
    return inplace((w & 0x0f0f0f0fu) | ((qh & (0x01010101u << i)) * (16u >> i)), M5);
}

// High-nibble values of word w, 16 times theirs: the nibbles in place (bits 4..7), their fifth bits
// (bit 4 + i of each byte, which cannot join them within the byte) converted on their own and
// scaled to match.
fn q5_hi(w: u32, qh: u32, i: u32) -> vec4<f32> {
    let m = M1 * (16u << i);
    return inplace_u(w, M4H) + inplace_u(qh, m) * f32(16u >> i);
}

// Σ q5·x of one block against xs[j..j + 8]: low nibbles are values 0..15, high nibbles 16..31.
fn q5_dot(q: vec4<u32>, qh: u32, j: u32) -> XS {
    return xdot(q5_lo(q.x, qh, 0u), j) + xdot(q5_lo(q.y, qh, 1u), j + 1u)
         + xdot(q5_lo(q.z, qh, 2u), j + 2u) + xdot(q5_lo(q.w, qh, 3u), j + 3u)
         + 0.0625 * (xdot(q5_hi(q.x, qh, 0u), j + 4u) + xdot(q5_hi(q.y, qh, 1u), j + 5u)
                   + xdot(q5_hi(q.z, qh, 2u), j + 6u) + xdot(q5_hi(q.w, qh, 3u), j + 7u));
}
#endif
