// Workgroup-wide reductions over WG_X invocations (a power of two), through workgroup memory.
// Every invocation must call them (they contain barriers) and gets the result.

var<workgroup> red: array<f32, WG_X>;

fn wg_sum(i: u32, v: f32) -> f32 {
    red[i] = v;
    workgroupBarrier();
    for (var stride = WG_X / 2u; stride > 0u; stride >>= 1u) {
        if (i < stride) {
            red[i] += red[i + stride];
        }
        workgroupBarrier();
    }
    let r = red[0];
    // Nobody may overwrite `red` for a next reduction before everyone has read this one.
    workgroupBarrier();
    return r;
}

fn wg_max(i: u32, v: f32) -> f32 {
    red[i] = v;
    workgroupBarrier();
    for (var stride = WG_X / 2u; stride > 0u; stride >>= 1u) {
        if (i < stride) {
            red[i] = max(red[i], red[i + stride]);
        }
        workgroupBarrier();
    }
    let r = red[0];
    workgroupBarrier();
    return r;
}
