//! Every kernel against the reference: for each supported weight type, matrix-vector and
//! matrix-matrix products (1 to 9 activation rows: whole tiles and remainders) on random and
//! edge-case blocks, by the dispatched vector backend and by the portable one, against the f32
//! dot product of the reference dequantization (`quant::dequantize`) computed in f64.
//!
//! The tolerance is the bound of the activation rounding, not a guess: q8 replaces each x_i of a
//! 32-block by d·q_i with |x_i − d·q_i| ≤ d/2 (d = max|x| / 127 of the block), so the exact
//! quantized product differs from the f32 one by at most Σ_blocks d/2 · Σ_i |w_i|. The integer
//! sums are exact; the float work on top (per-block scales, four-lane sums) adds rounding of a
//! few ulps of Σ|w_i·x_i|, for which 1e-5 relative is ample. Float weight types take f32
//! activations: only that rounding term.
//!
//! That bound is loose (a fifth of a typical output), so quantized types are also checked against
//! the tight oracle: the f64 product with the activations as q8 represents them (d·q), which the
//! kernels must reproduce up to the float rounding term alone.

use super::matmul::{matmul1, matmul1_portable, QMatrix};
use super::q8::Q8Acts;
use crate::quant::testdata::{edge_tensor, random_tensor, TestRng};
use crate::quant::{dequantize, GgmlType};

fn bound(w: &[f32], x: &[f32], quantized: bool) -> f64 {
    let mut b = 0f64;
    let mut mag = 0f64;
    for (wb, xb) in w.chunks(32).zip(x.chunks(32)) {
        let amax = xb.iter().fold(0f32, |m, v| m.max(v.abs())) as f64;
        let sw: f64 = wb.iter().map(|v| v.abs() as f64).sum();
        if quantized {
            b += amax / 127.0 / 2.0 * sw;
        }
        mag += wb.iter().zip(xb).map(|(&a, &c)| (a as f64 * c as f64).abs()).sum::<f64>();
    }
    b + 1e-5 * mag + 1e-6
}

fn check(ty: GgmlType, rows: usize, cols: usize, n: usize, edge: bool, seed: u64) {
    let mut rng = TestRng::new(seed);
    let bytes = if edge { edge_tensor(ty, rows * cols, &mut rng) } else { random_tensor(ty, rows * cols, 0.5, &mut rng) };
    let mut wf = vec![0f32; rows * cols];
    dequantize(ty, &bytes, &mut wf).unwrap();
    let m = QMatrix { ty, rows, cols, data: bytes };
    let x = rng.normals(n * cols, 1.0);
    let quantized = !matches!(ty, GgmlType::F32 | GgmlType::F16 | GgmlType::BF16);
    let xq: Vec<f32> = if quantized {
        let a = Q8Acts::quantize(&x, cols);
        a.qs.iter().enumerate().map(|(i, &q)| a.d[i / 32] * q as f32).collect()
    } else {
        x.clone()
    };
    #[allow(unused_mut)]
    let mut runs = vec![("dispatched", matmul1(&x, &m)), ("portable", matmul1_portable(&x, &m))];
    #[cfg(target_arch = "x86_64")]
    for (level, name) in ["x86 AVX-VNNI", "x86 AVX2", "x86 SSE4.1"].into_iter().enumerate() {
        if let Some(y) = super::matmul::matmul1_at(&x, &m, level) {
            runs.push((name, y));
        }
    }
    for (name, y) in runs {
        assert_eq!(y.len(), n * rows);
        for t in 0..n {
            let xt = &x[t * cols..(t + 1) * cols];
            for r in 0..rows {
                let wr = &wf[r * cols..(r + 1) * cols];
                let want: f64 = wr.iter().zip(xt).map(|(&a, &b)| a as f64 * b as f64).sum();
                let got = y[t * rows + r] as f64;
                let tol = bound(wr, xt, quantized);
                assert!(
                    (got - want).abs() <= tol,
                    "{ty} {name} {rows}x{cols}, {n} rows in, edge {edge}: y[{t}][{r}] = {got}, reference {want} (bound {tol})"
                );
                let xqt = &xq[t * cols..(t + 1) * cols];
                let want_q: f64 = wr.iter().zip(xqt).map(|(&a, &b)| a as f64 * b as f64).sum();
                let tol_q = bound(wr, xqt, false);
                assert!(
                    (got - want_q).abs() <= tol_q,
                    "{ty} {name} {rows}x{cols}, {n} rows in, edge {edge}: y[{t}][{r}] = {got}, with q8 activations {want_q} (bound {tol_q})"
                );
            }
        }
    }
}

#[test]
fn every_type_matches_the_reference() {
    let mut checked = 0;
    for ty in GgmlType::all().filter(|t| t.is_supported()) {
        let be = ty.block_elems().max(32);
        for (i, &(rows, blocks, n)) in [(7, 1, 1), (33, 3, 1), (5, 2, 4), (9, 1, 5), (17, 2, 9)].iter().enumerate() {
            // Float edge cases (huge values) overflow f32 sums in any engine: quant types only.
            for edge in [false, ty.block_elems() > 1] {
                check(ty, rows, blocks * be.max(256), n, edge, 1000 + i as u64);
                checked += 1;
            }
        }
        let _ = be;
    }
    assert!(checked >= 15 * 5 + 12 * 5);
}

