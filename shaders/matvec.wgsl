// y[row] = sum_k W[row, k] * x[k] for one token (decode). Each invocation computes ROWS consecutive
// rows, so every x value it loads serves ROWS rows (on CPU-emulated adapters the loads, not the
// arithmetic, dominate); WG_Y invocations may share the rows and add up their partial sums.
//
// MV_FAST (rows whose blocks divide into whole steps): the type's mv_head/mv_sub read the quants as
// whole vec4<u32> through W4 and decode a step of blocks at once; x of a step is loaded once per
// invocation (or, with SG_X, once per subgroup: lane l loads every SG_X-th vector and broadcasts
// it) into `xs`. Otherwise every type goes through its generic q_get4.
//
// MV_TOKENS (with MV_FAST, prefill): each invocation runs 4 tokens of a batch at once (workgroup
// z = group of 4), so each weight is decoded once for 4 tokens. An x vector of `xs` is then a
// matrix whose column t is token t's vector, a "scalar" sum (XS) a vec4 with one lane per token,
// and the types' decoders, written against xdot/XS, serve both modes unchanged.
#include "common.wgsl"

// x is shared per subgroup only where the subgroup is the CPU adapters' SIMD width; the launcher
// guarantees WG_Y == 1 and WG_X a multiple of 8, so every subgroup has lanes 0..SG_X-1 and runs
// the step loop in uniform control flow. With MV_TOKENS too: each lane then loads one token's
// vector, a quarter of the gathers (SwiftShader prefill 12.9 -> 17.2 tok/s, lavapipe 12.8 -> 27.8
// on SmolLM2).
#ifdef SHARE_X
#ifdef HAS_SUBGROUPS
#if SUBGROUP_SIZE == 8
#define SG_X 8u
#ifdef MV_TOKENS
#define SG_TOK 8u
#endif
#endif
#if SUBGROUP_SIZE == 4
#define SG_X 4u
#ifdef MV_TOKENS
#define SG_TOK 4u
#endif
#endif
#endif
#endif

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> W: array<u32>;
@group(0) @binding(2) var<storage, read> X: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> Y: array<f32>;
#ifdef MV_FAST
@group(0) @binding(4) var<storage, read> W4: array<vec4<u32>>;
#endif
// EXPERTS: W stacks the experts of a mixture, P.rows rows each; workgroup z = token · P.slots +
// pick runs the expert SEL[z] on that token's x, so only the chosen experts' rows are read.
// GLU_OUT: with P.gated, y = act(G) · (W x), G laid out as y (the gate projection's output): the up
// projection and the activation in one dispatch. A runtime switch rather than a variant, so that a
// model's plain and gated products share one pipeline (CPU drivers take ~0.2 s to compile each).
// G_BINDING is set by the launcher after the other bindings.
// P.paired (with GLU_OUT): W stacks a gated feed-forward's gate and up projections (P.rows rows
// each, gate first); an invocation's ROWS rows are ROWS/2 gate rows and the up rows of the same
// outputs, and it writes act(gate x) · (up x): both projections and the activation in one
// dispatch. Also a runtime switch, for the same reason.
#ifdef GLU_OUT
@group(0) @binding(G_BINDING) var<storage, read> G: array<f32>;
#include "activation.wgsl"
#endif
// NORM_X (GPU shapes: neither SG_X nor MV_TOKENS), P.normed: x is RMSNorm'ed on the way in. Each x
// vector is multiplied by its norm weights (NW, at P.nw_offset, a multiple of 4) as it is loaded and
// Σx² of the raw x accumulated; the products are scaled by 1/rms(x) at the end: y = W (x ∘ w) /
// rms(x). The norm then costs no dispatch of its own, which on a GPU is most of what it costs.
#ifdef NORM_X
@group(0) @binding(NW_BINDING) var<storage, read> NW: array<vec4<f32>>;
var<private> ss: f32;
// NW's index of the vector that goes with X[v] is v + nw_shift (wrapping u32 arithmetic).
var<private> nw_shift: u32;
var<private> normed: bool;
#endif

