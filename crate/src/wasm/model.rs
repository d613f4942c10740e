//! A loaded model in the browser: a thin binding over the generation core ([`Session`]) on WebGPU
//! or on the CPU path, with the tokenizer and chat template as their own object ([`Text`]).

use super::errors::{coded, js_error};
use super::text::Text;
use super::to_js;
use crate::engine::{EngineError, Event, GenerateOptions, Generation, GpuBackend, SamplingParams, Session};
use crate::error_code::ErrorCode;
use crate::gpu::model::GpuModel;
use crate::tokenizer::{ChatTemplate, Tokenizer};
use crate::tools::{ToolDelta, ToolParser, ToolPlan, ToolRequest};
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
    /// OpenAI's `response_format` and a `grammar` (see `ConstraintSpec::from_request`).
    response_format: Option<serde_json::Value>,
    grammar: Option<serde_json::Value>,
    /// OpenAI's `tools` and `tool_choice` (see `ToolRequest::from_request`).
    tools: Option<serde_json::Value>,
    tool_choice: Option<serde_json::Value>,
    /// `false`: at most one call per reply.
    parallel_tool_calls: Option<bool>,
    /// Decode steps per GPU round trip, fixed (tests compare K = 1 with K > 1); absent: adaptive.
    decode_k: Option<usize>,
    /// `false`: each batch of decode steps is recorded after the last one is read, instead of
    /// being started ahead (benchmarks).
    decode_ahead: Option<bool>,
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
            response_format: None,
            grammar: None,
            tools: None,
            tool_choice: None,
            parallel_tool_calls: None,
            decode_k: None,
            decode_ahead: None,
        }
    }
}

impl GenOptions {
    /// The core's options (a missing seed is drawn at random) and, with tools, the parser of the
    /// reply: the tools' grammar, in the syntax of `text`'s template, is the constraint.
    fn into_core(self, text: &Text) -> Result<(GenerateOptions, Option<ToolParser>), EngineError> {
        let seed = match self.seed {
            // JS numbers hold integers exactly up to 2^53; anything else would be rounded.
            Some(s) if !(s >= 0.0 && s.fract() == 0.0 && s <= 9007199254740992.0) => {
                return Err(EngineError::InvalidArgument(format!("seed = {s} is not an integer from 0 to 2^53")));
            }
            Some(s) => s as u64,
            None => (js_sys::Math::random() * 9.0e15) as u64,
        };
        let sampling = SamplingParams {
            temperature: self.temperature,
            top_k: self.top_k.max(0) as usize,
            top_p: self.top_p,
            min_p: self.min_p,
            repetition_penalty: self.repetition_penalty,
            seed,
            ..SamplingParams::default()
        };
        let constraint = crate::constraint::ConstraintSpec::from_request(self.response_format.as_ref(), self.grammar.as_ref())
            .map_err(EngineError::InvalidArgument)?;
        let decode_k = self.decode_k.filter(|&k| k > 0);
        let (constraint, parser) = match ToolRequest::from_request(self.tools.as_ref(), self.tool_choice.as_ref())? {
            None => (constraint, None),
            Some(_) if constraint.is_some() => {
                return Err(EngineError::InvalidArgument("give tools or response_format/grammar, not both".into()));
            }
            Some(mut req) => {
                req.single_call = self.parallel_tool_calls == Some(false);
                let plan = ToolPlan::new(&req, text.template.source(), &text.tok);
                (Some(plan.constraint.clone()), Some(plan.parser(seed)))
            }
        };
        let opts = GenerateOptions {
            max_tokens: self.max_tokens,
            sampling,
            stop: self.stop,
            ignore_eos: self.ignore_eos,
            constraint,
            decode_k,
            decode_ahead: self.decode_ahead,
        };
        Ok((opts, parser))
    }
}

/// The CPU path's backend in the browser.
pub(crate) type CpuSide = crate::cpu::fast::FastBackend;

/// The session on whichever backend the model was loaded for; each keeps its own monomorphic code.
enum Sessions {
    Gpu(Session<GpuBackend>),
    Cpu(Session<CpuSide>),
}

/// `$body` with `$s` bound to the session, whichever backend it runs on.
macro_rules! with_session {
    ($self:expr, $s:ident => $body:expr) => {
        match &mut $self.session {
            Sessions::Gpu($s) => $body,
            Sessions::Cpu($s) => $body,
        }
    };
}

