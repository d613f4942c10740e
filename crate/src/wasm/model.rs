//! A loaded model in the browser: tokenizer, chat template, and generation one token per `next()`
//! call, with the KV cache reused for the shared prefix of consecutive prompts.

use super::errors::{gpu_error, js_error};
use super::text::Text;
use super::to_js;
use crate::engine::clock::now_ms;
use crate::engine::{reusable_prefix, room, FinishReason, GenerateOptions, SamplingParams, Step, Stepper};
use crate::gpu::model::GpuModel;
use crate::tokenizer::{ChatTemplate, Tokenizer};
use serde::Deserialize;
use serde_json::json;
use std::rc::Rc;
use wasm_bindgen::prelude::*;

#[derive(Deserialize)]
#[serde(rename_all = "snake_case", default)]
struct GenOptions {
    max_tokens: usize,
    temperature: f32,
    /// 0 or negative: no top-k (some clients send -1 for that).
    top_k: i64,
    top_p: f32,
    min_p: f32,
    repetition_penalty: f32,
    seed: Option<f64>,
    stop: Vec<String>,
    ignore_eos: bool,
}

impl Default for GenOptions {
    fn default() -> Self {
        GenOptions {
            max_tokens: 256,
            temperature: 0.8,
            top_k: 40,
            top_p: 0.95,
            min_p: 0.05,
            repetition_penalty: 1.0,
            seed: None,
            stop: vec![],
            ignore_eos: false,
        }
    }
}

struct Gen {
    st: Stepper,
    /// Tokens to run before the next draw (the prompt's unreused part, then each sampled id).
    pending: Vec<u32>,
    n_prompt: usize,
    reused: usize,
    t0: f64,
    first_token_ms: Option<f64>,
    decode_t0: f64,
}

#[wasm_bindgen]
pub struct Model {
    gpu: GpuModel,
    text: Text,
    info: serde_json::Value,
    /// Ids whose keys and values are in the cache, in order.
    cached: Vec<u32>,
    gen: Option<Gen>,
    busy: bool,
}

impl Model {
    pub(crate) fn new(gpu: GpuModel, tok: Tokenizer, template: ChatTemplate, mut info: serde_json::Value) -> Model {
        info["adapter"] = json!(gpu.ctx().describe());
        info["contextLength"] = json!(gpu.n_ctx);
        info["gpuBytes"] = json!(gpu.gpu_bytes());
        info["chatTemplate"] = json!(template.origin);
        Model { gpu, text: Text { tok: Rc::new(tok), template: Rc::new(template) }, info, cached: Vec::new(), gen: None, busy: false }
    }
}

fn now() -> f64 {
    now_ms()
}

#[wasm_bindgen]
impl Model {
    pub fn info(&self) -> Result<JsValue, JsValue> {
        to_js(&self.info)
    }

    /// The tokenizer and chat template, as an object of their own that stays usable while a token
    /// is being generated.
    pub fn text(&self) -> Text {
        self.text.clone()
    }

