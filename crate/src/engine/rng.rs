//! The sampler's random numbers: a pure, counter-based function of (seed, step), so that the GPU
//! sampler (`shaders/sample_common.wgsl`, which must stay identical) draws the same number as the
//! CPU without carrying a stream state, and a draw never depends on earlier draws.

/// PCG's output permutation used as a 32-bit hash (a bijection on u32).
pub fn pcg_hash(v: u32) -> u32 {
    let s = v.wrapping_mul(747_796_405).wrapping_add(2_891_336_453);
    let w = ((s >> ((s >> 28) + 4)) ^ s).wrapping_mul(277_803_737);
    (w >> 22) ^ w
}

/// Uniform in [0, 1) with 24 bits, so that the f32 value is exact on every device.
pub fn uniform(seed: u64, step: u64) -> f32 {
    let mut h = pcg_hash(seed as u32);
    h = pcg_hash(h ^ (seed >> 32) as u32);
    h = pcg_hash(h ^ step as u32);
    h = pcg_hash(h ^ (step >> 32) as u32);
    (h >> 8) as f32 * (1.0 / 16_777_216.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_is_in_range_and_spread() {
        let n = 100_000;
        let mut buckets = [0usize; 10];
        for step in 0..n {
            let r = uniform(42, step);
            assert!((0.0..1.0).contains(&r));
            buckets[(r * 10.0) as usize] += 1;
        }
        for b in buckets {
            assert!((b as f64 / n as f64 - 0.1).abs() < 0.005, "{buckets:?}");
        }
        assert_ne!(uniform(1, 0), uniform(2, 0));
        assert_ne!(uniform(1 << 32, 0), uniform(0, 0));
        assert_ne!(uniform(0, 1 << 32), uniform(0, 0));
    }
}
