// Sampling, one workgroup: the exact k best of the gathered candidates by (logit, lowest id),
// sorted, then top-p, min-p, temperature and the draw in engine::sampler's order of f32
// operations (sequential sums on one invocation), so that only `exp` rounding can differ.
// OUT: the id, the uniform's bits, the gathered count, the candidates left after top-p/min-p.
#include "sample_common.wgsl"

struct State {
    m: f32,
    tb: u32,
    k: u32,
    count: atomic<u32>,
}

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> STATE: State;
@group(0) @binding(2) var<storage, read> CAND: array<Cand>;
@group(0) @binding(3) var<storage, read_write> OUT: array<u32>;

// The sort's arrays live in a storage buffer rather than in workgroup memory, whose WebGPU
// zero-initialisation CPU drivers compile into a store per element (over a second for these).
// They are exchanged between invocations across storageBarrier().
struct Work {
    radix: array<atomic<u32>, 256>,
    filled: atomic<u32>,
    key: array<u32, CAP>,
    id: array<u32, CAP>,
    w: array<f32, CAP>,
}
@group(0) @binding(4) var<storage, read_write> WK: Work;

var<workgroup> w_count: u32;
var<workgroup> w_k: u32;
var<workgroup> w_digit: u32;
var<workgroup> w_need: u32;
var<workgroup> w_n: u32;

// Radix select over the unique keys (ord_key(l), !id), 8 bits at a time from the top: finds the
// k-th best when more than CAP were gathered (massive ties), then keeps exactly the k best.
fn select_k(t: u32, count: u32, k: u32) {
    var pre_hi = 0u;
    var pre_lo = 0u;
    var need = k;
    for (var level = 0u; level < 8u; level++) {
        let shift = 24u - 8u * (level & 3u);
        let mask = ~(0xffffffffu >> (8u * (level & 3u)));
        let mh = select(mask, 0xffffffffu, level >= 4u);
        let ml = select(0u, mask, level >= 4u);
        // t 0 read the previous level's counts before the uniform load.
        storageBarrier();
        for (var b = t; b < 256u; b += WG_X) {
            atomicStore(&WK.radix[b], 0u);
        }
        storageBarrier();
        for (var e = t; e < count; e += WG_X) {
            let c = CAND[e];
            let hi = ord_key(c.l);
            let lo = ~c.i;
            if ((hi & mh) == (pre_hi & mh) && (lo & ml) == (pre_lo & ml)) {
                atomicAdd(&WK.radix[(select(hi, lo, level >= 4u) >> shift) & 0xffu], 1u);
            }
        }
        storageBarrier();
        if (t == 0u) {
            var cum = 0u;
            for (var d = 255i; d >= 0i; d--) {
                let h = atomicLoad(&WK.radix[d]);
                if (cum + h >= need) {
                    w_digit = u32(d);
                    w_need = need - cum;
                    break;
                }
                cum += h;
            }
        }
        let d = workgroupUniformLoad(&w_digit);
        need = workgroupUniformLoad(&w_need);
        if (level < 4u) {
            pre_hi |= d << shift;
        } else {
            pre_lo |= d << shift;
        }
    }
    if (t == 0u) {
        atomicStore(&WK.filled, 0u);
    }
    storageBarrier();
    for (var e = t; e < count; e += WG_X) {
        let c = CAND[e];
        let hi = ord_key(c.l);
        if (hi > pre_hi || (hi == pre_hi && ~c.i >= pre_lo)) {
            let s = atomicAdd(&WK.filled, 1u);
            WK.key[s] = hi;
            WK.id[s] = c.i;
        }
    }
    storageBarrier();
}

