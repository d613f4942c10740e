//! The FFN's gated activation `act(gate) · up`, over vectors and spread over the threads: a
//! prompt's batch has `n · n_ff` of them, which libm's scalar `tanhf`/`expf` on one thread made a
//! tenth of Gemma's prefill.
//!
//! Both activations are `x / (1 + e^{-z})` (GELU's tanh form too: `½(1 + tanh u) = 1 / (1 + e^{-2u})`),
//! with `e^z` from a polynomial on the vectors. A value's result does not depend on where it lies:
//! the tail is padded into a whole vector and goes through the same operations, so a row gets the
//! same bits in a batch, alone, or cut differently between threads.

use super::par::{run_tasks, task_count, Shared};
use super::simd::{arr4, dispatch, Kernel, Simd};
use crate::model::Activation;

/// Values per task below which splitting costs more than it saves.
const MIN_PER_TASK: usize = 4096;

/// `act(g[i]) · u[i]` for every `i`.
pub fn gated(act: Activation, g: &[f32], u: &[f32]) -> Vec<f32> {
    assert_eq!(g.len(), u.len());
    let mut out = vec![0f32; g.len()];
    // Tasks of whole vectors, so that only the last one has a tail.
    let per = g.len().div_ceil(task_count(g.len(), MIN_PER_TASK)).next_multiple_of(4).max(4);
    let shared = Shared::new(&mut out);
    run_tasks(g.len().div_ceil(per), |i| {
        let (lo, hi) = (i * per, ((i + 1) * per).min(g.len()));
        // Task `i` alone writes `lo..hi`.
        let out = shared.slice(lo, hi - lo);
        dispatch(Gate { act, g: &g[lo..hi], u: &u[lo..hi], out });
    });
    out
}

struct Gate<'a> {
    act: Activation,
    g: &'a [f32],
    u: &'a [f32],
    out: &'a mut [f32],
}

impl Kernel for Gate<'_> {
    type Out = ();
    #[inline(always)]
    fn run<S: Simd>(self, s: S) {
        match self.act {
            Activation::Silu => self.each::<S, false>(s),
            Activation::GeluTanh => self.each::<S, true>(s),
        }
    }
}

impl Gate<'_> {
    /// The activation a const parameter, not a function argument or closure: those are functions
    /// of their own, compiled without the kernel's target features, and the intrinsics would not
    /// inline.
    #[inline(always)]
    fn each<S: Simd, const GELU: bool>(self, s: S) {
        let n = self.g.len();
        let whole = n / 4 * 4;
        for i in (0..whole).step_by(4) {
            let y = s.mul_f32(act::<S, GELU>(s, s.load_f32(arr4(&self.g[i..]))), s.load_f32(arr4(&self.u[i..])));
            s.store_f32(y, (&mut self.out[i..i + 4]).try_into().expect("4 floats"));
        }
        if whole < n {
            let (mut g, mut u, mut y) = ([0f32; 4], [0f32; 4], [0f32; 4]);
            g[..n - whole].copy_from_slice(&self.g[whole..]);
            u[..n - whole].copy_from_slice(&self.u[whole..]);
            s.store_f32(s.mul_f32(act::<S, GELU>(s, s.load_f32(&g)), s.load_f32(&u)), &mut y);
            self.out[whole..].copy_from_slice(&y[..n - whole]);
        }
    }
}

#[inline(always)]
fn act<S: Simd, const GELU: bool>(s: S, x: S::F32) -> S::F32 {
    if GELU {
        gelu_tanh(s, x)
    } else {
        silu(s, x)
    }
}

/// `e^x`, within about 2 ulp: `x = n·ln 2 + r` with `|r| ≤ ln 2 / 2`, `e^r` by its Taylor
/// polynomial of degree 6 (the next term is below 2^-23 there), `2^n` made in the exponent bits.
/// Inputs are clamped to where `2^n` is a normal float; the callers only need `1 / (1 + e^x)`,
/// which is then 0 or 1 to within float precision anyway.
#[inline(always)]
fn exp<S: Simd>(s: S, x: S::F32) -> S::F32 {
    let x = s.min_f32(s.max_f32(x, s.splat_f32(-87.0)), s.splat_f32(88.0));
    // Adding 1.5·2^23 rounds to an integer, which then sits in the low mantissa bits.
    let magic = s.splat_f32(12_582_912.0);
    let t = s.mul_add(x, s.splat_f32(std::f32::consts::LOG2_E), magic);
    let n = s.sub_f32(t, magic);
    // ln 2 in two parts, the first short enough that n times it is exact (Cody and Waite).
    let r = s.mul_add(n, s.splat_f32(-0.693_359_4), x);
    let r = s.mul_add(n, s.splat_f32(2.121_944_4e-4), r);
    let mut p = s.splat_f32(1.0 / 720.0);
    for c in [1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0] {
        p = s.mul_add(p, r, s.splat_f32(c));
    }
    // The low 9 bits of t's bits are n (two's complement); shifted into the exponent field.
    let two_n = s.add_i32(s.shl_i32::<23>(s.f32_bits(t)), s.splat_i32(127 << 23));
    s.mul_f32(p, s.f32_from_bits(two_n))
}

