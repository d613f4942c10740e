//! Hyper-parameters of the supported architectures, read from GGUF metadata with llama.cpp's key
//! names and defaults (`src/llama-model.cpp`, `load_hparams`).

use super::error::ModelError;
use crate::gguf::Gguf;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Arch {
    Llama,
    Qwen2,
    Qwen3,
    Gemma2,
    Gemma3,
    Phi3,
    Qwen3Moe,
}

impl Arch {
    pub const ALL: &'static [Arch] = &[Arch::Llama, Arch::Qwen2, Arch::Qwen3, Arch::Gemma2, Arch::Gemma3, Arch::Phi3, Arch::Qwen3Moe];
    pub fn name(self) -> &'static str {
        match self {
            Arch::Llama => "llama",
            Arch::Qwen2 => "qwen2",
            Arch::Qwen3 => "qwen3",
            Arch::Gemma2 => "gemma2",
            Arch::Gemma3 => "gemma3",
            Arch::Phi3 => "phi3",
            Arch::Qwen3Moe => "qwen3moe",
        }
    }
    pub fn from_name(name: &str) -> Option<Arch> {
        Arch::ALL.iter().copied().find(|a| a.name() == name)
    }
    pub fn supported_list() -> String {
        Arch::ALL.iter().map(|a| a.name()).collect::<Vec<_>>().join(", ")
    }
}

/// The gated feed-forward's activation: `act(gate) * up`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Activation {
    /// SwiGLU (llama): silu(x) = x * sigmoid(x).
    Silu,
    /// GeGLU (gemma): gelu with the tanh approximation.
    GeluTanh,
}

/// A mixture-of-experts feed-forward: a router picks `n_used` of `n_expert` gated FFNs per token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MoeConfig {
    pub n_expert: usize,
    pub n_used: usize,
    /// Hidden size of one expert.
    pub n_ff_exp: usize,
    /// Renormalize the chosen experts' softmax weights to sum to 1.
    pub norm_weights: bool,
}

/// What differs from layer to layer (Gemma alternates sliding-window and global attention).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LayerConfig {
    /// Keys at positions `q - window < k <= q` are visible; `None` is plain causal attention.
    pub sliding_window: Option<usize>,
    pub rope_base: f32,
    /// Positions are multiplied by this before computing angles (1 / linear scaling factor).
    pub rope_scale: f32,
    /// cos and sin are multiplied by this (`rope.scaling.attn_factor`, LongRoPE's magnitude fix).
    pub rope_mscale: f32,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ModelConfig {
    pub arch: Arch,
    pub n_layer: usize,
    pub n_embd: usize,
    pub n_head: usize,
    pub n_head_kv: usize,
    pub head_dim: usize,
    pub head_dim_v: usize,
    pub n_ff: usize,
    pub n_vocab: usize,
    pub n_ctx_train: usize,
    pub rms_eps: f32,
    /// Rotary dimensions per head (the rest pass through unchanged).
    pub rope_dim: usize,
    /// NeoX rotates (x[i], x[i + rope_dim/2]); the original rotates adjacent pairs (x[2i], x[2i+1]).
    pub rope_neox: bool,
    pub layers: Vec<LayerConfig>,
    /// Token embeddings are multiplied by this (Gemma: sqrt(n_embd)).
    pub embed_scale: Option<f32>,
    /// Scale applied to q·k (1/sqrt(head_dim) unless the architecture says otherwise).
    pub attn_scale: f32,
    pub activation: Activation,
    /// Per-head RMSNorm of q and k before RoPE (Gemma 3, Qwen 3).
    pub qk_norm: bool,
    /// Biases added to the q, k and v projections (Qwen 2).
    pub qkv_bias: bool,
    /// RMSNorm of the attention and FFN outputs before the residual add (Gemma 2/3).
    pub post_norms: bool,
    /// logits = cap * tanh(logits / cap).
    pub final_softcap: Option<f32>,
    pub attn_softcap: Option<f32>,
    /// `Some`: every layer's feed-forward is a mixture of experts.
    pub moe: Option<MoeConfig>,
}

