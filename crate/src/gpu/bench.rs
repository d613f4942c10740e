//! Kernel timing for the benchmarks and for picking kernel variants per adapter: wall time of
//! many dispatches in one submission, after a warm-up, divided by the count.

use super::buffers::storage;
use super::error::GpuError;
use super::kernels::elementwise::copy;
use super::kernels::matvec::{matvec, MatVec};
use super::pipeline::{Bind, Kernels, Recorder};
use super::shader::ShaderError;
use super::weights::GpuMatrix;
use crate::engine::clock::now_ms;
use crate::quant::testdata::{random_tensor, TestRng};
use crate::quant::GgmlType;

/// Seconds per call of `record`, which must record one call; repeated `reps` times per submission.
pub async fn time_calls(
    k: &Kernels,
    reps: usize,
    record: &mut dyn FnMut(&mut Recorder) -> Result<(), ShaderError>,
) -> Result<f64, GpuError> {
    let run = |reps: usize, record: &mut dyn FnMut(&mut Recorder) -> Result<(), ShaderError>| -> Result<(), GpuError> {
        let mut rec = k.recorder();
        for _ in 0..reps {
            record(&mut rec)?;
        }
        rec.submit();
        Ok(())
    };
    run(1, record)?; // compile and warm up
    sync(k).await?;
    // Best of several rounds: the CPU adapters share the machine with everything else.
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let t0 = now_ms();
        run(reps, record)?;
        sync(k).await?;
        best = best.min((now_ms() - t0) / 1000.0 / reps as f64);
    }
    Ok(best)
}

/// Waits for all submitted work (a 4-byte read-back).
pub async fn sync(k: &Kernels) -> Result<(), GpuError> {
    let b = storage(&k.ctx, "sync", 16);
    k.ctx.read_back(&b, 0, 4).await.map(|_| ())
}

/// Copy bandwidth in GB/s: bytes copied per second (each byte is read once and written once). It is
/// the rate at which the adapter can stream a weights-sized buffer through a kernel, so a matvec
/// that reads W bytes cannot beat W ÷ this by much.
pub async fn copy_gbps(k: &Kernels, bytes: u64) -> Result<f64, GpuError> {
    let a = storage(&k.ctx, "copy a", bytes);
    let b = storage(&k.ctx, "copy b", bytes);
    let (ba, bb) = (Bind::whole(&a), Bind::whole(&b));
    let reps = ((1u64 << 28) / bytes).clamp(2, 64) as usize;
    let t = time_calls(k, reps, &mut |rec| copy(rec, ba.clone(), bb.clone(), bytes)).await?;
    Ok(bytes as f64 / t / 1e9)
}

/// Seconds per dispatch of a kernel that does next to nothing (a 256-byte copy), dispatched as
/// the timed kernels are (many in one submission, each after a barrier): the adapter's fixed cost
/// per dispatch, which no kernel can go under. On the CPU adapters it is tens of microseconds,
/// the time of a small matrix's whole matvec.
pub async fn dispatch_seconds(k: &Kernels) -> Result<f64, GpuError> {
    let a = storage(&k.ctx, "tiny a", 256);
    let b = storage(&k.ctx, "tiny b", 256);
    let (ba, bb) = (Bind::whole(&a), Bind::whole(&b));
    time_calls(k, 200, &mut |rec| copy(rec, ba.clone(), bb.clone(), 256)).await
}

/// A random `rows` × `cols` matrix of one type on the GPU, with x and y, to time matvec variants on.
pub struct MatVecBench {
    pub w: GpuMatrix,
    x: wgpu::Buffer,
    y: wgpu::Buffer,
}

impl MatVecBench {
    pub fn new(k: &Kernels, ty: GgmlType, rows: usize, cols: usize) -> Result<MatVecBench, GpuError> {
        let ctx = &k.ctx;
        let mut rng = TestRng::new(rows as u64 * 31 + cols as u64);
        let w = GpuMatrix::new(&ctx.device, "bench", ty, cols, rows, ctx.limits.max_storage_buffer_binding_size)?;
        let row_bytes = ty.row_bytes(cols as u64).unwrap() as usize;
        // Upload in slices so the host never holds more than ~64 MiB of random weights.
        let chunk_rows = ((64usize << 20) / row_bytes).max(2) & !1;
        let mut r = 0;
        while r < rows {
            let n = chunk_rows.min(rows - r);
            w.upload_rows(&ctx.queue, r, &random_tensor(ty, n * cols, 0.05, &mut rng)).map_err(|e| GpuError::Validation(e.to_string()))?;
            r += n;
        }
        let x = super::buffers::storage_f32(ctx, "x", &rng.normals(cols, 1.0));
        let y = storage(ctx, "y", rows as u64 * 4);
        Ok(MatVecBench { w, x, y })
    }

    /// Seconds per matvec with variant `key` (of the matrix's type).
    pub async fn seconds(&self, k: &Kernels, key: MatVec) -> Result<f64, GpuError> {
        let (bx, by) = (Bind::whole(&self.x), Bind::whole(&self.y));
        let reps = ((1u64 << 29) / self.w.gpu_bytes()).clamp(3, 200) as usize;
        time_calls(k, reps, &mut |rec| matvec(rec, key, &self.w, &bx, 0, &by, 0, false)).await
    }
}