// The x vector X[v] of the current token, normed with NORM_X.
fn xin(v: u32) -> vec4<f32> {
#ifdef NORM_X
    // Branch-free: a branch per x vector made SwiftShader's JIT run out of memory compiling the
    // 256-value block types (over 20 GB for Q4_K). Σx² is kept either way and used only if normed;
    // without the norm, NW's index is clamped to its first vector.
    let raw = X[v];
    ss += dot(raw, raw);
    return raw * select(vec4<f32>(1.0), NW[select(0u, v + nw_shift, normed)], normed);
#else
    return X[v];
#endif
}
#ifdef EXPERTS
#ifdef MV_FAST
@group(0) @binding(5) var<storage, read> SEL: array<u32>;
#else
@group(0) @binding(4) var<storage, read> SEL: array<u32>;
#endif
#endif

fn scale_base() -> u32 {
    return P.scale_base;
}

#include "quant/TYPE_FILE"

#ifdef MV_TOKENS
alias XS = vec4<f32>;
alias XV = mat4x4<f32>;
#else
alias XS = f32;
alias XV = vec4<f32>;
#endif

#if WG_Y != 1
var<workgroup> partial: array<array<XS, ROWS>, WG_SIZE>;
#ifdef NORM_X
var<workgroup> partial_ss: array<f32, WG_SIZE>;
#endif
#endif

#ifdef MV_FAST
// x of the current sub-step: as loaded (times XSCALE with MV_XSCALE, for in-place decoders); xg[g]
// is the sum of x over vectors [g·MV_XG, (g + 1)·MV_XG), for the types' offsets and mins, which
// are applied once per group (d·Σq·x - m·Σx) instead of once per value.
var<private> xs: array<XV, MV_XV>;
#ifdef MV_XG
var<private> xg: array<XS, MV_XV / MV_XG>;
#endif
// MV_XW (with MV_XG 8): xw[g] is the sum of the last components of those vectors alone.
#ifdef MV_XW
var<private> xw: array<XS, MV_XV / 8u>;
#endif
var<private> acc: array<XS, ROWS>;
var<private> blk0: array<u32, ROWS>;
var<private> head: array<MvHead, ROWS>;
#ifdef SG_X
var<private> lane: u32;
#endif
#ifdef MV_TOKENS
// Offsets (in vectors) of tokens 1..3's x from token 0's; past the batch's end, the last token's.
var<private> xo: vec4<u32>;
#ifdef SG_TOK
// The x vector this lane loads for the subgroup, relative to the current one: token
// lane % 4's, lane / 4 vectors on (each token's vector is then one gather instead of four).
var<private> xl: u32;
#endif
#endif

// Σ w·x against xs[j]: per token.
fn xdot(w: vec4<f32>, j: u32) -> XS {
#ifdef MV_TOKENS
    return w * xs[j];
#else
    return dot(w, xs[j]);
#endif
}

// The sum of the components of an x vector (per token).
fn xsum(v: XV) -> XS {
#ifdef MV_TOKENS
    return vec4<f32>(1.0) * v;
#else
    return dot(v, vec4<f32>(1.0));
#endif
}

// The last component of an x vector (per token).
fn xlast(v: XV) -> XS {
#ifdef MV_TOKENS
    return vec4<f32>(v[0].w, v[1].w, v[2].w, v[3].w);
#else
    return v.w;
#endif
}

// The x vector at index v (of token 0).
fn xload(v: u32) -> XV {
#ifdef MV_TOKENS
    return XV(X[v], X[v + xo.y], X[v + xo.z], X[v + xo.w]);
#else
    return xin(v);
#endif
}

#if MV_XSCALE
fn xscaled(v: XV) -> XV {
#ifdef MV_TOKENS
    return XV(v[0] * XSCALE, v[1] * XSCALE, v[2] * XSCALE, v[3] * XSCALE);
#else
    return v * XSCALE;
#endif
}
#endif

