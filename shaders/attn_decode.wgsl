// Attention of query tokens over their keys, split along the keys (grid: splits × heads × tokens).
// Query z (of a batch at positions n_keys0 - 1 + z) sees keys [first, n_keys0 + z), first set by
// the sliding window. Each workgroup writes its split's max score, sum of exponentials and
// unnormalized output; attn_reduce combines the splits. With SINGLE (all keys in one split) the
// workgroup writes the normalized output itself and the reduction pass is skipped. Grouped-query
// heads share K/V. Decoding runs one token, prefill a batch (see prefill_by_splits). The CPU
// adapters run attn_cpu.wgsl instead, the same splits shaped for SIMD lanes.
#include "attn_split_io.wgsl"

#include "reduce.wgsl"

// The query, shared by the workgroup, and the split's scores, in workgroup memory at k - sbase: a
// few cycles away instead of a round trip to L2 per key.
var<workgroup> q: array<vec4<f32>, D4>;
var<workgroup> ps: array<f32, SPLIT>;
fn sc_get(k: u32) -> f32 {
    return ps[k - sbase];
}
fn sc_set(k: u32, v: f32) {
    ps[k - sbase] = v;
}
var<private> sbase: u32;

// LANES and TPK (set by the launcher): the output's keys are dealt to LANES
// invocations per vector, whose partial sums meet in `opart`, and each score's dot product to TPK
// invocations (WG_X = TPK · SPLIT), meeting in `spart`. One invocation per vector or per key, walking
// all keys or dimensions, left most of the workgroup idle and each step waiting on the last (an H200
// spent ~24 us per dispatch on SmolLM2's heads, ~36 us on Gemma's 256-wide ones).
#if LANES != 1u
var<workgroup> opart: array<vec4<f32>, WG_X>;
#endif
#if TPK != 1u
var<workgroup> spart: array<f32, WG_X>;
#endif

fn score_of(acc: f32) -> f32 {
    let sc = acc * P.scale;
    if (P.softcap > 0.0) {
        return P.softcap * tanh(sc / P.softcap);
    }
    return sc;
}

// Output vector d of this (token, head): normalized, or this split's partial (see PART below).
fn put(po: u32, d: u32, o: vec4<f32>) {
#ifdef SINGLE
    let oo = po + d * 4u;
    OUT[oo] = o.x;
    OUT[oo + 1u] = o.y;
    OUT[oo + 2u] = o.z;
    OUT[oo + 3u] = o.w;
#else
    let oo = po + 2u + d * 4u;
    SCR[oo] = o.x;
    SCR[oo + 1u] = o.y;
    SCR[oo + 2u] = o.z;
    SCR[oo + 3u] = o.w;
#endif
}

@compute @workgroup_size(WG_X, 1, 1)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let split = wid.x;
    let z = wid.z;
    // Heads (see job_of); invocation t of tw in a head's job.
    let h = job_of(wid.y, lid.x);
    if (h >= P.n_head) {
        return;
    }
    let t = job_first(lid.x);
    let tw = JOB_STEP;
    let kvh = h / P.group;
    let n_keys = P.n_keys + z;
    let first_key = select(0u, n_keys - min(P.window, n_keys), P.window > 0u);
    // This (token, head)'s splits, in order.
    let job = (z * P.n_head + h) * P.n_splits;
    // Where this split's scores live (see sc_get).
    sbase = split * SPLIT;
    let k0 = max(split * SPLIT, first_key);
    let k1 = min((split + 1u) * SPLIT, n_keys);
    for (var d = t; d < D4; d += tw) {
        let qo = P.q_offset + z * P.q_stride + h * HEAD_DIM + d * 4u;
        q[d] = vec4<f32>(Q[qo], Q[qo + 1u], Q[qo + 2u], Q[qo + 3u]);
    }
    wg_barrier();
    // Scores of this split's keys.
    var m = -3.0e38;
#if TPK != 1u
    {
        let k = split * SPLIT + t / TPK;
        let sub = t % TPK;
        let live = k >= k0 && k < k1;
        var acc = 0.0;
        if (live) {
            let ko = (k * P.kv_stride + kvh * HEAD_DIM) / 4u;
            for (var d = sub; d < D4; d += TPK) {
                acc += dot(q[d], KC[ko + d]);
            }
        }
        spart[t] = acc;
        workgroupBarrier();
        if (live && sub == 0u) {
            for (var i = 1u; i < TPK; i++) {
                acc += spart[t + i];
            }
            let sc = score_of(acc);
            sc_set(k, sc);
            m = sc;
        }
    }
#else
    for (var k = k0 + t; k < k1; k += tw) {
        let ko = (k * P.kv_stride + kvh * HEAD_DIM) / 4u;
        var acc = 0.0;
        for (var d = 0u; d < D4; d++) {
            acc += dot(q[d], KC[ko + d]);
        }
        let sc = score_of(acc);
        sc_set(k, sc);
        m = max(m, sc);
    }
#endif
    m = wg_max(t, m);
    var l = 0.0;
    for (var k = k0 + t; k < k1; k += tw) {
        let p = exp(sc_get(k) - m);
        sc_set(k, p);
        l += p;
    }
    l = wg_sum(t, l);
    wg_barrier();
#ifdef SINGLE
    let po = P.out_offset + z * P.out_stride + h * HEAD_DIM;
    let norm = 1.0 / l;
#else
    // PART layout per (token, head, split): [m, l, o[0..HEAD_DIM]].
    let po = (job + split) * (HEAD_DIM + 2u);
    let norm = 1.0;
#endif
    let vo = kvh * HEAD_DIM / 4u;
#if LANES != 1u
    let d = t % D4;
    let lane = t / D4;
    var o = vec4<f32>();
    if (lane < LANES) {
        for (var k = k0 + lane; k < k1; k += LANES) {
            o += sc_get(k) * VC[k * P.kv_stride / 4u + vo + d];
        }
    }
    opart[t] = o;
    workgroupBarrier();
    if (lane == 0u) {
        for (var i = 1u; i < LANES; i++) {
            o += opart[t + i * D4];
        }
        put(po, d, o * norm);
    }
#else
    for (var d = t; d < D4; d += tw) {
        var o = vec4<f32>();
        for (var k = k0; k < k1; k++) {
            o += sc_get(k) * VC[k * P.kv_stride / 4u + vo + d];
        }
        put(po, d, o * norm);
    }
#endif
#ifndef SINGLE
    if (t == 0u) {
        SCR[po] = select(m, -3.0e38, k0 >= k1);
        SCR[po + 1u] = select(l, 0.0, k0 >= k1);
    }
#endif
}