impl ModelConfig {
    pub fn from_gguf(g: &Gguf) -> Result<ModelConfig, ModelError> {
        let arch_name = g.require("general.architecture", g.get_str("general.architecture"))?;
        let arch = Arch::from_name(arch_name)
            .ok_or_else(|| ModelError::UnsupportedArchitecture { name: arch_name.to_string(), supported: Arch::supported_list() })?;
        let keys = Keys { g, arch: arch.name() };

        let n_layer = keys.req_usize("block_count")?;
        let n_embd = keys.req_usize("embedding_length")?;
        let n_head = keys.req_usize("attention.head_count")?;
        let n_head_kv = keys.opt_usize("attention.head_count_kv")?.unwrap_or(n_head);
        if n_head % n_head_kv != 0 {
            return Err(bad(&keys.key("attention.head_count_kv"), n_head_kv, "must divide attention.head_count"));
        }
        let head_dim = keys.opt_usize("attention.key_length")?.unwrap_or(n_embd / n_head);
        let head_dim_v = keys.opt_usize("attention.value_length")?.unwrap_or(n_embd / n_head);
        if head_dim % 2 != 0 {
            return Err(bad(&keys.key("attention.key_length"), head_dim, "must be even for RoPE"));
        }
        let n_ff = if arch == Arch::Qwen3Moe {
            keys.opt_usize("feed_forward_length")?.unwrap_or(0)
        } else {
            keys.req_usize("feed_forward_length")?
        };
        let n_ctx_train = keys.opt_usize("context_length")?.unwrap_or(2048);
        let rms_eps = keys.opt_f32("attention.layer_norm_rms_epsilon")?.unwrap_or(1e-5);
        let rope_dim = keys.opt_usize("rope.dimension_count")?.unwrap_or(head_dim);
        if rope_dim > head_dim || rope_dim % 2 != 0 {
            return Err(bad(&keys.key("rope.dimension_count"), rope_dim, "must be even and at most the head size"));
        }
        let rope_base = keys.opt_f32("rope.freq_base")?.unwrap_or(10000.0);
        let rope_scale = match keys.opt_f32("rope.scaling.factor")?.or(keys.opt_f32("rope.scale_linear")?) {
            Some(f) if f > 0.0 => 1.0 / f,
            _ => 1.0,
        };
        // LongRoPE needs no type-specific arithmetic here: its frequency factors are tensors.
        if let Some(kind) = g.get_str(&keys.key("rope.scaling.type"))? {
            if !["linear", "none", "longrope"].contains(&kind) {
                return Err(bad(&keys.key("rope.scaling.type"), kind, "only linear RoPE scaling and LongRoPE are supported"));
            }
        }
        let rope_mscale = keys.opt_f32("rope.scaling.attn_factor")?.filter(|&f| f > 0.0).unwrap_or(1.0);
        // The vocabulary size is the token list's length; `{arch}.vocab_size` is optional.
        let n_vocab = match g.get_array("tokenizer.ggml.tokens")? {
            Some(t) => t.len(),
            None => keys.req_usize("vocab_size")?,
        };
        let global = LayerConfig { sliding_window: None, rope_base, rope_scale, rope_mscale };

        let mut cfg = ModelConfig {
            arch,
            n_layer,
            n_embd,
            n_head,
            n_head_kv,
            head_dim,
            head_dim_v,
            n_ff,
            n_vocab,
            n_ctx_train,
            rms_eps,
            rope_dim,
            rope_neox: false,
            layers: vec![global; n_layer],
            embed_scale: None,
            attn_scale: 1.0 / (head_dim as f32).sqrt(),
            activation: Activation::Silu,
            qk_norm: false,
            qkv_bias: false,
            post_norms: false,
            final_softcap: None,
            attn_softcap: None,
            moe: None,
        };
        cfg.arch_specifics(&keys)?;
        Ok(cfg)
    }