#ifdef SG_TOK
// xs[j] for 4 tokens from one gather per lane (SG_X 4: lanes 0..3 hold tokens 0..3 of vector j).
fn for_x1(v0: u32, j: u32) {
    let a = X[v0 + j + xl];
    xs[j] = XV(subgroupBroadcast(a, 0u), subgroupBroadcast(a, 1u), subgroupBroadcast(a, 2u), subgroupBroadcast(a, 3u));
}

// xs[j] and xs[j + 1] (SG_X 8: lanes 4..7 hold vector j + 1).
fn for_x2(v0: u32, j: u32) {
    let a = X[v0 + j + xl];
    xs[j] = XV(subgroupBroadcast(a, 0u), subgroupBroadcast(a, 1u), subgroupBroadcast(a, 2u), subgroupBroadcast(a, 3u));
    xs[j + 1u] = XV(subgroupBroadcast(a, 4u), subgroupBroadcast(a, 5u), subgroupBroadcast(a, 6u), subgroupBroadcast(a, 7u));
}
#endif

// Loads xs[j..j + 8] (j a constant after inlining: SwiftShader unrolls nothing and indexes private
// arrays with a variable lane by lane) and their sums.
fn load_x8(v0: u32, j: u32) {
#if SG_TOK == 8u
    for_x2(v0, j);
    for_x2(v0, j + 2u);
    for_x2(v0, j + 4u);
    for_x2(v0, j + 6u);
#elif SG_TOK == 4u
    for_x1(v0, j);
    for_x1(v0, j + 1u);
    for_x1(v0, j + 2u);
    for_x1(v0, j + 3u);
    for_x1(v0, j + 4u);
    for_x1(v0, j + 5u);
    for_x1(v0, j + 6u);
    for_x1(v0, j + 7u);
#elif SG_X == 8u
    let a = X[v0 + j + lane];
    xs[j] = subgroupBroadcast(a, 0u);
    xs[j + 1u] = subgroupBroadcast(a, 1u);
    xs[j + 2u] = subgroupBroadcast(a, 2u);
    xs[j + 3u] = subgroupBroadcast(a, 3u);
    xs[j + 4u] = subgroupBroadcast(a, 4u);
    xs[j + 5u] = subgroupBroadcast(a, 5u);
    xs[j + 6u] = subgroupBroadcast(a, 6u);
    xs[j + 7u] = subgroupBroadcast(a, 7u);
#elif SG_X == 4u
    let a = X[v0 + j + lane];
    let e = X[v0 + j + 4u + lane];
    xs[j] = subgroupBroadcast(a, 0u);
    xs[j + 1u] = subgroupBroadcast(a, 1u);
    xs[j + 2u] = subgroupBroadcast(a, 2u);
    xs[j + 3u] = subgroupBroadcast(a, 3u);
    xs[j + 4u] = subgroupBroadcast(e, 0u);
    xs[j + 5u] = subgroupBroadcast(e, 1u);
    xs[j + 6u] = subgroupBroadcast(e, 2u);
    xs[j + 7u] = subgroupBroadcast(e, 3u);
#else
    xs[j] = xload(v0 + j);
    xs[j + 1u] = xload(v0 + j + 1u);
    xs[j + 2u] = xload(v0 + j + 2u);
    xs[j + 3u] = xload(v0 + j + 3u);
    xs[j + 4u] = xload(v0 + j + 4u);
    xs[j + 5u] = xload(v0 + j + 5u);
    xs[j + 6u] = xload(v0 + j + 6u);
    xs[j + 7u] = xload(v0 + j + 7u);
#endif
#if MV_XG == 8u
    let s8 = xs[j] + xs[j + 1u] + xs[j + 2u] + xs[j + 3u] + xs[j + 4u] + xs[j + 5u] + xs[j + 6u] + xs[j + 7u];
    xg[j / 8u] = xsum(s8);
#ifdef MV_XW
    xw[j / 8u] = xlast(s8);
#endif
#elif MV_XG == 4u
    xg[j / 4u] = xsum(xs[j] + xs[j + 1u] + xs[j + 2u] + xs[j + 3u]);
    xg[j / 4u + 1u] = xsum(xs[j + 4u] + xs[j + 5u] + xs[j + 6u] + xs[j + 7u]);
#endif
#if MV_XSCALE
    xs[j] = xscaled(xs[j]);
    xs[j + 1u] = xscaled(xs[j + 1u]);
    xs[j + 2u] = xscaled(xs[j + 2u]);
    xs[j + 3u] = xscaled(xs[j + 3u]);
    xs[j + 4u] = xscaled(xs[j + 4u]);
    xs[j + 5u] = xscaled(xs[j + 5u]);
    xs[j + 6u] = xscaled(xs[j + 6u]);
    xs[j + 7u] = xscaled(xs[j + 7u]);
#endif
}

