// Finishes the q, k and v projections of T tokens, which the matvecs wrote side by side into SRC
// (q | k | v per token, see GpuLayer::qkv): adds their biases (Qwen 2), applies Gemma 3's per-head
// RMSNorm to q and k, rotates them (RoPE), and stores q into Q, k and v into the KV cache at their
// positions. One dispatch for what took six (three projections writing in place, three bias adds)
// plus the rotation: on GPUs a decode step's time is mostly the dispatches' fixed cost.
//
// NEOX rotates (x[i], x[i + n_rot/2]), the original (x[2i], x[2i + 1]); values past n_rot are
// copied. The (cos, sin) of every angle come from a table computed on the CPU (ANGLES:
// [position][n_rot/2]), the very values the reference engine uses: GPU sin/cos differ between
// drivers (SwiftShader's are off by ~1e-4) and large arguments lose precision.
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> ANGLES: array<vec2<f32>>;
// The vectors buffer: norm weights and biases.
@group(0) @binding(2) var<storage, read> NW: array<f32>;
@group(0) @binding(3) var<storage, read> SRC: array<f32>;
@group(0) @binding(4) var<storage, read_write> Q: array<f32>;
@group(0) @binding(5) var<storage, read_write> K: array<f32>;
@group(0) @binding(6) var<storage, read_write> V: array<f32>;

#include "reduce.wgsl"

// This workgroup's head: its first value in SRC, its bias's in NW, its norm weight's in NW and
// the norm's scale.
var<private> src: u32;
var<private> bias: u32;
var<private> nw: u32;
var<private> scale: f32;

fn value(i: u32) -> f32 {
    var v = SRC[src + i];
    if (P.bias != 0u) {
        v += NW[bias + i];
    }
    return v;
}

fn normed(i: u32) -> f32 {
    if (P.norm != 0u) {
        return value(i) * scale * NW[nw + i];
    }
    return value(i);
}

fn store(is_q: bool, i: u32, v: f32) {
    if (is_q) {
        Q[i] = v;
    } else {
        K[i] = v;
    }
}

@compute @workgroup_size(WG_X, 1, 1)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    // Heads: q, then k, then v (see job_of).
    let h = job_of(wid.x, lid.x);
    if (h >= P.n_head + 2u * P.n_kv) {
        return;
    }
    let first = job_first(lid.x);
    let step = JOB_STEP;
    let t = wid.y;
    let hd = P.head_dim;
    let kv_src = P.n_head * hd;
    let row = t * P.src_stride;
    if (h >= P.n_head + P.n_kv) {
        let hv = h - P.n_head - P.n_kv;
        src = row + kv_src + P.n_kv * hd + hv * P.head_dim_v;
        bias = P.v_bias + hv * P.head_dim_v;
        let dst = P.v_offset + t * P.v_stride + hv * P.head_dim_v;
        for (var i = first; i < P.head_dim_v; i += step) {
            V[dst + i] = value(i);
        }
        return;
    }
    let is_q = h < P.n_head;
    var dst: u32;
    if (is_q) {
        src = row + h * hd;
        bias = P.q_bias + h * hd;
        nw = P.q_norm_offset;
        dst = t * P.q_stride + h * hd;
    } else {
        let hk = h - P.n_head;
        src = row + kv_src + hk * hd;
        bias = P.k_bias + hk * hd;
        nw = P.k_norm_offset;
        dst = P.k_offset + t * P.k_stride + hk * hd;
    }
    if (P.norm != 0u) {
        var s = 0.0;
        for (var i = first; i < hd; i += step) {
            let v = value(i);
            s += v * v;
        }
        scale = 1.0 / sqrt(wg_sum(first, s) / f32(hd) + P.eps);
    }
    let half = P.n_rot / 2u;
    let arow = P.angles_offset + (P.pos0 + t) * half;
    for (var i = first; i < half; i += step) {
        let cs = ANGLES[arow + i];
#ifdef NEOX
        let a = i;
        let b = i + half;
#else
        let a = 2u * i;
        let b = a + 1u;
#endif
        let x0 = normed(a);
        let x1 = normed(b);
        store(is_q, dst + a, x0 * cs.x - x1 * cs.y);
        store(is_q, dst + b, x0 * cs.y + x1 * cs.x);
    }
    for (var i = P.n_rot + first; i < hd; i += step) {
        store(is_q, dst + i, normed(i));
    }
}
