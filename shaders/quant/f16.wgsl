// F16 weights, kept packed two per word (no shader-f16 needed): "blocks" of 4 values.
const QK: u32 = 4u;
const BLOCK_WORDS: u32 = 2u;

fn q_get4(b: u32, i: u32) -> vec4<f32> {
    return vec4<f32>(unpack2x16float(W[b * 2u]), unpack2x16float(W[b * 2u + 1u]));
}

#ifdef MV_FAST
// Matvec steps of 8 blocks (32 values): 4 vectors of weights (the step starts on a vector since
// the launcher only takes this path when a row is a whole number of steps).
#define MV_STEP_BLOCKS 8u
#define MV_SUBS 1
#define MV_XV 8u
#define MV_XSCALE 0
alias MvHead = u32;

fn mv_head(b: u32) -> MvHead {
    return 0u;
}

// Halves (magnitude m, sign s as bit 31) to f32 without unpack2x16float, which SwiftShader
// emulates at ~18 vector operations per half. m << 13 with the exponent rebiased by 112 is the value
// of a normal half. A subnormal one is rebiased by 113, as if its exponent were 1: that adds an
// implicit 2^-14, which is then subtracted (exactly). (Rebiasing subnormals by 112 too, as this once
// did, was wrong by up to 2^-15 for each of them.) Inf and NaN are not weights.
fn f16_parts(m: vec4<u32>, s: vec4<u32>) -> vec4<f32> {
    let sub = m < vec4<u32>(1024u);
    let v = bitcast<vec4<f32>>(m * 8192u + select(vec4<u32>(0x38000000u), vec4<u32>(0x38800000u), sub))
          - select(vec4<f32>(0.0), vec4<f32>(0.00006103515625), sub);
    return bitcast<vec4<f32>>(bitcast<vec4<u32>>(v) | s);
}

// The 8 halves of q: low halves are values 0, 2, 4, 6, high halves 1, 3, 5, 7.
fn f16_dot(q: vec4<u32>, j: u32) -> XS {
    let lo = f16_parts(q & vec4<u32>(0x7fffu), (q & vec4<u32>(0x8000u)) * 65536u);
    let hi = f16_parts((q >> vec4<u32>(16u)) & vec4<u32>(0x7fffu), q & vec4<u32>(0x80000000u));
    return xdot(vec4<f32>(lo.x, hi.x, lo.y, hi.y), j) + xdot(vec4<f32>(lo.z, hi.z, lo.w, hi.w), j + 1u);
}

fn mv_sub(b: u32, c: u32, h: MvHead) -> XS {
    let o = b / 2u;
    return f16_dot(W4[o], 0u) + f16_dot(W4[o + 1u], 2u) + f16_dot(W4[o + 2u], 4u) + f16_dot(W4[o + 3u], 6u);
}
#endif