fn load_x(v0: u32) {
    load_x8(v0, 0u);
#if MV_XV != 8u
    load_x8(v0, 8u);
#endif
#if MV_XV == 32u
    load_x8(v0, 16u);
    load_x8(v0, 24u);
#endif
}

// Sub-step c of the step whose first block (in row 0) is b: called with constant c. The rows are
// unrolled by the launcher (MV_EACH_ROW_SUB: acc[r] += mv_sub(blk0[r] + b, c, head[r]) for each r).
fn sub_step(v0: u32, b: u32, c: u32) {
    load_x(v0 + c * MV_XV);
    MV_EACH_ROW_SUB
}

// Σ of the 16 fields m (in place) of the four words of q against xs[j..j + 4].
fn dot4w(q: vec4<u32>, m: vec4<u32>, j: u32) -> XS {
    return xdot(inplace(q.x, m), j) + xdot(inplace(q.y, m), j + 1u)
         + xdot(inplace(q.z, m), j + 2u) + xdot(inplace(q.w, m), j + 3u);
}

// dot4w for masks that reach bit 31 (see inplace_u).
fn dot4wu(q: vec4<u32>, m: vec4<u32>, j: u32) -> XS {
    return xdot(inplace_u(q.x, m), j) + xdot(inplace_u(q.y, m), j + 1u)
         + xdot(inplace_u(q.z, m), j + 2u) + xdot(inplace_u(q.w, m), j + 3u);
}
#endif

@compute @workgroup_size(WG_X, WG_Y, 1)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>
#ifdef SG_X
        , @builtin(subgroup_invocation_id) sl: u32
