//! Tiny random-weight models written with our GGUF writer: fast end-to-end inputs for the CLI and
//! engine tests (a real model takes seconds to load; these take milliseconds).
#![allow(dead_code)]

use gguf_web::gguf::{Array, GgufWriter, Value};
use gguf_web::quant::GgmlType;

pub use gguf_web::quant::testdata::{random_tensor, TestRng as Rng};

/// A byte-level BPE vocabulary: the 256 byte symbols plus a few merges.
pub fn add_tiny_bpe_vocab(w: &mut GgufWriter) -> usize {
    let mut tokens: Vec<String> = Vec::new();
    for c in (0u32..0x200).filter_map(char::from_u32) {
        if gguf_web::tokenizer::detok::byte_level_byte(c).is_some() {
            tokens.push(c.to_string());
        }
    }
    assert_eq!(tokens.len(), 256);
    let merges = ["Ġ t", "h e", "Ġt he", "i n", "a n"];
    for m in merges {
        tokens.push(m.replace(' ', ""));
    }
    tokens.push("<|endoftext|>".into());
    let n = tokens.len();
    let mut types = vec![1i32; n];
    types[n - 1] = 3;
    w.add("tokenizer.ggml.model", Value::String("gpt2".into()))
        .add("tokenizer.ggml.pre", Value::String("gpt-2".into()))
        .add("tokenizer.ggml.tokens", Value::Array(Array::String(tokens)))
        .add("tokenizer.ggml.token_type", Value::Array(Array::I32(types)))
        .add("tokenizer.ggml.merges", Value::Array(Array::String(merges.iter().map(|s| s.to_string()).collect())))
        .add("tokenizer.ggml.eos_token_id", Value::U32((n - 1) as u32))
        .add("tokenizer.ggml.bos_token_id", Value::U32((n - 1) as u32));
    n
}

pub struct TinySpec {
    pub arch: &'static str,
    pub n_layer: usize,
    pub n_embd: usize,
    pub n_head: usize,
    pub n_head_kv: usize,
    pub n_ff: usize,
    /// Type of the projection matrices (rows must be multiples of its block size).
    pub weight_type: GgmlType,
    pub seed: u64,
}

impl Default for TinySpec {
    fn default() -> Self {
        TinySpec { arch: "llama", n_layer: 2, n_embd: 64, n_head: 4, n_head_kv: 2, n_ff: 128, weight_type: GgmlType::Q8_0, seed: 1 }
    }
}

/// Writes a complete tiny model of `spec`.
pub fn tiny_model(spec: &TinySpec) -> Vec<u8> {
    let mut w = GgufWriter::new();
    let a = spec.arch;
    w.add("general.architecture", Value::String(a.into()));
    let n_vocab = add_tiny_bpe_vocab(&mut w);
    let hd = spec.n_embd / spec.n_head;
    w.add(format!("{a}.block_count"), Value::U32(spec.n_layer as u32))
        .add(format!("{a}.embedding_length"), Value::U32(spec.n_embd as u32))
        .add(format!("{a}.feed_forward_length"), Value::U32(spec.n_ff as u32))
        .add(format!("{a}.attention.head_count"), Value::U32(spec.n_head as u32))
        .add(format!("{a}.attention.head_count_kv"), Value::U32(spec.n_head_kv as u32))
        .add(format!("{a}.attention.layer_norm_rms_epsilon"), Value::F32(1e-5))
        .add(format!("{a}.context_length"), Value::U32(256));
    if a == "gemma3" {
        w.add(format!("{a}.attention.sliding_window"), Value::U32(8));
    }
    let mut rng = Rng::new(spec.seed);
    let (e, f, kv) = (spec.n_embd as u64, spec.n_ff as u64, (spec.n_head_kv * hd) as u64);
    let norm = |w: &mut GgufWriter, name: String, n: u64, rng: &mut Rng| {
        let v: Vec<f32> = (0..n).map(|_| 1.0 + 0.1 * rng.normal()).collect();
        w.add_f32_tensor(name, &[n], &v);
    };
    let wt = spec.weight_type;
    let mat = |w: &mut GgufWriter, name: String, cols: u64, rows: u64, ty: GgmlType, rng: &mut Rng| {
        let data = random_tensor(ty, (cols * rows) as usize, 0.5 / (cols as f32).sqrt(), rng);
        w.add_tensor(name, &[cols, rows], ty, data);
    };
    mat(&mut w, "token_embd.weight".into(), e, n_vocab as u64, GgmlType::Q8_0, &mut rng);
    norm(&mut w, "output_norm.weight".into(), e, &mut rng);
    for il in 0..spec.n_layer {
        let n = |s: &str| format!("blk.{il}.{s}.weight");
        norm(&mut w, n("attn_norm"), e, &mut rng);
        norm(&mut w, n("ffn_norm"), e, &mut rng);
        mat(&mut w, n("attn_q"), e, e, wt, &mut rng);
        mat(&mut w, n("attn_k"), e, kv, wt, &mut rng);
        mat(&mut w, n("attn_v"), e, kv, wt, &mut rng);
        mat(&mut w, n("attn_output"), e, e, wt, &mut rng);
        mat(&mut w, n("ffn_gate"), e, f, wt, &mut rng);
        mat(&mut w, n("ffn_up"), e, f, wt, &mut rng);
        mat(&mut w, n("ffn_down"), f, e, wt, &mut rng);
        if a == "gemma3" {
            norm(&mut w, n("attn_q_norm"), hd as u64, &mut rng);
            norm(&mut w, n("attn_k_norm"), hd as u64, &mut rng);
            norm(&mut w, n("post_attention_norm"), e, &mut rng);
            norm(&mut w, n("post_ffw_norm"), e, &mut rng);
        }
    }
    w.to_bytes()
}
