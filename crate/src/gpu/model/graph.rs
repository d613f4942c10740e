//! The forward graph: small builders (embedding, attention, feed-forward, mixture of experts,
//! logits) that record one step's dispatches as the plan (plan.rs) says. A [`Probe`] copies named
//! intermediates of one layer out, so a test can compare that layer with the CPU engine.

use super::plan::{Ffn, LayerPlan, PreNorm, Residual};
use super::{GateUp, GpuLayer, GpuModel};
use crate::gpu::kernels::attention::{attention_decode, attention_prefill, attention_split, AttnBuffers};
use crate::gpu::kernels::elementwise::softcap;
use crate::gpu::kernels::embed::embed;
use crate::gpu::kernels::glu::glu;
use crate::gpu::kernels::matmul::{matmul, MatMul, MatMulIo};
use crate::gpu::kernels::matvec::{matvec, matvec_experts, matvec_normed, matvec_paired, matvec_tokens, ExpertIo, GluIn, MatVec, XNorm};
use crate::gpu::kernels::moe::{combine, route};
use crate::gpu::kernels::norm::{rms_norm, rms_norm_add_then_norm, NormArgs};
use crate::gpu::kernels::rope::{rope, RopeArgs, RopeParams};
use crate::gpu::pipeline::{Bind, Recorder};
use crate::gpu::shader::ShaderError;
use crate::gpu::weights::GpuMatrix;
use crate::model::MoeConfig;
use std::cell::RefCell;

type R = Result<(), ShaderError>;

/// Copies named intermediates of layer `layer` (rows of the step's tokens) into a read-back
/// buffer as a step is recorded: `attn_norm`, `ffn_norm` (where that norm has its own output),
/// `q` and `k` (after RoPE), `v`, `attn_out` (before the output projection), `attn_res` (the
/// residual after attention) and `layer_out`.
pub struct Probe {
    pub layer: usize,
    pub(super) buffer: wgpu::Buffer,
    /// (name, offset, floats) of each copy in `buffer`.
    pub(super) taps: RefCell<Vec<(&'static str, u64, u64)>>,
}

/// Bindings of one step's scratch, made once per step.
struct Binds {
    x: Bind,
    h: Bind,
    o: Bind,
    q: Bind,
    qkv: Bind,
    attn: Bind,
    g: Bind,
    u: Bind,
    a: Bind,
    vecs: Bind,
    angles: Bind,
    parts: Bind,
}

/// One step: `t` tokens at positions `pos0..`.
struct Step<'a> {
    m: &'a GpuModel,
    t: u32,
    pos0: u32,
    b: Binds,
    probe: Option<&'a Probe>,
}

impl Step<'_> {
    /// Every matvec of the model runs the gated variant (see `MatVec::with_gate`).
    fn mv(&self, w: &GpuMatrix, rows: usize) -> MatVec {
        MatVec::tuned(w.ty, rows, self.m.k.ctx.tuning, self.m.k.ctx.subgroup_size_in_use()).with_gate(self.m.cfg.activation)
    }

    /// y[tokens] = W · x[tokens]: the matvec (a workgroup layer per token), or the tiled matmul.
    fn proj(&self, rec: &mut Recorder, w: &GpuMatrix, io: MatMulIo, acc: bool) -> R {
        if self.t == 1 {
            matvec(rec, self.mv(w, w.rows), w, io.x, io.x_offset, io.y, io.y_offset, acc)
        } else if self.m.prefill_by_matvec {
            matvec_tokens(rec, self.mv(w, w.rows), w, io, None, self.t, acc)
        } else {
            matmul(rec, MatMul::for_type(w.ty), w, io, self.t, acc)
        }
    }

    fn norm(&self, rec: &mut Recorder, src: &Bind, w_offset: u32, dst: &Bind, add: bool) -> R {
        let args = NormArgs { x: src, x_offset: 0, w: &self.b.vecs, w_offset, y: dst, y_offset: 0 };
        rms_norm(rec, args, self.m.cfg.n_embd as u32, self.t, self.m.cfg.rms_eps, add)
    }

    fn x_normed(&self, offset: u32) -> XNorm<'_> {
        XNorm { w: &self.b.vecs, offset, eps: self.m.cfg.rms_eps }
    }

    /// A block's output in `o` onto the residual (see [`Residual::PostNorm`]).
    fn post_norm(&self, rec: &mut Recorder, weight: u32, next: Option<u32>) -> R {
        let (e, eps) = (self.m.cfg.n_embd as u32, self.m.cfg.rms_eps);
        let b = &self.b;
        let args = NormArgs { x: &b.o, x_offset: 0, w: &b.vecs, w_offset: weight, y: &b.x, y_offset: 0 };
        match next {
            Some(w2) => rms_norm_add_then_norm(rec, args, &b.h, 0, w2, e, self.t, eps),
            None => rms_norm(rec, args, e, self.t, eps, true),
        }
    }

    /// Probe: `n` floats per token of `src` from float `offset`, when recording the probed layer.
    fn tap(&self, rec: &mut Recorder, il: usize, name: &'static str, src: &Bind, offset: u32, n: u32) {
        let Some(p) = self.probe.filter(|p| p.layer == il) else { return };
        let mut taps = p.taps.borrow_mut();
        let at = taps.last().map_or(0, |&(_, o, n)| o + n * 4);
        let len = self.t as u64 * n as u64;
        rec.copy(&src.buffer, src.offset + offset as u64 * 4, &p.buffer, at, len * 4);
        taps.push((name, at, len));
    }
}

