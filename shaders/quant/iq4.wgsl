// The codebook shared by IQ4_NL and IQ4_XS: a 4-bit quant n stands for ggml's kvalues_iq4nl[n]
// = -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113. Both types store a
// group of 32 values as 16 bytes, value k in the low nibble of byte k and value 16 + k in its high
// nibble.
//
// The decoders compute kvalues_iq4nl[n] + 127 (so that it is positive) as a quartic floored to an
// integer: a minimax fit of the entries + 127.5, off by at most 0.44, so every entry comes out
// exact. floor() is one vector instruction where a round trip through i32 took two conversions:
// 0.69 -> 0.82 of copy on lavapipe for IQ4_NL, 0.43 -> 0.47 on SwiftShader. An array lookup per
// value instead runs lane by lane on the CPU adapters, and lavapipe took 10-25 s to compile each
// matvec variant built that way; the polynomial is whole-vector arithmetic.
// The -127 is applied by the caller, once per group in the matvec (as Q4_0's -8).
const IQ4_OFFSET: f32 = 127.0;

// The quartic of n = m·z, for nibbles m in place (z = XSCALE or XSCALE / 16, powers of two): its
// coefficients are scaled by the powers of z instead (so the rounding is the same as on n: one
// multiplication less per value).
fn iq4_code(m: vec4<f32>, z: vec4<f32>) -> vec4<f32> {
    return floor(((((0.00158604 * z * z * z * z) * m + 0.0310864 * z * z * z) * m - 1.37193 * z * z) * m + 24.1738 * z) * m + 0.933);
}

// Codebook values + 127 of the nibbles at bit s (0 or 4) of each byte of w: the nibbles are masked
// in place, not shifted (see common.wgsl).
fn iq4_codes(w: u32, s: u32) -> vec4<f32> {
    if (s == 0u) {
        return iq4_code(inplace(w, M4), XSCALE);
    }
    return iq4_code(inplace_u(w, M4H), XSCALE * 0.0625);
}

// Values 4i..4i+3 of the group whose 16 bytes are words o..o+3.
fn iq4_get4(o: u32, i: u32) -> vec4<f32> {
    return iq4_codes(W[o + (i & 3u)], (i >> 2u) * 4u) - IQ4_OFFSET;
}

#ifdef MV_FAST
// Σ value·x of the group q against xs[j..j + 8], whose sum is xg[j / 8] (x as loaded: the codebook
// needs the nibbles themselves, so x is not pre-scaled for in-place decoding).
fn iq4_dot(q: vec4<u32>, j: u32) -> XS {
    return xdot(iq4_codes(q.x, 0u), j) + xdot(iq4_codes(q.y, 0u), j + 1u)
         + xdot(iq4_codes(q.z, 0u), j + 2u) + xdot(iq4_codes(q.w, 0u), j + 3u)
         + xdot(iq4_codes(q.x, 4u), j + 4u) + xdot(iq4_codes(q.y, 4u), j + 5u)
         + xdot(iq4_codes(q.z, 4u), j + 6u) + xdot(iq4_codes(q.w, 4u), j + 7u)
         - IQ4_OFFSET * xg[j / 8u];
}
#endif
