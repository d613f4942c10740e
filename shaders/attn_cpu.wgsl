// Attention on the CPU adapters (lavapipe, SwiftShader): split along the keys like attn_decode
// (grid: splits × jobs × tokens, the same partials for attn_reduce, the same SINGLE), but shaped
// for a CPU's SIMD lanes, where every storage load at a computed address is a gather, one scalar
// load per lane and component:
// - a job is up to four query heads of one KV head (a "quad"), so each K and V vector loaded
//   serves all of them (a score step is a vector times a matrix whose columns are the heads);
// - a job's LK lanes (one workgroup) take every LK-th key; with subgroups (PARTS 1, LK the
//   subgroup) they merge their softmax partials with subgroup operations at the end, without
//   (PARTS == LK) each lane writes a partial of its own, for attn_reduce to merge;
// - the per-dimension steps are unrolled by the launcher (AC_Q, AC_SCORE, AC_V, AC_ZERO), so that
//   the query and the accumulators are private arrays indexed by constants: indexed by a variable,
//   they too are read lane by lane.
#include "attn_split_io.wgsl"

// The dimensions go in chunks of CH vectors (set by the launcher, dividing D4): a pass over the
// keys per chunk, so that the unrolled code and the private arrays stay small for wide heads.
// Column g of qm[d]: the quad's head g's query vector c4 + d, times the score scale; zero past the
// quad's heads. Column g of om[d]: head g's unnormalized output vector c4 + d.
var<private> qm: array<mat4x4<f32>, CH>;
var<private> om: array<mat4x4<f32>, CH>;
var<private> c4: u32;
// Heads in this quad, the first one's query offset, the current key's first K/V vector of the chunk.
var<private> nh: u32;
var<private> qo: u32;
var<private> ko: u32;
// The current key's scores (per head), its softmax weights, and each lane's factor onto the
// job's common maximum.
var<private> s: vec4<f32>;
var<private> p: vec4<f32>;
var<private> f: vec4<f32>;
// Whether this lane writes the outputs (lane 0 of the job, or every lane with PARTS > 1), and
// where: head g's at po + g · ps.
var<private> write: bool;
var<private> po: u32;
var<private> ps: u32;
var<private> norm: vec4<f32>;

fn q_vec(g: u32, d: u32) -> vec4<f32> {
    let o = qo + min(g, nh - 1u) * HEAD_DIM + (c4 + d) * 4u;
    let live = select(0.0, P.scale, g < nh);
    return vec4<f32>(Q[o], Q[o + 1u], Q[o + 2u], Q[o + 3u]) * live;
}

fn load_q(d: u32) {
    qm[d] = mat4x4<f32>(q_vec(0u, d), q_vec(1u, d), q_vec(2u, d), q_vec(3u, d));
}

fn score_d(d: u32) {
    s += KC[ko + d] * qm[d];
}

fn zero_d(d: u32) {
    om[d] = mat4x4<f32>();
}

fn v_d(d: u32) {
    let v = VC[ko + d];
    om[d] += mat4x4<f32>(v * p.x, v * p.y, v * p.z, v * p.w);
}

// Merges (with PARTS 1) and writes the chunk's outputs, normalized with SINGLE: lane 0 of the job
// writes head g's at po + g · ps. A loop, not unrolled: its variable indices cost a gather each,
// once per chunk, where unrolled merges and conditional stores took SwiftShader's JIT longer to
// compile than the kernel takes to run.
fn put_chunk() {
    for (var g = 0u; g < 4u; g++) {
        for (var d = 0u; d < CH; d++) {
#if PARTS == 1u
            let o = subgroupAdd(om[d][g] * f[g]) * norm[g];
#else
            let o = om[d][g] * norm[g];
#endif
            if (write && g < nh) {
                let oo = po + g * ps + (c4 + d) * 4u;
#ifdef SINGLE
                OUT[oo] = o.x;
                OUT[oo + 1u] = o.y;
                OUT[oo + 2u] = o.z;
                OUT[oo + 3u] = o.w;
#else
                SCR[oo] = o.x;
                SCR[oo + 1u] = o.y;
                SCR[oo + 2u] = o.z;
                SCR[oo + 3u] = o.w;
#endif
            }
        }
    }
}

