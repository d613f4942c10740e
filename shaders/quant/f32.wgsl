// F32 weights: "blocks" of 4 values, one word each.
const QK: u32 = 4u;
const BLOCK_WORDS: u32 = 4u;

fn q_get4(b: u32, i: u32) -> vec4<f32> {
    let o = b * 4u;
    return vec4<f32>(bitcast<f32>(W[o]), bitcast<f32>(W[o + 1u]), bitcast<f32>(W[o + 2u]), bitcast<f32>(W[o + 3u]));
}

#ifdef MV_FAST
// Matvec steps of 8 blocks (32 values): 8 vectors of weights.
#define MV_STEP_BLOCKS 8u
#define MV_SUBS 1
#define MV_XV 8u
#define MV_XSCALE 0
alias MvHead = u32;

fn mv_head(b: u32) -> MvHead {
    return 0u;
}

fn mv_sub(b: u32, c: u32, h: MvHead) -> XS {
    var t = XS();
    for (var j = 0u; j < 8u; j++) {
        t += xdot(bitcast<vec4<f32>>(W4[b + j]), j);
    }
    return t;
}
#endif