impl GpuModel {
    /// Records the forward pass of `t` tokens (ids already in the ids buffer) at `self.pos`, and the
    /// logits of the last `logit_rows` of them into the logits buffer.
    pub fn record(&self, rec: &mut Recorder, t: usize, logit_rows: usize) -> R {
        self.record_at(rec, t, logit_rows, self.pos, None)
    }

    /// [`Self::record`] at position `pos`, with an optional probe.
    pub(super) fn record_at(&self, rec: &mut Recorder, t: usize, logit_rows: usize, pos: usize, probe: Option<&Probe>) -> R {
        let s = &self.s;
        let w = |b: &wgpu::Buffer| Bind::whole(b);
        let b = Binds {
            x: w(&s.x),
            h: w(&s.h),
            o: w(&s.o),
            q: w(&s.q),
            qkv: w(&s.qkv),
            attn: w(&s.attn),
            g: w(&s.g),
            u: w(&s.u),
            a: w(&s.a),
            vecs: w(&self.w.vectors),
            angles: w(&self.w.angles),
            parts: w(&s.attn_parts),
        };
        let st = Step { m: self, t: t as u32, pos0: pos as u32, b, probe };
        embed(rec, &self.w.token_embd, &Bind::whole(&s.ids), 0, st.t, &st.b.x, 0, self.cfg.embed_scale.unwrap_or(1.0))?;
        for (il, (l, lp)) in self.w.layers.iter().zip(&self.plan.layers).enumerate() {
            self.attention(rec, &st, il, l, lp)?;
            match lp.ffn {
                Ffn::Experts(m) => self.experts(rec, &st, l, m, lp.ffn_out)?,
                _ => {
                    self.ffn(rec, &st, l, lp)?;
                    self.block_out(rec, &st, &l.down, &st.b.a, self.cfg.n_ff as u32, lp.ffn_out)?;
                }
            }
            st.tap(rec, il, "layer_out", &st.b.x, 0, self.cfg.n_embd as u32);
        }
        if logit_rows > 0 {
            self.logits(rec, &st, logit_rows as u32)?;
        }
        Ok(())
    }