#[wasm_bindgen]
pub struct Model {
    session: Sessions,
    text: Text,
    info: serde_json::Value,
    /// `next()` or `topLogits()` is awaiting the GPU.
    busy: bool,
    /// The request's tool-call parser (a request with tools).
    tools: Option<ToolParser>,
}

impl Model {
    pub(crate) fn new(gpu: GpuModel, tok: Tokenizer, template: ChatTemplate, mut info: serde_json::Value) -> Model {
        info["adapter"] = json!(gpu.ctx().describe());
        info["contextLength"] = json!(gpu.n_ctx);
        info["gpuBytes"] = json!(gpu.gpu_bytes());
        info["chatTemplate"] = json!(template.origin);
        let tok = Rc::new(tok);
        info["backend"] = json!("webgpu");
        let text = Text { tok: tok.clone(), template: Rc::new(template) };
        Model { session: Sessions::Gpu(Session::new(GpuBackend { model: gpu }, tok)), text, info, busy: false, tools: None }
    }

    /// A model on the CPU path; `info` gets the backend, the threads and the weights' bytes.
    pub(crate) fn new_cpu(cpu: CpuSide, tok: Tokenizer, template: ChatTemplate, mut info: serde_json::Value) -> Model {
        use crate::engine::Backend;
        info["backend"] = json!("cpu");
        info["threads"] = json!(crate::cpu::parallel::threads());
        info["simd"] = json!(crate::cpu::fast::simd::describe());
        info["contextLength"] = json!(cpu.capacity());
        info["chatTemplate"] = json!(template.origin);
        let tok = Rc::new(tok);
        let text = Text { tok: tok.clone(), template: Rc::new(template) };
        Model { session: Sessions::Cpu(Session::new(cpu, tok)), text, info, busy: false, tools: None }
    }

    /// The model's device (the test hooks of `testing.rs`); none on the CPU path.
    pub(super) fn gpu_ctx(&self) -> Option<&crate::gpu::GpuContext> {
        match &self.session {
            Sessions::Gpu(s) => Some(s.backend.model.ctx()),
            Sessions::Cpu(_) => None,
        }
    }

    fn check_idle(&self, what: &'static str) -> Result<(), JsValue> {
        if self.busy {
            return Err(coded(EngineError::Busy(what)));
        }
        Ok(())
    }
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
        self.check_idle("a token is being generated; await it before starting another request")?;
        let o: GenOptions = if options.is_undefined() || options.is_null() {
            GenOptions::default()
        } else {
            serde_wasm_bindgen::from_value(options).map_err(|e| js_error(ErrorCode::InvalidArgument, &e.to_string()))?
        };
        let (o, tools) = o.into_core(&self.text).map_err(coded)?;
        self.tools = None;
        let started = with_session!(self, s => s.begin(&prompt_ids, &o)).map_err(coded)?;
        self.tools = tools;
        to_js(&json!({ "promptTokens": started.prompt_tokens, "reusedTokens": started.reused_tokens }))
    }

    /// Generates the next token: `{ id, text, done, finishReason, usage? }` (`usage` on the last).
    pub async fn next(&mut self) -> Result<JsValue, JsValue> {
        self.check_idle("next() called while the previous call is pending")?;
        self.busy = true;
        let r = with_session!(self, s => s.next().await);
        self.busy = false;
        match r.map_err(coded)? {
            Event::Token { id, text } => match self.tools.as_mut() {
                None => to_js(&json!({ "id": id, "text": text, "done": false })),
                Some(p) => {
                    let deltas = p.push_token(id, &text);
                    let mut ev = json!({ "id": id, "done": false });
                    tool_fields(&mut ev, deltas);
                    to_js(&ev)
                }
            },
            Event::Done { id, text, summary } => finish_event(id, text, &summary, self.tools.take()),
        }
    }

    /// Stops the current generation; its usage is returned like the last `next()`.
    pub fn abort(&mut self) -> Result<JsValue, JsValue> {
        match with_session!(self, s => s.abort()) {
            Some(Event::Done { id, text, summary }) => finish_event(id, text, &summary, self.tools.take()),
            _ => to_js(&json!({ "done": true })),
        }
    }

    /// Evaluates `ids` from position 0 in one teacher-forced pass and returns, for every position,
    /// the `top` largest next-token logits as `(id, logit)` pairs: `top` pairs per position,
    /// flattened. For scoring and for comparing with other engines; the cache then holds `ids`.
    #[wasm_bindgen(js_name = topLogits)]
    pub async fn top_logits(&mut self, ids: Vec<u32>, top: u32) -> Result<Vec<f32>, JsValue> {
        self.check_idle("a generation is in progress")?;
        if with_session!(self, s => s.in_progress()) {
            return Err(coded(EngineError::Busy("a generation is in progress")));
        }
        self.busy = true;
        let r = with_session!(self, s => s.top_logits(&ids, top as usize).await);
        self.busy = false;
        Ok(r.map_err(coded)?.iter().flatten().flat_map(|&(i, l)| [i as f32, l]).collect())
    }

    /// Frees the GPU buffers now (dropping the JS object also does, when it is collected).
    pub fn unload(self) {}

    /// WASM linear memory in bytes (on WebGPU the weights never pass through it; on the CPU path
    /// they live in it).
    #[wasm_bindgen(js_name = wasmMemoryBytes)]
    pub fn wasm_memory_bytes() -> f64 {
        (core::arch::wasm32::memory_size(0) * 65536) as f64
    }

    /// Bytes the core has allocated and not freed (the memory's size also counts free space
    /// that fragmentation left: it only grows).
    #[wasm_bindgen(js_name = wasmHeapBytes)]
    pub fn wasm_heap_bytes() -> f64 {
        super::heap::live_bytes() as f64
    }
}

