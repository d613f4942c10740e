// The fifth bits of Q5_0 and Q5_1 (the fast path's decoders of both types include this).
// Bits 0..3 of v as bit 4 of bytes 0..3 (the fifth bit of four values).
fn q5_hi4(v: u32) -> u32 {
    return ((v & 0xfu) * 0x02040810u) & 0x10101010u;
}

// Σ q5·x of one block against xs[j..j + 8]: value e has its fifth bit at bit e of qh.
fn q5_dot(q: vec4<u32>, qh: u32, j: u32) -> XS {
    let lo = (q & vec4<u32>(0x0f0f0f0fu)) | vec4<u32>(q5_hi4(qh), q5_hi4(qh >> 4u), q5_hi4(qh >> 8u), q5_hi4(qh >> 12u));
    let hi = ((q >> vec4<u32>(4u)) & vec4<u32>(0x0f0f0f0fu)) | vec4<u32>(q5_hi4(qh >> 16u), q5_hi4(qh >> 20u), q5_hi4(qh >> 24u), q5_hi4(qh >> 28u));
    return dot4w(lo, M5, j) + dot4w(hi, M5, j + 4u);
}