    /// Starts a generation from `prompt_ids` with OpenAI-style options (`max_tokens`,
    /// `temperature`, `top_p`, `top_k`, `min_p`, `repetition_penalty`, `seed`, `stop`). Returns
    /// `{ promptTokens, reusedTokens }`.
    pub fn begin(&mut self, prompt_ids: Vec<u32>, options: JsValue) -> Result<JsValue, JsValue> {
        if self.busy {
            return Err(js_error("Busy", "a token is being generated; await it before starting another request"));
        }
        let o: GenOptions = if options.is_undefined() || options.is_null() {
            GenOptions::default()
        } else {
            serde_wasm_bindgen::from_value(options).map_err(|e| js_error("InvalidArgument", &e.to_string()))?
        };
        if prompt_ids.is_empty() {
            return Err(js_error("InvalidArgument", "the prompt is empty"));
        }
        let n_vocab = self.gpu.cfg.n_vocab;
        if let Some(&bad) = prompt_ids.iter().find(|&&t| t as usize >= n_vocab) {
            return Err(js_error("InvalidArgument", &format!("token id {bad} is outside the vocabulary of {n_vocab}")));
        }
        if prompt_ids.len() > self.gpu.n_ctx {
            return Err(js_error(
                "ContextFull",
                &format!("the prompt has {} tokens; the context holds {}", prompt_ids.len(), self.gpu.n_ctx),
            ));
        }
        let max_tokens = o.max_tokens.min(room(self.gpu.n_ctx, prompt_ids.len()));
        let sampling = SamplingParams {
            temperature: o.temperature,
            top_k: o.top_k.max(0) as usize,
            top_p: o.top_p,
            min_p: o.min_p,
            repetition_penalty: o.repetition_penalty,
            seed: match o.seed {
                // JS numbers hold integers exactly up to 2^53; anything else would be rounded.
                Some(s) if !(s >= 0.0 && s.fract() == 0.0 && s <= 9007199254740992.0) => {
                    return Err(js_error("InvalidArgument", &format!("seed = {s} is not an integer from 0 to 2^53")));
                }
                Some(s) => s as u64,
                None => (js_sys::Math::random() * 9.0e15) as u64,
            },
            ..SamplingParams::default()
        };
        sampling.validate().map_err(|e| js_error("InvalidArgument", &e))?;
        let opts = GenerateOptions { max_tokens, sampling, stop: o.stop, ignore_eos: o.ignore_eos };
        let reused = reusable_prefix(&self.cached, &prompt_ids);
        self.gpu.truncate(reused);
        self.cached.truncate(reused);
        let st = Stepper::new(&prompt_ids, &opts);
        let pending = prompt_ids[reused..].to_vec();
        let n_prompt = prompt_ids.len();
        self.gen = Some(Gen { st, pending, n_prompt, reused, t0: now(), first_token_ms: None, decode_t0: 0.0 });
        to_js(&json!({ "promptTokens": n_prompt, "reusedTokens": reused }))
    }

    /// Generates the next token: `{ id, text, done, finishReason, usage? }` (`usage` on the last).
    pub async fn next(&mut self) -> Result<JsValue, JsValue> {
        if self.busy {
            return Err(js_error("Busy", "next() called while the previous call is pending"));
        }
        let Some(gen) = self.gen.as_mut() else {
            return Err(js_error("InvalidState", "no generation in progress (call begin first)"));
        };
        if gen.st.finish.is_some() {
            return self.finish_event(None, String::new());
        }
        let tokens = std::mem::take(&mut gen.pending);
        let params = gen.st.sampler.params.clone();
        let step = gen.st.sampler.step;
        let history = gen.st.history.clone();
        self.busy = true;
        let r = self.gpu.forward_sample(&tokens, &params, step, &history).await;
        self.busy = false;
        let id = match r {
            Ok(id) => id,
            Err(e) => {
                // The cache may hold a partial step: start the next request from scratch.
                self.cached.clear();
                self.gpu.truncate(0);
                self.gen = None;
                return Err(gpu_error(&e));
            }
        };
        self.cached.extend_from_slice(&tokens);
        let gen = self.gen.as_mut().unwrap();
        gen.st.sampler.step += 1;
        if gen.first_token_ms.is_none() {
            gen.first_token_ms = Some(now() - gen.t0);
            gen.decode_t0 = now();
        }
        match gen.st.accept(&self.text.tok, id) {
            Step::End => self.finish_event(None, String::new()),
            Step::Token { text, more: false } => self.finish_event(Some(id), text),
            Step::Token { text, more: true } => {
                gen.pending = vec![id];
                to_js(&json!({ "id": id, "text": text, "done": false }))
            }
        }
    }

    /// Stops the current generation; its usage is returned like the last `next()`.
    pub fn abort(&mut self) -> Result<JsValue, JsValue> {
        match self.gen.as_mut() {
            Some(g) => {
                let rest = g.st.abort();
                self.finish_event(None, rest)
            }
            None => to_js(&json!({ "done": true })),
        }
    }

