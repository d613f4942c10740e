// Workgroup-wide reductions over WG_X invocations (a power of two), through workgroup memory.
// Every invocation must call them (they contain barriers) and gets the result.
//
// SERIAL (WG_X == 1, one invocation does a workgroup's whole job): the CPU adapters. There a
// barrier, or workgroup memory (whose zeroing brings a barrier), makes the whole shader run as
// coroutines: SwiftShader took 430 us per RoPE dispatch with a reduction compiled in, never
// executed, and 120 us without. With SERIAL the reductions and barriers compile to nothing.
// SG_REDUCE (below) is the same idea for one subgroup.
// A kernel's jobs (a head, say) and their invocations: with SERIAL WG_X jobs per workgroup, one
// per invocation; else a workgroup per job, its invocations taking every JOB_STEP-th element from
// job_first on. (job_of ignores lid without SERIAL, which keeps it uniform there.)
fn job_of(group: u32, lid: u32) -> u32 {
#ifdef SERIAL
    return group * WG_X + lid;
#else
    return group;
#endif
}

fn job_first(lid: u32) -> u32 {
#ifdef SERIAL
    return 0u;
#else
    return lid;
#endif
}

#ifdef SERIAL
const JOB_STEP: u32 = 1u;
#else
const JOB_STEP: u32 = WG_X;
#endif

#ifdef SERIAL
fn wg_sum(i: u32, v: f32) -> f32 {
    return v;
}

fn wg_max(i: u32, v: f32) -> f32 {
    return v;
}

fn wg_barrier() {}

fn wg_storage_barrier() {}
#else
#ifdef SG_REDUCE
// The workgroup is one subgroup (WG_X its smallest size): the reductions are subgroup operations,
// free of barriers, for kernels that share nothing else between invocations.
fn wg_sum(i: u32, v: f32) -> f32 {
    return subgroupAdd(v);
}

fn wg_max(i: u32, v: f32) -> f32 {
    return subgroupMax(v);
}
#else
fn wg_barrier() {
    workgroupBarrier();
}

fn wg_storage_barrier() {
    storageBarrier();
}

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
#endif
#endif
