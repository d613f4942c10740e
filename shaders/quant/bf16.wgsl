// BF16 weights: the top half of an f32, two per word; "blocks" of 4 values.
const QK: u32 = 4u;
const BLOCK_WORDS: u32 = 2u;

fn bf16x2(w: u32) -> vec2<f32> {
    return vec2<f32>(bitcast<f32>(w << 16u), bitcast<f32>(w & 0xffff0000u));
}

fn q_get4(b: u32, i: u32) -> vec4<f32> {
    return vec4<f32>(bf16x2(W[b * 2u]), bf16x2(W[b * 2u + 1u]));
}

#ifdef MV_FAST
// Matvec steps of 8 blocks (32 values): 4 vectors of weights.
#define MV_STEP_BLOCKS 8u
#define MV_SUBS 1
#define MV_XV 8u
#define MV_XSCALE 0
alias MvHead = u32;

fn mv_head(b: u32) -> MvHead {
    return 0u;
}

// The 8 values of q; the low half moves up by a multiplication (SwiftShader shifts lane by lane).
fn bf16_dot(q: vec4<u32>, j: u32) -> XS {
    let lo = bitcast<vec4<f32>>(q * 65536u);
    let hi = bitcast<vec4<f32>>(q & vec4<u32>(0xffff0000u));
    return xdot(vec4<f32>(lo.x, hi.x, lo.y, hi.y), j) + xdot(vec4<f32>(lo.z, hi.z, lo.w, hi.w), j + 1u);
}

fn mv_sub(b: u32, c: u32, h: MvHead) -> XS {
    let o = b / 2u;
    return bf16_dot(W4[o], 0u) + bf16_dot(W4[o + 1u], 2u) + bf16_dot(W4[o + 2u], 4u) + bf16_dot(W4[o + 3u], 6u);
}
#endif