    /// Per architecture, what llama.cpp's graph builder for it does differently.
    fn arch_specifics(&mut self, k: &Keys) -> Result<(), ModelError> {
        match self.arch {
            Arch::Llama => {}
            Arch::Qwen2 => {
                self.rope_neox = true;
                self.qkv_bias = true;
            }
            Arch::Qwen3 => {
                self.rope_neox = true;
                self.qk_norm = true;
            }
            Arch::Qwen3Moe => {
                self.rope_neox = true;
                self.qk_norm = true;
                let n_expert = k.req_usize("expert_count")?;
                let n_used = k.req_usize("expert_used_count")?;
                if n_used > n_expert || n_used > 64 {
                    return Err(bad(&k.key("expert_used_count"), n_used, "must be at most expert_count and 64"));
                }
                self.moe = Some(MoeConfig { n_expert, n_used, n_ff_exp: k.req_usize("expert_feed_forward_length")?, norm_weights: true });
            }
            Arch::Gemma2 => {
                self.rope_neox = true;
                self.embed_scale = Some((self.n_embd as f32).sqrt());
                self.activation = Activation::GeluTanh;
                self.post_norms = true;
                // llama.cpp: 27B (46 layers) scales by n_embd/n_head, the rest by head_dim.
                if self.n_layer == 46 {
                    self.attn_scale = 1.0 / ((self.n_embd / self.n_head) as f32).sqrt();
                }
                self.attn_softcap = Some(k.opt_f32("attn_logit_softcapping")?.unwrap_or(50.0)).filter(|&c| c > 0.0);
                self.final_softcap = Some(k.opt_f32("final_logit_softcapping")?.unwrap_or(30.0)).filter(|&c| c > 0.0);
                // Even layers slide (llama.cpp's swa pattern 2), with the one RoPE base of the model.
                let window = k.opt_usize("attention.sliding_window")?.unwrap_or(4096);
                for (il, l) in self.layers.iter_mut().enumerate() {
                    if il % 2 == 0 {
                        l.sliding_window = Some(window);
                    }
                }
            }
            Arch::Phi3 => {
                // llama.cpp ignores Phi-3's `attention.sliding_window` (its SWA is disabled).
                self.rope_neox = true;
                // LongRoPE's short factors hold up to the original context; the long ones (and
                // contexts beyond it) are not supported, so the usable context stops there.
                if k.g.tensor("rope_factors_short.weight").is_some() {
                    if let Some(orig) = k.opt_usize("rope.scaling.original_context_length")? {
                        self.n_ctx_train = self.n_ctx_train.min(orig);
                    }
                }
            }
            Arch::Gemma3 => {
                self.rope_neox = true;
                self.embed_scale = Some((self.n_embd as f32).sqrt());
                self.activation = Activation::GeluTanh;
                self.qk_norm = true;
                self.post_norms = true;
                // llama.cpp: 27B (62 layers) scales by n_embd/n_head, the rest by head_dim.
                if self.n_layer == 62 {
                    self.attn_scale = 1.0 / ((self.n_embd / self.n_head) as f32).sqrt();
                }
                self.final_softcap = k.opt_f32("final_logit_softcapping")?.filter(|&c| c > 0.0);
                if let Some(window) = k.opt_usize("attention.sliding_window")? {
                    self.final_softcap = None;
                    // Every sixth layer is global; the others slide with their own fixed RoPE base.
                    for (il, l) in self.layers.iter_mut().enumerate() {
                        if il % 6 < 5 {
                            *l = LayerConfig { sliding_window: Some(window), rope_base: 10000.0, rope_scale: 1.0, rope_mscale: 1.0 };
                        }
                    }
                }
            }
        }
        Ok(())
    }

    pub fn kv_dim(&self) -> usize {
        self.n_head_kv * self.head_dim
    }
    pub fn q_dim(&self) -> usize {
        self.n_head * self.head_dim
    }
    pub fn v_dim(&self) -> usize {
        self.n_head_kv * self.head_dim_v
    }
}

fn positive(key: &str, v: u64) -> Result<usize, ModelError> {
    if v == 0 || v > (1 << 24) {
        return Err(bad(key, v, "must be between 1 and 16777216"));
    }
    Ok(v as usize)
}

fn bad(key: &str, value: impl ToString, reason: &str) -> ModelError {
    ModelError::BadHyperParameter { key: key.into(), value: value.to_string(), reason: reason.into() }
}

/// The metadata keys of one architecture (`{arch}.{key}`), read with the checks every
/// hyper-parameter gets.
struct Keys<'a> {
    g: &'a Gguf,
    arch: &'static str,
}

impl Keys<'_> {
    fn key(&self, k: &str) -> String {
        format!("{}.{k}", self.arch)
    }
    fn req_usize(&self, k: &str) -> Result<usize, ModelError> {
        let name = self.key(k);
        let v = self.g.require(&name, self.g.get_u64(&name))?;
        positive(&name, v)
    }
    fn opt_usize(&self, k: &str) -> Result<Option<usize>, ModelError> {
        let name = self.key(k);
        self.g.get_u64(&name)?.map(|v| positive(&name, v)).transpose()
    }
    fn opt_f32(&self, k: &str) -> Result<Option<f32>, ModelError> {
        Ok(self.g.get_f32(&self.key(k))?)
    }
}