    /// Pre-norm, q|k|v projections, RoPE into the cache, attention, output projection.
    fn attention(&self, rec: &mut Recorder, st: &Step, il: usize, l: &GpuLayer, lp: &LayerPlan) -> R {
        let (cfg, b) = (&self.cfg, &st.b);
        let e = cfg.n_embd as u32;
        let (kc, vc) = (Bind::whole(&self.kv[il].0), Bind::whole(&self.kv[il].1));
        if lp.attn_norm == PreNorm::Own {
            st.norm(rec, &b.x, l.attn_norm, &b.h, false)?;
            st.tap(rec, il, "attn_norm", &b.h, 0, e);
        }
        let (qd, vd, kv_dim) = (cfg.q_dim() as u32, cfg.v_dim() as u32, cfg.kv_dim() as u32);
        let mut rp = RopeParams {
            n_head: cfg.n_head as u32,
            n_kv: cfg.n_head_kv as u32,
            head_dim: cfg.head_dim as u32,
            head_dim_v: cfg.head_dim_v as u32,
            n_rot: cfg.rope_dim as u32,
            q_stride: qd,
            k_offset: st.pos0 * kv_dim,
            k_stride: kv_dim,
            v_offset: st.pos0 * vd,
            v_stride: vd,
            pos0: st.pos0,
            angles_offset: l.angles_offset,
            norm: l.q_norm.is_some() as u32,
            eps: cfg.rms_eps,
            q_norm_offset: l.q_norm.unwrap_or(0),
            k_norm_offset: l.k_norm.unwrap_or(0),
            ..Default::default()
        };
        rp.src_stride = rp.qkv_width();
        if let Some([bq, bk, bv]) = l.bias {
            (rp.bias, rp.q_bias, rp.k_bias, rp.v_bias) = (1, bq, bk, bv);
        }
        // q | k | v side by side per token, before RoPE.
        let mut row = 0;
        for m in &l.qkv {
            if lp.attn_norm == PreNorm::Fused {
                let io = MatMulIo { x: &b.x, x_offset: 0, x_stride: e, y: &b.qkv, y_offset: row, y_stride: rp.src_stride };
                matvec_normed(rec, st.mv(m, m.rows), m, io, st.x_normed(l.attn_norm), None, st.t)?;
            } else {
                let io = MatMulIo { x: &b.h, x_offset: 0, x_stride: e, y: &b.qkv, y_offset: row, y_stride: rp.src_stride };
                st.proj(rec, m, io, false)?;
            }
            row += m.rows as u32;
        }
        let args = RopeArgs { angles: &b.angles, vectors: &b.vecs, src: &b.qkv, q: &b.q, k: &kc, v: &vc };
        rope(rec, cfg.rope_neox, args, &rp, st.t)?;
        st.tap(rec, il, "q", &b.q, 0, qd);
        st.tap(rec, il, "k", &kc, st.pos0 * kv_dim, kv_dim);
        st.tap(rec, il, "v", &vc, st.pos0 * vd, vd);
        let geom = &lp.attn;
        let bufs = || AttnBuffers { q: &b.q, k: &kc, v: &vc, out: &b.attn };
        if st.t == 1 {
            attention_decode(rec, geom, bufs(), 0, st.pos0, 0, &b.parts)?;
        } else if self.attn_batch > 0 {
            let row = geom.n_head * geom.head_dim;
            for c0 in (0..st.t).step_by(self.attn_batch as usize) {
                let n = self.attn_batch.min(st.t - c0);
                attention_split(rec, geom, bufs(), c0 * row, st.pos0 + c0, n, c0 * row, &b.parts)?;
            }
        } else {
            attention_prefill(rec, geom, bufs(), 0, st.pos0, st.t, 0)?;
        }
        let attn_width = (cfg.n_head * cfg.head_dim_v) as u32;
        st.tap(rec, il, "attn_out", &b.attn, 0, attn_width);
        self.block_out(rec, st, &l.wo, &b.attn, qd, lp.attn_out)?;
        st.tap(rec, il, "attn_res", &b.x, 0, e);
        if lp.ffn_norm != PreNorm::Fused {
            if lp.ffn_norm == PreNorm::Own {
                st.norm(rec, &b.x, l.ffn_norm, &b.h, false)?;
            }
            st.tap(rec, il, "ffn_norm", &b.h, 0, e);
        }
        Ok(())
    }

    /// A block's last projection `w` of `src` (`width` floats per token) onto the residual, as
    /// the plan says.
    fn block_out(&self, rec: &mut Recorder, st: &Step, w: &GpuMatrix, src: &Bind, width: u32, out: Residual) -> R {
        let b = &st.b;
        let e = self.cfg.n_embd as u32;
        match out {
            Residual::Add => st.proj(rec, w, MatMulIo { x: src, x_offset: 0, x_stride: width, y: &b.x, y_offset: 0, y_stride: e }, true),
            Residual::PostNorm { weight, next } => {
                st.proj(rec, w, MatMulIo { x: src, x_offset: 0, x_stride: width, y: &b.o, y_offset: 0, y_stride: e }, false)?;
                st.post_norm(rec, weight, next)
            }
        }
    }

    /// A dense feed-forward up to its activations in `a` (the down projection is `block_out`'s).
    fn ffn(&self, rec: &mut Recorder, st: &Step, l: &GpuLayer, lp: &LayerPlan) -> R {
        let (cfg, b) = (&self.cfg, &st.b);
        let (e, ff) = (cfg.n_embd as u32, cfg.n_ff as u32);
        let io = MatMulIo { x: &b.h, x_offset: 0, x_stride: e, y: &b.a, y_offset: 0, y_stride: ff };
        match &l.gate_up {
            GateUp::Paired(m) if lp.ffn_norm == PreNorm::Fused => {
                let io = MatMulIo { x: &b.x, ..io };
                matvec_normed(rec, st.mv(m, m.rows / 2), m, io, st.x_normed(l.ffn_norm), Some(cfg.activation), st.t)
            }
            GateUp::Paired(m) => matvec_paired(rec, st.mv(m, m.rows / 2), m, io, cfg.activation, st.t),
            GateUp::Separate { gate, up } => {
                st.proj(rec, gate, MatMulIo { y: &b.g, ..io }, false)?;
                if st.t == 1 || self.prefill_by_matvec {
                    // The up projection applies the activation of the gate's output as it writes.
                    let gate_in = GluIn { act: cfg.activation, g: &b.g, g_offset: 0 };
                    matvec_tokens(rec, st.mv(up, up.rows), up, io, Some(gate_in), st.t, false)
                } else {
                    st.proj(rec, up, MatMulIo { y: &b.u, ..io }, false)?;
                    glu(rec, cfg.activation, (&b.g, 0), (&b.u, 0), (&b.a, 0), st.t * ff)
                }
            }
        }
    }

