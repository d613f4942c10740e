// Rotary position embedding of every q and k head of T tokens, optionally after a per-head RMSNorm
// (Gemma 3's QK-norm). NEOX rotates (x[i], x[i + n_rot/2]), the original (x[2i], x[2i + 1]).
// The (cos, sin) of every angle come from a table computed on the CPU (ANGLES: [position][n_rot/2]),
// the very values the reference engine uses: GPU sin/cos differ between drivers (SwiftShader's are
// off by ~1e-4) and large arguments lose precision.
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> ANGLES: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read> NW: array<f32>;
@group(0) @binding(3) var<storage, read_write> Q: array<f32>;
@group(0) @binding(4) var<storage, read_write> K: array<f32>;

#include "reduce.wgsl"

fn head_base(t: u32, h: u32) -> u32 {
    if (h < P.n_head) {
        return P.q_offset + t * P.q_stride + h * P.head_dim;
    }
    return P.k_offset + t * P.k_stride + (h - P.n_head) * P.head_dim;
}

fn head_load(is_q: bool, i: u32) -> f32 {
    if (is_q) {
        return Q[i];
    }
    return K[i];
}

fn head_store(is_q: bool, i: u32, v: f32) {
    if (is_q) {
        Q[i] = v;
    } else {
        K[i] = v;
    }
}

@compute @workgroup_size(WG_X, 1, 1)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let h = wid.x;                  // q heads first, then k heads
    let t = wid.y;
    let is_q = h < P.n_head;
    let base = head_base(t, h);
    var scale = 1.0;
    if (P.norm != 0u) {
        var s = 0.0;
        for (var i = lid.x; i < P.head_dim; i += WG_X) {
            let v = head_load(is_q, base + i);
            s += v * v;
        }
        scale = 1.0 / sqrt(wg_sum(lid.x, s) / f32(P.head_dim) + P.eps);
        let nw = select(P.k_norm_offset, P.q_norm_offset, is_q);
        for (var i = lid.x; i < P.head_dim; i += WG_X) {
            head_store(is_q, base + i, head_load(is_q, base + i) * scale * NW[nw + i]);
        }
        // The rotation reads normed values other invocations wrote to the storage buffer.
        storageBarrier();
    }
    let half = P.n_rot / 2u;
    let row = P.angles_offset + (P.pos0 + t) * half;
    for (var i = lid.x; i < half; i += WG_X) {
        let cs = ANGLES[row + i];
        let c = cs.x;
        let s = cs.y;
#ifdef NEOX
        let a = base + i;
        let b = base + i + half;
#else
        let a = base + 2u * i;
        let b = a + 1u;
#endif
        let x0 = head_load(is_q, a);
        let x1 = head_load(is_q, b);
        head_store(is_q, a, x0 * c - x1 * s);
        head_store(is_q, b, x0 * s + x1 * c);
    }
}
