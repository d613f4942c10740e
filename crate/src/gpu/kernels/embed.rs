//! Token embedding lookup with dequantization (and Gemma's embedding scale), reading the token ids
//! from a GPU buffer so that a sampled id never has to visit the CPU.

use super::matvec::quant_file;
use crate::gpu::pipeline::{Access, Bind, Kernel, Recorder};
use crate::gpu::shader::ShaderError;
use crate::gpu::weights::GpuMatrix;
use crate::quant::GgmlType;
use crate::wgsl_params;

wgsl_params! {
    pub struct EmbedParams {
        pub n_embd: u32,
        pub blocks_per_row: u32,
        pub scale_base: u32,
        pub row0: u32,
        pub rows: u32,
        pub n_tokens: u32,
        pub ids_offset: u32,
        pub out_offset: u32,
        pub scale: f32,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Embed {
    pub ty: GgmlType,
}

impl Kernel for Embed {
    type Params = EmbedParams;
    fn shader(&self) -> &'static str {
        "embed.wgsl"
    }
    fn defines(&self) -> Vec<(String, String)> {
        vec![("TYPE_FILE".into(), quant_file(self.ty))]
    }
    fn workgroup(&self) -> [u32; 3] {
        [64, 1, 1]
    }
    fn bindings(&self) -> Vec<Access> {
        vec![Access::Read, Access::Read, Access::ReadWrite]
    }
}

/// out[out_offset + t·n_embd ..] = W[ids[ids_offset + t]] · scale for t < n_tokens.
pub fn embed(
    rec: &mut Recorder,
    w: &GpuMatrix,
    ids: &Bind,
    ids_offset: u32,
    n_tokens: u32,
    out: &Bind,
    out_offset: u32,
    scale: f32,
) -> Result<(), ShaderError> {
    let key = Embed { ty: w.ty };
    for p in &w.parts {
        let params = EmbedParams {
            n_embd: w.cols as u32,
            blocks_per_row: w.blocks_per_row() as u32,
            scale_base: p.scale_base,
            row0: p.row0 as u32,
            rows: p.rows as u32,
            n_tokens,
            ids_offset,
            out_offset,
            scale,
        };
        let groups = [(w.cols as u32 / 4).div_ceil(64), n_tokens, 1];
        rec.dispatch(&key, &params, &[Bind::whole(&p.buffer), ids.clone(), out.clone()], groups)?;
    }
    Ok(())
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::gpu::buffers::{read_f32, storage_f32, storage_u32};
    use crate::gpu::context::block_on;
    use crate::gpu::testing::{assert_nmse, kernels};
    use crate::quant::dequantize;
    use crate::quant::testdata::{random_tensor, TestRng};

    #[test]
    fn embedding_rows_match_dequantization() {
        let k = kernels();
        let ctx = &k.ctx;
        for ty in GgmlType::all().filter(|t| t.is_supported()) {
            let cols = crate::gpu::weights::gpu_block_elems(ty).max(32) * 3;
            let rows = 37;
            let mut rng = TestRng::new(7);
            let raw = random_tensor(ty, rows * cols, 1.0, &mut rng);
            let mut wf = vec![0f32; rows * cols];
            dequantize(ty, &raw, &mut wf).unwrap();
            // A binding of ~8 rows so that the lookup spans several parts.
            let max_binding = ty.row_bytes(cols as u64).unwrap() * 8 + 8;
            let w = GpuMatrix::new(&ctx.device, "emb", ty, cols, rows, max_binding).unwrap();
            w.upload_rows(&ctx.queue, 0, &raw).unwrap();
            let ids = [0u32, 36, 5, 17, 17, 9];
            let bids = storage_u32(ctx, "ids", &ids);
            let out = storage_f32(ctx, "out", &vec![0.0; ids.len() * cols + 4]);
            let mut rec = k.recorder();
            embed(&mut rec, &w, &Bind::whole(&bids), 1, 5, &Bind::whole(&out), 4, 2.5).unwrap();
            rec.submit();
            let got = block_on(read_f32(ctx, &out, 4, 5 * cols)).unwrap();
            let want: Vec<f32> =
                ids[1..].iter().flat_map(|&i| wf[i as usize * cols..(i as usize + 1) * cols].iter().map(|v| v * 2.5)).collect();
            assert_nmse(&format!("embed {ty}"), &got, &want, 1e-12);
        }
    }
}