fn score_of(acc: vec4<f32>) -> vec4<f32> {
    if (P.softcap > 0.0) {
        return P.softcap * tanh(acc / P.softcap);
    }
    return acc;
}

fn scr4(o: u32) -> vec4<f32> {
    return vec4<f32>(SCR[o], SCR[o + 1u], SCR[o + 2u], SCR[o + 3u]);
}

fn set_scr4(o: u32, v: vec4<f32>) {
    SCR[o] = v.x;
    SCR[o + 1u] = v.y;
    SCR[o + 2u] = v.z;
    SCR[o + 3u] = v.w;
}

@compute @workgroup_size(WG_X, 1, 1)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let split = wid.x;
    let z = wid.z;
    let job = wid.y;
    let lane = lid.x;
    let quads = (P.group + 3u) / 4u;
    let n_kv = P.n_head / P.group;
    let kvh = job / quads;
    if (kvh >= n_kv) {
        return;
    }
    let quad = job % quads;
    let h0 = kvh * P.group + quad * 4u;
    nh = min(4u, P.group - quad * 4u);
    let n_keys = P.n_keys + z;
    let first_key = select(0u, n_keys - min(P.window, n_keys), P.window > 0u);
    let k0 = max(split * SPLIT, first_key);
    let k1 = min((split + 1u) * SPLIT, n_keys);
    qo = P.q_offset + z * P.q_stride + h0 * HEAD_DIM;
    let kvo = kvh * HEAD_DIM / 4u;
    // This job's split's scores: 4 per key, key k's at sb + (k - kbase) · 4. They hold the partial
    // dot products, then the scores, then their exponentials.
    let sb = P.scores_offset + ((z * n_kv * quads + job) * (P.n_splits / PARTS) + split) * SPLIT * 4u;
    let kbase = split * SPLIT;
    var m = vec4<f32>(-3.0e38);
    for (var c = 0u; c < D4; c += CH) {
        c4 = c;
        AC_Q
        let last = c + CH == D4;
        for (var kb = k0; kb < k1; kb += LK) {
            let k = kb + lane;
            if (k < k1) {
                ko = k * P.kv_stride / 4u + kvo + c;
                let so = sb + (k - kbase) * 4u;
                s = select(vec4<f32>(0.0), scr4(so), c > 0u);
                AC_SCORE
                if (last) {
                    s = score_of(s);
                    m = max(m, s);
                }
                set_scr4(so, s);
            }
        }
    }
    var l = vec4<f32>(0.0);
    write = PARTS > 1u || lane == 0u;
    for (var c = 0u; c < D4; c += CH) {
        c4 = c;
        AC_ZERO
        for (var kb = k0; kb < k1; kb += LK) {
            let k = kb + lane;
            if (k < k1) {
                let so = sb + (k - kbase) * 4u;
                p = scr4(so);
                if (c == 0u) {
                    p = exp(p - m);
                    l += p;
                    if (CH != D4) {
                        set_scr4(so, p);
                    }
                }
                ko = k * P.kv_stride / 4u + kvo + c;
                AC_V
            }
        }
        if (c == 0u) {
#if PARTS == 1u
            // Each lane's partial onto the job's maximum (a lane without keys has l = 0, om = 0).
            let mj = subgroupMax(m);
            f = exp(m - mj);
            l = subgroupAdd(l * f);
            m = mj;
#endif
#ifdef SINGLE
            po = P.out_offset + z * P.out_stride + h0 * HEAD_DIM;
            ps = HEAD_DIM;
            norm = 1.0 / l;
#else
            // PART layout per (token, head, partial): [m, l, o[0..HEAD_DIM]]; a split's partials
            // are its lanes' with PARTS > 1.
            let part = split * PARTS + select(0u, lane, PARTS > 1u);
            po = ((z * P.n_head + h0) * P.n_splits + part) * (HEAD_DIM + 2u) + 2u;
            ps = P.n_splits * (HEAD_DIM + 2u);
            norm = vec4<f32>(1.0);
            let empty = k0 + select(0u, lane, PARTS > 1u) >= k1;
            for (var g = 0u; g < 4u; g++) {
                if (write && g < nh) {
                    SCR[po - 2u + g * ps] = select(m[g], -3.0e38, empty);
                    SCR[po - 1u + g * ps] = select(l[g], 0.0, empty);
                }
            }
#endif
        }
        put_chunk();
    }
}
