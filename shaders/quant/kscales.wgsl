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
