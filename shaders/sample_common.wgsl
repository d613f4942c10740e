// Shared by the sampler's kernels (gpu/kernels/sample.rs). CHUNK (logits per workgroup of the
// vocabulary passes), NB (histogram bins) and CAP (the candidate cap) are defined by the key.

// A workgroup's best logit and its index (NONE when the workgroup saw no logit).
struct Partial {
    v: f32,
    i: u32,
}

// A gathered candidate.
struct Cand {
    l: f32,
    i: u32,
}

const NONE: u32 = 0xffffffffu;

// WGSL may assume floats are finite, so infinities and NaN are told apart by their bits.
fn is_finite(l: f32) -> bool {
    return (bitcast<u32>(l) & 0x7f800000u) != 0x7f800000u;
}

// Is (bv, bi) ahead of (av, ai)? The larger value, ties to the lower index, as cpu::ops::argmax.
fn ahead(av: f32, ai: u32, bv: f32, bi: u32) -> bool {
    if (bi == NONE) {
        return false;
    }
    if (ai == NONE) {
        return true;
    }
    return bv > av || (bv == av && bi < ai);
}

// The histogram bin of a logit `l` below the best `m`: the top bits of (m - l) as a float, which
// are monotonic in it, so bins are 1/128 of an octave wide between 2^-8 and 2^8; closer logits
// share bin 0 and farther ones the last bin. Only monotonicity matters for exactness: the bins
// only bound the set gathered for the exact selection.
fn bin_of(m: f32, l: f32) -> u32 {
    let b = bitcast<u32>(m - l);
    // -0 happens when m and l are zeros of opposite signs.
    if (b >= 0x80000000u) {
        return 0u;
    }
    let x = b >> 16u;
    let lo = 119u << 7u; // the top bits of 2^-8
    if (x < lo) {
        return 0u;
    }
    return min(x - lo + 1u, NB - 1u);
}

// A u32 whose order is f32::total_cmp's, which the CPU sampler sorts by.
fn ord_key(l: f32) -> u32 {
    let b = bitcast<u32>(l);
    return select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);
}

fn from_key(k: u32) -> f32 {
    return bitcast<f32>(select(~k, k ^ 0x80000000u, (k & 0x80000000u) != 0u));
}

// engine::rng::pcg_hash and engine::rng::uniform, bit for bit.
fn pcg_hash(v: u32) -> u32 {
    let s = v * 747796405u + 2891336453u;
    let w = ((s >> ((s >> 28u) + 4u)) ^ s) * 277803737u;
    return (w >> 22u) ^ w;
}

fn uniform01(seed_lo: u32, seed_hi: u32, step_lo: u32, step_hi: u32) -> f32 {
    var h = pcg_hash(seed_lo);
    h = pcg_hash(h ^ seed_hi);
    h = pcg_hash(h ^ step_lo);
    h = pcg_hash(h ^ step_hi);
    return f32(h >> 8u) * (1.0 / 16777216.0);
}