    /// A mixture of experts: the router picks k experts per token on the GPU; the expert matvecs
    /// read only those experts' rows; their outputs are summed by weight onto the residual.
    fn experts(&self, rec: &mut Recorder, st: &Step, l: &GpuLayer, m: MoeConfig, out: Residual) -> R {
        let (cfg, b, s) = (&self.cfg, &st.b, &self.s);
        let e = cfg.n_embd as u32;
        let (ne, k, fe) = (m.n_expert as u32, m.n_used as u32, m.n_ff_exp as u32);
        let (rl, rt, d) = (Bind::whole(&s.router_logits), Bind::whole(&s.route), Bind::whole(&s.experts_out));
        let router = l.router.as_ref().expect("the plan has experts only where there is a router");
        st.proj(rec, router, MatMulIo { x: &b.h, x_offset: 0, x_stride: e, y: &rl, y_offset: 0, y_stride: ne }, false)?;
        route(rec, m.norm_weights, &rl, 0, &rt, st.t, ne, k)?;
        // The up projection applies the activation of the gate's output as it writes.
        let gate_in = GluIn { act: cfg.activation, g: &b.g, g_offset: 0 };
        let GateUp::Separate { gate, up } = &l.gate_up else { unreachable!("experts are never paired") };
        for (w, y, glu) in [(gate, &b.g, None), (up, &b.a, Some(gate_in))] {
            let eio = ExpertIo { x: &b.h, x_offset: 0, x_stride_token: e, x_stride_slot: 0, y, y_offset: 0, y_stride: fe, route: &rt, glu };
            matvec_experts(rec, st.mv(w, fe as usize), w, eio, fe, st.t, k)?;
        }
        let eio = ExpertIo {
            x: &b.a,
            x_offset: 0,
            x_stride_token: k * fe,
            x_stride_slot: fe,
            y: &d,
            y_offset: 0,
            y_stride: e,
            route: &rt,
            glu: None,
        };
        matvec_experts(rec, st.mv(&l.down, e as usize), &l.down, eio, e, st.t, k)?;
        match out {
            Residual::PostNorm { weight, next } => {
                combine(rec, &rt, &d, &b.o, 0, st.t, e, k, false)?;
                st.post_norm(rec, weight, next)
            }
            Residual::Add => combine(rec, &rt, &d, &b.x, 0, st.t, e, k, true),
        }
    }

    /// The output norm and projection of the last `rows` tokens, and the final soft-cap.
    fn logits(&self, rec: &mut Recorder, st: &Step, rows: u32) -> R {
        let (cfg, b) = (&self.cfg, &st.b);
        let e = cfg.n_embd as u32;
        let first = st.t - rows;
        let out = self.w.output();
        let logits = Bind::whole(&self.s.logits);
        let nv = cfg.n_vocab as u32;
        let mv = st.mv(out, out.rows);
        if self.plan.logits_norm_fused {
            let io = MatMulIo { x: &b.x, x_offset: first * e, x_stride: e, y: &logits, y_offset: 0, y_stride: nv };
            matvec_normed(rec, mv, out, io, st.x_normed(self.w.output_norm), None, rows)?;
        } else {
            let args = NormArgs { x: &b.x, x_offset: first * e, w: &b.vecs, w_offset: self.w.output_norm, y: &b.h, y_offset: 0 };
            rms_norm(rec, args, e, rows, cfg.rms_eps, false)?;
            let io = MatMulIo { x: &b.h, x_offset: 0, x_stride: e, y: &logits, y_offset: 0, y_stride: nv };
            if rows == 1 {
                matvec(rec, mv, out, &b.h, 0, &logits, 0, false)?;
            } else if self.prefill_by_matvec {
                matvec_tokens(rec, mv, out, io, None, rows, false)?;
            } else {
                matmul(rec, MatMul::for_type(out.ty), out, io, rows, false)?;
            }
        }
        if let Some(cap) = cfg.final_softcap {
            softcap(rec, &logits, rows * nv, cap)?;
        }
        Ok(())
    }
}