/// A backend's matrix product, `None` where this CPU lacks it.
type Backend<'a> = Box<dyn Fn(&[f32]) -> Option<Vec<f32>> + 'a>;

/// A row's products do not depend on how its input rows are tiled (a group of four, a tail, one
/// row alone as in decode): bit for bit, so that a prompt run in one batch, split or partly reused
/// from the cache gives the same logits, and a seeded draw the same token.
#[test]
fn tiling_does_not_change_a_bit() {
    for ty in GgmlType::all().filter(|t| t.is_supported() && !matches!(t, GgmlType::F32 | GgmlType::F16 | GgmlType::BF16)) {
        let mut rng = TestRng::new(77);
        let (rows, cols, n) = (5, 2 * ty.block_elems().max(256), 9);
        let m = QMatrix { ty, rows, cols, data: random_tensor(ty, rows * cols, 0.5, &mut rng) };
        let x = rng.normals(n * cols, 1.0);
        // Every backend this CPU runs: each has its own grouped and row-by-row code.
        let m = &m;
        #[allow(unused_mut)]
        let mut backends: Vec<(&str, Backend)> =
            vec![("dispatched", Box::new(|x| Some(matmul1(x, m)))), ("portable", Box::new(|x| Some(matmul1_portable(x, m))))];
        #[cfg(target_arch = "x86_64")]
        for level in 0..3 {
            backends.push((["x86 AVX-VNNI", "x86 AVX2", "x86 SSE4.1"][level], Box::new(move |x| super::matmul::matmul1_at(x, m, level))));
        }
        for (name, run) in &backends {
            let Some(all) = run(&x) else { continue };
            for t in 0..n {
                let one = run(&x[t * cols..(t + 1) * cols]).expect("the same backend");
                let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&one), bits(&all[t * rows..(t + 1) * rows]), "{ty} {name}: input row {t} alone against in a batch of {n}");
            }
        }
    }
}

#[test]
fn float_rows_of_any_length() {
    for ty in [GgmlType::F32, GgmlType::F16, GgmlType::BF16] {
        for cols in [1, 31, 40, 97] {
            check(ty, 5, cols, 3, false, cols as u64);
        }
    }
}

#[test]
fn q8_rounds_within_half_a_step() {
    let mut rng = TestRng::new(7);
    let x = rng.normals(4 * 64, 3.0);
    let a = Q8Acts::quantize(&x, 64);
    for (b, xb) in x.chunks(32).enumerate() {
        let d = a.d[b];
        for (i, &v) in xb.iter().enumerate() {
            let q = a.qs[32 * b + i];
            assert!(q != -128, "q8 stays within -127..=127");
            assert!((v - d * q as f32).abs() <= d / 2.0 * 1.0001, "block {b} value {i}");
        }
        for h in 0..2 {
            let s: i32 = a.qs[32 * b + 16 * h..32 * b + 16 * h + 16].iter().map(|&q| q as i32).sum();
            assert!((a.s16[2 * b + h] - d * s as f32).abs() <= 1e-4 * (d * s as f32).abs().max(1.0));
        }
    }
}

#[test]
fn f16_conversion_is_exact() {
    for h in 0..=u16::MAX {
        let (got, want) = (super::blocks::f16_bits_to_f32(h), half::f16::from_bits(h).to_f32());
        assert!(got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()), "{h:#06x}: {got} vs {want}");
    }
}

/// Not a check: the matrix-vector product's bandwidth per type (`cargo test --release -- --ignored
/// matvec_speed --nocapture`; `GGUF_WEB_THREADS` threads).
#[test]
#[ignore]
fn matvec_speed() {
    let (rows, cols) = (std::env::var("GGUF_WEB_ROWS").ok().and_then(|v| v.parse().ok()).unwrap_or(4096), 4096);
    let only = std::env::var("GGUF_WEB_TYPES").ok();
    for ty in GgmlType::all().filter(|t| t.is_supported() && only.as_deref().is_none_or(|o| o.split(',').any(|n| n == t.name()))) {
        let mut rng = TestRng::new(1);
        let m = QMatrix { ty, rows, cols, data: random_tensor(ty, rows * cols, 0.5, &mut rng) };
        let x = rng.normals(cols, 1.0);
        let mut best = f64::MAX;
        for _ in 0..std::env::var("GGUF_WEB_REPS").ok().and_then(|v| v.parse().ok()).unwrap_or(10) {
            let t = std::time::Instant::now();
            std::hint::black_box(matmul1(&x, &m));
            best = best.min(t.elapsed().as_secs_f64());
        }
        println!("{ty:7} {:6.2} ms  {:6.2} GB/s", best * 1e3, m.data.len() as f64 / best / 1e9);
    }
}