// Bitonic sort of the first `n` entries, best first (larger key, then lower id).
fn sort(t: u32, n: u32) {
    var size = 1u;
    while (size < n) {
        size <<= 1u;
    }
    for (var e = n + t; e < size; e += WG_X) {
        WK.key[e] = 0u; // below every finite logit's key
        WK.id[e] = NONE;
    }
    storageBarrier();
    for (var span = 2u; span <= size; span <<= 1u) {
        for (var stride = span / 2u; stride > 0u; stride >>= 1u) {
            for (var x = t; x < size / 2u; x += WG_X) {
                let i = 2u * stride * (x / stride) + x % stride;
                let j = i + stride;
                let ki = WK.key[i];
                let kj = WK.key[j];
                let j_first = kj > ki || (kj == ki && WK.id[j] < WK.id[i]);
                if (j_first == ((i & span) == 0u)) {
                    WK.key[i] = kj;
                    WK.key[j] = ki;
                    let s = WK.id[i];
                    WK.id[i] = WK.id[j];
                    WK.id[j] = s;
                }
            }
            storageBarrier();
        }
    }
}

@compute @workgroup_size(WG_X, 1, 1)
fn main(@builtin(local_invocation_id) lid: vec3<u32>) {
    let t = lid.x;
    if (t == 0u) {
        w_count = atomicLoad(&STATE.count);
        w_k = STATE.k;
    }
    let count = workgroupUniformLoad(&w_count);
    // The gather counted what the histogram did; min() only guards against a driver that rounds
    // the two passes' (m - l) differently.
    let k = min(workgroupUniformLoad(&w_k), count);
    let r = uniform01(P.seed_lo, P.seed_hi, P.step_lo, P.step_hi);
    if (k == 0u) {
        // No finite logit: cpu::ops::argmax of -inf and NaN is always the first id.
        if (t == 0u) {
            OUT[0] = 0u;
            OUT[1] = bitcast<u32>(r);
            OUT[2] = count;
            OUT[3] = 0u;
        }
        return;
    }
    var n = count;
    if (count <= CAP) {
        for (var e = t; e < count; e += WG_X) {
            let c = CAND[e];
            WK.key[e] = ord_key(c.l);
            WK.id[e] = c.i;
        }
    } else {
        select_k(t, count, k);
        n = k;
    }
    sort(t, n);

    // Top-p and min-p on exp(l - l0), as engine::sampler::truncate.
    let l0 = from_key(WK.key[0]);
    let cut = P.top_p < 1.0 || P.min_p > 0.0;
    if (cut) {
        for (var e = t; e < k; e += WG_X) {
            WK.w[e] = exp(from_key(WK.key[e]) - l0);
        }
        storageBarrier();
    }
    if (t == 0u) {
        var m = k;
        if (P.top_p < 1.0) {
            var s = 0.0;
            for (var e = 0u; e < k; e++) {
                s += WK.w[e];
            }
            let thr = P.top_p * s;
            var cum = 0.0;
            for (var e = 0u; e < k; e++) {
                cum += WK.w[e];
                if (cum >= thr) {
                    m = e + 1u;
                    break;
                }
            }
        }
        if (P.min_p > 0.0) {
            let thr = P.min_p * WK.w[0];
            var j = 0u;
            while (j < m && WK.w[j] >= thr) {
                j++;
            }
            m = max(j, 1u);
        }
        w_n = m;
    }
    let m = workgroupUniformLoad(&w_n);

    // Temperature and the draw, as engine::sampler::draw.
    for (var e = t; e < m; e += WG_X) {
        WK.w[e] = exp((from_key(WK.key[e]) - l0) * P.inv_temp);
    }
    storageBarrier();
    if (t == 0u) {
        var s = 0.0;
        for (var e = 0u; e < m; e++) {
            s += WK.w[e];
        }
        let goal = r * s;
        var cum = 0.0;
        var pick = 0u;
        for (var e = 0u; e < m; e++) {
            cum += WK.w[e];
            if (goal < cum) {
                pick = e;
                break;
            }
            if (WK.w[e] > 0.0) {
                pick = e;
            }
        }
        OUT[0] = WK.id[pick];
        OUT[1] = bitcast<u32>(r);
        OUT[2] = count;
        OUT[3] = m;
    }
}
