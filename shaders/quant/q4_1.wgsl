// Q4_1 (ggml block_q4_1): x = q * d + m. GPU layout: the 16 quant bytes are the block's 4 words;
// the d|m word sits in the side plane (word b), see gpu/weights.rs.
const QK: u32 = 32u;
const BLOCK_WORDS: u32 = 4u;

fn q_get4(b: u32, i: u32) -> vec4<f32> {
    let dm = unpack2x16float(W[scale_base() + b]);
    let w = W[b * 4u + (i & 3u)];
    let q = (bytes4(w) >> vec4<u32>((i >> 2u) * 4u)) & vec4<u32>(0xfu);
    return vec4<f32>(q) * dm.x + dm.y;
}

#ifdef MV_FAST
// Matvec steps of a pair of blocks: 2 vectors of quants; their d|m words are half of a side vector
// (the side plane starts on a vector and the pair's first block is even).
#define MV_STEP_BLOCKS 2u
#define MV_SUBS 1
#define MV_XV 16u
#define MV_XSCALE 1
#define MV_XG 8u
alias MvHead = vec4<f32>;

fn mv_head(b: u32) -> MvHead {
    let v = W4[(scale_base() + b) / 4u];
    let w = select(v.xy, v.zw, (b & 2u) != 0u);
    return vec4<f32>(unpack2x16float(w.x), unpack2x16float(w.y));
}

// Σ q·x of one block against xs[j..j + 8]: low nibbles are values 0..15, high nibbles (in place, 16
// times their value: SwiftShader shifts lane by lane) 16..31.
fn q4_dot(q: vec4<u32>, j: u32) -> XS {
    return dot4w(q, M4, j) + 0.0625 * dot4wu(q, M4H, j + 4u);
}

fn mv_sub(b: u32, c: u32, h: MvHead) -> XS {
    return h.x * q4_dot(W4[b], 0u) + h.y * xg[0] + h.z * q4_dot(W4[b + 1u], 8u) + h.w * xg[1];
}
#endif