#endif
        ) {
#ifdef GLU_OUT
    let paired = P.paired != 0u;
#else
    let paired = false;
#endif
    // Output rows per invocation.
    let out_rows = select(ROWS, ROWS / 2u, paired);
    let row0 = ((wid.y * nwg.x + wid.x) * WG_X + lid.x) * out_rows;
#ifdef EXPERTS
    let z = wid.z;
    let x_off = P.x_offset + (z / P.slots) * P.x_stride_token + (z % P.slots) * P.x_stride_slot;
    let y_off = P.y_offset + z * P.y_stride;
    let first_row = SEL[z] * P.rows;
#else
#ifdef MV_TOKENS
    // Workgroup layer z: tokens 4z..4z+3 of a batch (prefill).
    let tok0 = wid.z * 4u;
    let last = P.tokens - 1u - tok0;
    xo = vec4<u32>(0u, min(1u, last), min(2u, last), min(3u, last)) * (P.x_stride_token / 4u);
#ifdef SG_TOK
    xl = sl / 4u + xo[sl % 4u];
#endif
    let x_off = P.x_offset + tok0 * P.x_stride_token;
    let y_off = P.y_offset + tok0 * P.y_stride;
#else
    // Workgroup layer z: token z of a batch (prefill), its x and y a stride further on.
    let x_off = P.x_offset + wid.z * P.x_stride_token;
    let y_off = P.y_offset + wid.z * P.y_stride;
#endif
    let first_row = 0u;
#endif
#ifdef NORM_X
    nw_shift = P.nw_offset / 4u - x_off / 4u;
    normed = P.normed != 0u;
#endif
#ifndef MV_FAST
    var acc: array<XS, ROWS>;
    var blk0: array<u32, ROWS>;
#endif
    // Rows past the end re-read the last row instead of branching per row.
    for (var r = 0u; r < ROWS; r++) {
        let up = select(0u, P.rows, r >= out_rows);
        blk0[r] = (first_row + up + min(row0 + r % out_rows, P.rows - 1u)) * P.blocks_per_row;
    }
#ifdef MV_FAST
#ifdef SG_X
    // Every lane runs the whole loop: its subgroup needs it for the broadcasts.
    lane = sl;
#else
    if (row0 < P.rows) {
#endif
#ifdef SG_X
        // WG_Y is 1 here; a loop bound free of invocation ids keeps the broadcasts in subgroup-
        // uniform control flow, as Tint's uniformity analysis requires.
        for (var s = 0u; s < P.steps; s++) {
#else
        for (var s = lid.y; s < P.steps; s += WG_Y) {
#endif
            let b = s * MV_STEP_BLOCKS;
            MV_EACH_ROW_HEAD
            let v0 = x_off / 4u + s * (MV_SUBS * MV_XV);
            sub_step(v0, b, 0u);
#if MV_SUBS != 1
            sub_step(v0, b, 1u);
#endif
#if MV_SUBS == 4
            sub_step(v0, b, 2u);
            sub_step(v0, b, 3u);
#endif
        }
#ifndef SG_X
    }
#endif
#else
    if (row0 < P.rows) {
        let xb = x_off / 4u;
        for (var b = lid.y; b < P.blocks_per_row; b += WG_Y) {
            let x0 = xb + b * (QK / 4u);
            for (var i = 0u; i < QK / 4u; i++) {
                let xv = xin(x0 + i);
                for (var r = 0u; r < ROWS; r++) {
                    acc[r] += dot(q_get4(blk0[r] + b, i), xv);
                }
            }
        }
    }
#endif
#if WG_Y != 1
    let t = lid.y * WG_X + lid.x;
    partial[t] = acc;
#ifdef NORM_X
    partial_ss[t] = ss;
#endif
    workgroupBarrier();
    for (var stride = WG_Y / 2u; stride > 0u; stride >>= 1u) {
        if (lid.y < stride) {
            for (var r = 0u; r < ROWS; r++) {
                partial[t][r] += partial[t + stride * WG_X][r];
            }
#ifdef NORM_X
            partial_ss[t] += partial_ss[t + stride * WG_X];
#endif
        }
        workgroupBarrier();
    }
    acc = partial[lid.x];
#ifdef NORM_X
    ss = partial_ss[lid.x];
#endif
#endif
#ifdef NORM_X
    if (P.normed != 0u) {
        let sc = inverseSqrt(ss / f32(P.x_len) + P.eps);
        for (var r = 0u; r < ROWS; r++) {
            acc[r] *= sc;
        }
    }
#endif
#ifdef MV_TOKENS
    for (var t = 0u; t < 4u; t++) {
        if (tok0 + t < P.tokens) {
            for (var r = 0u; r < out_rows; r++) {
                let row = row0 + r;
                if (row < P.rows) {
                    var v = acc[r][t];
#ifdef GLU_OUT
                    if (paired) {
                        v = glu_act(v) * acc[r + out_rows][t];
                    }
                    if (P.gated != 0u) {
                        v *= glu_act(G[P.g_offset + (tok0 + t) * P.y_stride + row]);
                    }
#endif
                    let yi = y_off + t * P.y_stride + row;
                    if (P.accumulate != 0u) {
                        Y[yi] += v;
                    } else {
                        Y[yi] = v;
                    }
                }
            }
        }
    }
#else
    if (lid.y == 0u) {
        for (var r = 0u; r < out_rows; r++) {
            let row = row0 + r;
            if (row < P.rows) {
                var v = acc[r];
#ifdef GLU_OUT
                if (paired) {
                    v = glu_act(v) * acc[r + out_rows];
                }
                if (P.gated != 0u) {
                    v *= glu_act(G[P.g_offset + (y_off - P.y_offset) + row]);
                }
#endif
                if (P.accumulate != 0u) {
                    Y[y_off + row] += v;
                } else {
                    Y[y_off + row] = v;
                }
            }
        }
    }
#endif
}