/// A tool request's event: `text` is the reply's content only, `toolCallDeltas` the OpenAI
/// `delta.tool_calls` entries (when there are any).
fn tool_fields(ev: &mut serde_json::Value, deltas: Vec<ToolDelta>) {
    let content: String = deltas.iter().filter_map(|d| if let ToolDelta::Content(t) = d { Some(t.as_str()) } else { None }).collect();
    let calls: Vec<serde_json::Value> = deltas.iter().filter_map(ToolDelta::to_openai).collect();
    ev["text"] = json!(content);
    if !calls.is_empty() {
        ev["toolCallDeltas"] = json!(calls);
    }
}

/// The last event of a generation, with its usage; with tools also the reply's `content` (null
/// when only calls were written), `toolCalls`, and `finishReason: "tool_calls"` when the model
/// called tools and stopped.
fn finish_event(id: Option<u32>, text: String, g: &Generation, tools: Option<ToolParser>) -> Result<JsValue, JsValue> {
    let n_gen = g.ids.len();
    let n_prompt = g.prompt_ids.len();
    let finish = g.finish.as_str();
    let mut ev = json!({
        "id": id, "text": text, "done": true, "finishReason": finish,
        "fullText": g.text, "tokenIds": g.ids,
        "usage": {
            "prompt_tokens": n_prompt,
            "completion_tokens": n_gen,
            "total_tokens": n_prompt + n_gen,
            "reused_prompt_tokens": g.reused_tokens,
            "time_to_first_token_ms": g.first_token_ms,
            "prefill_tokens_per_second": g.prefill_tok_s(),
            "decode_tokens_per_second": g.decode_tok_s(),
            "decode_k": g.decode_k,
            "decode_batches_ahead": g.decode_ahead,
        }
    });
    if let Some(mut p) = tools {
        let mut deltas = match id {
            Some(id) => p.push_token(id, &text),
            None => p.push(&text),
        };
        let (rest, content, calls) = p.finish();
        deltas.extend(rest);
        tool_fields(&mut ev, deltas);
        ev["content"] = json!(content);
        ev["toolCalls"] = json!(calls.iter().map(|c| c.to_openai()).collect::<Vec<_>>());
        if !calls.is_empty() && finish == "stop" {
            ev["finishReason"] = json!("tool_calls");
        }
    }
    // What a constraint cost (benchmarks report it next to the decode speed).
    if let Some(c) = &g.constraint {
        ev["usage"]["constraint"] = json!({ "checked_tokens": c.checked, "masked_draws": c.masked, "ms": c.ms });
    }
    to_js(&ev)
}
