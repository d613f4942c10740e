// y[row] = sum_k W[row, k] * x[k] for one token (decode). Each invocation computes ROWS consecutive
// rows, so every x value it loads serves ROWS rows (on CPU-emulated adapters the loads, not the
// arithmetic, dominate); WG_Y invocations may share the rows and add up their partial sums.
//
// MV_FAST (rows whose blocks divide into whole steps): the type's mv_head/mv_sub read the quants as
// whole vec4<u32> through W4 and decode a step of blocks at once; x of a step is loaded once per
// invocation (or, with SG_X, once per subgroup: lane l loads every SG_X-th vector and broadcasts
// it) into `xs`. Otherwise every type goes through its generic q_get4.
#include "common.wgsl"

// x is shared per subgroup only where the subgroup is the CPU adapters' SIMD width; the launcher
// guarantees WG_Y == 1 and WG_X a multiple of 8, so every subgroup has lanes 0..SG_X-1 and runs
// the step loop in uniform control flow.
#ifdef SHARE_X
#ifdef HAS_SUBGROUPS
#if SUBGROUP_SIZE == 8
#define SG_X 8u
#endif
#if SUBGROUP_SIZE == 4
#define SG_X 4u
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

fn scale_base() -> u32 {
    return P.scale_base;
}

#include "quant/TYPE_FILE"

#if WG_Y != 1
var<workgroup> partial: array<array<f32, ROWS>, WG_SIZE>;
#endif

#ifdef MV_FAST
// x of the current sub-step: as loaded (times XSCALE with MV_XSCALE, for in-place decoders).
var<private> xs: array<vec4<f32>, MV_XV>;
var<private> acc: array<f32, ROWS>;
var<private> blk0: array<u32, ROWS>;
var<private> head: array<MvHead, ROWS>;
#ifdef SG_X
var<private> lane: u32;
#endif

fn load_x(v0: u32) {
#ifdef SG_X
    for (var k = 0u; k < MV_XV / SG_X; k++) {
        let a = X[v0 + k * SG_X + lane];
        xs[k * SG_X + 0u] = subgroupBroadcast(a, 0u);
        xs[k * SG_X + 1u] = subgroupBroadcast(a, 1u);
        xs[k * SG_X + 2u] = subgroupBroadcast(a, 2u);
        xs[k * SG_X + 3u] = subgroupBroadcast(a, 3u);
#if SG_X == 8u
        xs[k * SG_X + 4u] = subgroupBroadcast(a, 4u);
        xs[k * SG_X + 5u] = subgroupBroadcast(a, 5u);
        xs[k * SG_X + 6u] = subgroupBroadcast(a, 6u);
        xs[k * SG_X + 7u] = subgroupBroadcast(a, 7u);
#endif
    }
#else
    for (var j = 0u; j < MV_XV; j++) {
        xs[j] = X[v0 + j];
    }
#endif
#if MV_XSCALE
    for (var j = 0u; j < MV_XV; j++) {
        xs[j] *= XSCALE;
    }
#endif
}

// Sub-step c of the step whose first block (in row 0) is b: called with constant c.
fn sub_step(v0: u32, b: u32, c: u32) {
    load_x(v0 + c * MV_XV);
    for (var r = 0u; r < ROWS; r++) {
        acc[r] += mv_sub(blk0[r] + b, c, head[r]);
    }
}

// Σ of the 16 fields m (in place) of the four words of q against xs[j..j + 4].
fn dot4w(q: vec4<u32>, m: vec4<u32>, j: u32) -> f32 {
    return dot(inplace(q.x, m), xs[j]) + dot(inplace(q.y, m), xs[j + 1u])
         + dot(inplace(q.z, m), xs[j + 2u]) + dot(inplace(q.w, m), xs[j + 3u]);
}

// As dot4w for fields minus an offset, given in place (off = o·SV): exact, like ggml's q - o.
fn dot4o(q: vec4<u32>, m: vec4<u32>, off: vec4<f32>, j: u32) -> f32 {
    return dot(inplace(q.x, m) - off, xs[j]) + dot(inplace(q.y, m) - off, xs[j + 1u])
         + dot(inplace(q.z, m) - off, xs[j + 2u]) + dot(inplace(q.w, m) - off, xs[j + 3u]);
}

// As dot4w for fields dequantized as field·d1 - m1 (m1v = m1·SV): every value rounds exactly as
// ggml's dequantization does, so the sum does not cancel more than the reference's.
fn dot4dm(q: vec4<u32>, m: vec4<u32>, d1: f32, m1v: vec4<f32>, j: u32) -> f32 {
    return dot(inplace(q.x, m) * d1 - m1v, xs[j]) + dot(inplace(q.y, m) * d1 - m1v, xs[j + 1u])
         + dot(inplace(q.z, m) * d1 - m1v, xs[j + 2u]) + dot(inplace(q.w, m) * d1 - m1v, xs[j + 3u]);
}

// Σ of the 16 signed bytes of q (each times 2^24) against xs[j..j + 4].
fn dot4s(q: vec4<u32>, j: u32) -> f32 {
    return dot(sbytes_top(q.x), xs[j]) + dot(sbytes_top(q.y), xs[j + 1u])
         + dot(sbytes_top(q.z), xs[j + 2u]) + dot(sbytes_top(q.w), xs[j + 3u]);
}
#endif

@compute @workgroup_size(WG_X, WG_Y, 1)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>
#ifdef SG_X
        , @builtin(subgroup_invocation_id) sl: u32
#endif
        ) {
    let row0 = ((wid.y * nwg.x + wid.x) * WG_X + lid.x) * ROWS;
#ifndef MV_FAST
    var acc: array<f32, ROWS>;
    var blk0: array<u32, ROWS>;
#endif
    // Rows past the end re-read the last row instead of branching per row.
    for (var r = 0u; r < ROWS; r++) {
        blk0[r] = min(row0 + r, P.rows - 1u) * P.blocks_per_row;
    }
#ifdef MV_FAST
#ifdef SG_X
    // Every lane runs the whole loop: its subgroup needs it for the broadcasts.
    lane = sl;
#else
    if (row0 < P.rows) {
#endif
        for (var s = lid.y; s < P.steps; s += WG_Y) {
            let b = s * MV_STEP_BLOCKS;
            for (var r = 0u; r < ROWS; r++) {
                head[r] = mv_head(blk0[r] + b);
            }
            let v0 = P.x_offset / 4u + s * (MV_SUBS * MV_XV);
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
        let xb = P.x_offset / 4u;
        for (var b = lid.y; b < P.blocks_per_row; b += WG_Y) {
            let x0 = xb + b * (QK / 4u);
            for (var i = 0u; i < QK / 4u; i++) {
                let xv = X[x0 + i];
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
    workgroupBarrier();
    for (var stride = WG_Y / 2u; stride > 0u; stride >>= 1u) {
        if (lid.y < stride) {
            for (var r = 0u; r < ROWS; r++) {
                partial[t][r] += partial[t + stride * WG_X][r];
            }
        }
        workgroupBarrier();
    }
    acc = partial[lid.x];
#endif
    if (lid.y == 0u) {
        for (var r = 0u; r < ROWS; r++) {
            let row = row0 + r;
            if (row < P.rows) {
                if (P.accumulate != 0u) {
                    Y[P.y_offset + row] += acc[r];
                } else {
                    Y[P.y_offset + row] = acc[r];
                }
            }
        }
    }
}
