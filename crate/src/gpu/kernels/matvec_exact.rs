//! Every weight the matvec decodes, bit for bit: the matrix times one-hot x vectors, one column at a
//! time, against the CPU's dequantization, over blocks at the edges of each format (`edge_tensor`:
//! subnormal, zero, negative and largest scales, extreme quant bytes). The NMSE tests of matvec.rs
//! cannot see a wrong value in a block whose scale is a thousandth of its neighbours'; this can.
//! With one nonzero x every sum has a single term, so any difference is a decoding error.

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use crate::gpu::buffers::{read_f32, storage_f32};
    use crate::gpu::context::block_on;
    use crate::gpu::kernels::matmul::MatMulIo;
    use crate::gpu::kernels::matvec::{matvec, matvec_tokens, MatVec};
    use crate::gpu::pipeline::Bind;
    use crate::gpu::testing::kernels;
    use crate::gpu::weights::GpuMatrix;
    use crate::quant::testdata::{edge_tensor, TestRng};
    use crate::quant::{dequantize, GgmlType};

    #[test]
    fn matvec_decodes_every_weight_exactly_at_the_edges_of_each_format() {
        let k = kernels();
        let ctx = &k.ctx;
        let mut rng = TestRng::new(77);
        let (rows, cols) = (48usize, 512usize);
        let mut failures = Vec::new();
        for ty in GgmlType::all().filter(|t| t.is_supported()) {
            let raw = edge_tensor(ty, rows * cols, &mut rng);
            let mut want = vec![0f32; rows * cols];
            dequantize(ty, &raw, &mut want).unwrap();
            let w = GpuMatrix::new(&ctx.device, "w", ty, cols, rows, 1 << 30).unwrap();
            w.upload_rows(&ctx.queue, 0, &raw).unwrap();
            // x = 1 at column c: x vector p (c % 4) has its 1 at index cols + p, read from offset
            // cols - (c - p) (offsets are in whole vectors).
            let xs: Vec<wgpu::Buffer> = (0..4)
                .map(|p| {
                    let mut x = vec![0f32; 2 * cols + 8];
                    x[cols + p] = 1.0;
                    storage_f32(ctx, "x", &x)
                })
                .collect();
            let fast =
                MatVec { threads_per_row: 1, groups_of_rows: 8, rows_per_thread: 2, vec4: true, share_x: false, ..MatVec::for_type(ty) };
            let variants = [
                ("generic", MatVec { vec4: false, share_x: false, ..MatVec::for_type(ty) }),
                ("fast", fast),
                ("fast, x shared", MatVec { rows_per_thread: 3, share_x: true, ..fast }),
                ("default", MatVec::for_type(ty)),
                ("4 tokens", MatVec { tokens4: true, ..MatVec::for_type(ty) }),
            ];
            for (name, key) in variants {
                let by = storage_f32(ctx, "y", &vec![0.0; rows * cols]);
                let yb = Bind::whole(&by);
                let mut rec = k.recorder();
                for c in 0..cols {
                    let p = c % 4;
                    let (x, x_offset, y_offset) = (Bind::whole(&xs[p]), (cols - (c - p)) as u32, (c * rows) as u32);
                    if key.tokens4 {
                        let io = MatMulIo { x: &x, x_offset, x_stride: 0, y: &yb, y_offset, y_stride: 0 };
                        matvec_tokens(&mut rec, key, &w, io, None, 1, false).unwrap();
                    } else {
                        matvec(&mut rec, key, &w, &x, x_offset, &yb, y_offset, false).unwrap();
                    }
                }
                rec.submit();
                let got = block_on(read_f32(ctx, &by, 0, rows * cols)).unwrap();
                let wrong: Vec<String> = (0..rows * cols)
                    .filter_map(|i| {
                        let (c, r) = (i / rows, i % rows);
                        let (g, e) = (got[i], want[r * cols + c]);
                        (g.to_bits() != e.to_bits() && !(g == 0.0 && e == 0.0)).then(|| format!("row {r} col {c}: {g:e} for {e:e}"))
                    })
                    .collect();
                if !wrong.is_empty() {
                    failures.push(format!(
                        "{} {name}: {} of {} wrong, e.g. {}",
                        ty.name(),
                        wrong.len(),
                        rows * cols,
                        wrong[..wrong.len().min(3)].join("; ")
                    ));
                }
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
}
