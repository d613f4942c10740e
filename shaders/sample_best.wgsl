// The workgroup reduction to the best (value, index), for the kernels that need it; the includer
// declares PART (the per-workgroup partials) and P.
#include "sample_common.wgsl"

const LANES: u32 = 16u;

var<workgroup> best_v: array<f32, WG_X>;
var<workgroup> best_i: array<u32, WG_X>;

// Two serial levels of LANES rather than a tree: three barriers instead of nine, which matters
// on CPU drivers (lavapipe, SwiftShader), where a barrier switches every invocation's context.
fn reduce_best(t: u32, v: f32, i: u32) -> Partial {
    best_v[t] = v;
    best_i[t] = i;
    workgroupBarrier();
    if (t < WG_X / LANES) {
        var bv = best_v[t * LANES];
        var bi = best_i[t * LANES];
        for (var j = t * LANES + 1u; j < (t + 1u) * LANES; j++) {
            if (ahead(bv, bi, best_v[j], best_i[j])) {
                bv = best_v[j];
                bi = best_i[j];
            }
        }
        best_v[t * LANES] = bv;
        best_i[t * LANES] = bi;
    }
    workgroupBarrier();
    if (t == 0u) {
        for (var j = LANES; j < WG_X; j += LANES) {
            if (ahead(best_v[0], best_i[0], best_v[j], best_i[j])) {
                best_v[0] = best_v[j];
                best_i[0] = best_i[j];
            }
        }
    }
    workgroupBarrier();
    return Partial(best_v[0], best_i[0]);
}

// The best logit of the whole vocabulary from the first pass's partials.
fn best_of_partials(t: u32) -> Partial {
    var v = 0.0;
    var i = NONE;
    for (var g = t; g < P.n_groups; g += WG_X) {
        let q = PART[g];
        if (ahead(v, i, q.v, q.i)) {
            v = q.v;
            i = q.i;
        }
    }
    return reduce_best(t, v, i);
}