    fn finish_event(&mut self, id: Option<u32>, text: String) -> Result<JsValue, JsValue> {
        let Some(gen) = self.gen.take() else {
            return to_js(&json!({ "done": true }));
        };
        let n_gen = gen.st.ids.len();
        let ttft = gen.first_token_ms.unwrap_or(now() - gen.t0);
        let prefill_tokens = gen.n_prompt - gen.reused;
        let decode_ms = now() - gen.decode_t0;
        let finish = match gen.st.finish.unwrap_or(FinishReason::Length) {
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
            FinishReason::Aborted => "abort",
        };
        to_js(&json!({
            "id": id, "text": text, "done": true, "finishReason": finish,
            "fullText": gen.st.text(), "tokenIds": gen.st.ids,
            "usage": {
                "prompt_tokens": gen.n_prompt,
                "completion_tokens": n_gen,
                "total_tokens": gen.n_prompt + n_gen,
                "reused_prompt_tokens": gen.reused,
                "time_to_first_token_ms": ttft,
                "prefill_tokens_per_second": if ttft > 0.0 { prefill_tokens as f64 * 1000.0 / ttft } else { 0.0 },
                "decode_tokens_per_second": if decode_ms > 0.0 && n_gen > 1 { (n_gen - 1) as f64 * 1000.0 / decode_ms } else { 0.0 },
            }
        }))
    }

    /// Evaluates `ids` from position 0 in one teacher-forced pass and returns, for every position,
    /// the `top` largest next-token logits as `(id, logit)` pairs: `top` pairs per position,
    /// flattened. For scoring and for comparing with other engines; the cache then holds `ids`.
    #[wasm_bindgen(js_name = topLogits)]
    pub async fn top_logits(&mut self, ids: Vec<u32>, top: u32) -> Result<Vec<f32>, JsValue> {
        if self.busy || self.gen.is_some() {
            return Err(js_error("Busy", "a generation is in progress"));
        }
        let n_vocab = self.gpu.cfg.n_vocab;
        if ids.is_empty() || ids.len() > self.gpu.n_ctx {
            return Err(js_error("InvalidArgument", &format!("topLogits needs 1 to {} ids, got {}", self.gpu.n_ctx, ids.len())));
        }
        if let Some(&bad) = ids.iter().find(|&&id| id as usize >= n_vocab) {
            return Err(js_error("InvalidArgument", &format!("token id {bad} is not below the vocabulary size {n_vocab}")));
        }
        let top = (top as usize).clamp(1, n_vocab);
        self.cached.clear();
        self.gpu.truncate(0);
        let mut out = Vec::with_capacity(ids.len() * top * 2);
        self.busy = true;
        // A batch at a time, so that at most one batch of logits is in WASM memory.
        for chunk in ids.chunks(crate::gpu::model::MAX_BATCH) {
            let r = self.gpu.forward(chunk, crate::gpu::model::Logits::All).await;
            let logits = match r {
                Ok(l) => l,
                Err(e) => {
                    self.busy = false;
                    self.gpu.truncate(0);
                    return Err(gpu_error(&e));
                }
            };
            for row in logits.chunks_exact(n_vocab) {
                let mut order: Vec<u32> = (0..n_vocab as u32).collect();
                order.select_nth_unstable_by(top - 1, |&a, &b| row[b as usize].total_cmp(&row[a as usize]).then(a.cmp(&b)));
                order.truncate(top);
                order.sort_by(|&a, &b| row[b as usize].total_cmp(&row[a as usize]).then(a.cmp(&b)));
                out.extend(order.iter().flat_map(|&i| [i as f32, row[i as usize]]));
            }
        }
        self.busy = false;
        self.cached = ids;
        Ok(out)
    }

    /// Frees the GPU buffers now (dropping the JS object also does, when it is collected).
    pub fn unload(self) {}

    /// WASM linear memory in bytes (the weights never pass through it).
    #[wasm_bindgen(js_name = wasmMemoryBytes)]
    pub fn wasm_memory_bytes() -> f64 {
        (core::arch::wasm32::memory_size(0) * 65536) as f64
    }
}