/// `x / (1 + e^{-z})`.
#[inline(always)]
fn over_logistic<S: Simd>(s: S, x: S::F32, z: S::F32) -> S::F32 {
    let one = s.splat_f32(1.0);
    s.div_f32(x, s.add_f32(one, exp(s, s.sub_f32(s.zero_f32(), z))))
}

#[inline(always)]
fn silu<S: Simd>(s: S, x: S::F32) -> S::F32 {
    over_logistic(s, x, x)
}

/// ggml's `gelu_f32`: `½x(1 + tanh u)` with `u = √(2/π)·x·(1 + 0.044715x²)`, as `x / (1 + e^{-2u})`.
#[inline(always)]
fn gelu_tanh<S: Simd>(s: S, x: S::F32) -> S::F32 {
    const TWO_SQRT_2_OVER_PI: f32 = 2.0 * 0.797_884_6;
    let inner = s.mul_add(s.mul_f32(x, x), s.splat_f32(0.044_715), s.splat_f32(1.0));
    let z = s.mul_f32(s.mul_f32(x, s.splat_f32(TWO_SQRT_2_OVER_PI)), inner);
    over_logistic(s, x, z)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::ops;

    fn inputs() -> Vec<f32> {
        let mut v: Vec<f32> = (-4000..=4000).map(|i| i as f32 / 200.0).collect();
        v.extend([0.0, -0.0, 1e-30, -1e-30, 1e-7, -1e-7, 50.0, -50.0, 1e4, -1e4]);
        let mut r = 0x2545_f491u32;
        v.extend((0..3001).map(|_| {
            r ^= r << 13;
            r ^= r >> 17;
            r ^= r << 5;
            (r as f32 / u32::MAX as f32 - 0.5) * 24.0
        }));
        v
    }

    fn check(act: Activation, reference: fn(f32) -> f32) {
        let x = inputs();
        let ones = vec![1f32; x.len()];
        let fast = gated(act, &x, &ones);
        let mut portable = vec![0f32; x.len()];
        Gate { act, g: &x, u: &ones, out: &mut portable }.run(crate::cpu::fast::simd::Portable);
        for (i, &xi) in x.iter().enumerate() {
            let xd = xi as f64;
            let z = match act {
                Activation::Silu => xd,
                Activation::GeluTanh => 2.0 * 0.797_884_560_802_865_4 * xd * (1.0 + 0.044715 * xd * xd),
            };
            let exact = xd / (1.0 + (-z).exp());
            // A few ulp, plus the rounding of z itself (relative error |z|·ulp in e^-z); results
            // below 1e-30 are zero for the model's purposes (the reference's tanh gives exactly 0).
            let tol = (4e-7 + 1.5e-7 * z.abs()) * exact.abs() + 1e-30;
            for (name, got) in [("dispatched", fast[i]), ("portable", portable[i])] {
                assert!((got as f64 - exact).abs() <= tol, "{act:?}({xi}) = {got} {name}, exact {exact}, reference {}", reference(xi));
            }
            // The same bits alone as in the middle of a batch (and in any lane of a tail).
            for len in 1..=5 {
                let alone = gated(act, &vec![xi; len], &ones[..len]);
                assert!(alone.iter().all(|v| v.to_bits() == fast[i].to_bits()), "{act:?}({xi}) alone {alone:?} vs {}", fast[i]);
            }
        }
    }

    #[test]
    fn gelu_tanh_matches_the_reference() {
        check(Activation::GeluTanh, ops::gelu_tanh);
    }

    #[test]
    fn silu_matches_the_reference() {
        check(Activation::Silu, ops::silu);
    }
}
