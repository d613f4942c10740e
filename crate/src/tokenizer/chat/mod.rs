//! Chat templates: the model's `tokenizer.chat_template` (Jinja) rendered with minijinja, configured
//! like transformers renders it (trim_blocks, lstrip_blocks, Python string methods,
//! `raise_exception`, `strftime_now`). A GGUF without a template gets the format of its family:
//! Gemma's turns (as llama.cpp's built-in "gemma" template renders them), otherwise ChatML. llama.cpp
//! itself falls back to ChatML for every model; a Gemma model was trained on its own format.
//!
//! # Bounds
//!
//! The template comes from a stranger's file, so rendering is bounded (docs/security.md has the
//! numbers, [`TemplateLimits`] the defaults). Every way out is a [`TemplateError`] whose message is
//! capped at [`MAX_ERROR_MESSAGE`] bytes; the same `ChatTemplate` renders again afterwards (each
//! render builds its own engine state).
//!
//! - **Work**: minijinja's fuel counts instructions (loops, macro calls, recursion), so nested loops
//!   end in [`TemplateError::OutOfFuel`]. One instruction can still do work proportional to its
//!   operands (concatenating, comparing or searching megabytes), which fuel does not see, so the
//!   checked operations below also charge what they may scan to a second budget of work (strings'
//!   bytes and containers' items; everything inside a value for the operations that visit it all:
//!   comparisons, `in`, tests, serializing, sorting, joining); running out of it is `OutOfFuel`
//!   as well.
//! - **Values**: fuel does not bound memory (`{% set ns.s = ns.s ~ ns.s %}` doubles a string per
//!   instruction), so the compiled template is rewritten before it runs ([`bound_instructions`]):
//!   each operation that can build a large value or do work proportional to a value (`~`, `+`, `*`,
//!   comparisons, `in`, indexing, slicing, unpacking, loops, map literals, and every filter, test,
//!   function and method call, splatted arguments included) is preceded by a check that sees its
//!   operands on the stack, measures them (bounded walks: strings' bytes, containers' items,
//!   nesting depth) and refuses, before the operation allocates, a result over the value cap:
//!   `'x' * 10**9`, doubling strings or lists, `join` with a long separator, `replace` that
//!   multiplies a string, `indent`, `format` widths, `tojson` indents, `batch` fills. List and map
//!   literals and every call's result are measured after they are built (their size is at most the
//!   sum of measured operands). Too large or too deeply nested is [`TemplateError::ValueTooLarge`].
//!   minijinja also folds constant expressions while compiling (`{{ 'x' * 10**8 }}` would be a
//!   100 MB string in the compiled template); those are sized on the syntax tree first (`fold`)
//!   and refused at load as [`TemplateError::Parse`].
//! - **Output**: everything the template emits (raw text included, which is rewritten to go
//!   through the same path) is counted, also inside captures (`{% set x %}…{% endset %}`, macro
//!   bodies); over the output cap is [`TemplateError::OutputTooLarge`].
//! - **Recursion**: minijinja's recursion limit (lowered from 500 to 120, 18 nested macro calls,
//!   so that the deepest recursion needs under 256 KiB of native stack and fits a 1 MiB
//!   WebAssembly stack; 500 overflowed a 256 KiB one) ends self-calling macros and deeply nested
//!   blocks; the parser limits expression nesting itself. **Source**: a template over
//!   [`TemplateLimits::source`] is refused.
//!
//! The semantics of every operation stay minijinja's own (the checks only take the operands off
//! the stack and put them back, or fail): tests/template_bounds.rs renders real and realistic
//! templates both ways and compares. What is not bounded here: the time to parse a template of up
//! to `source` bytes (linear, about 0.05 s for 1 MiB); a map literal of more than 32,767 pairs is
//! checked only after it is built; a namespace that holds itself (`{% set ns.me = ns %}`) is
//! refused by every operation that visits its contents, but the reference cycle is not freed after
//! the render (a leak per render, bounded by the value caps).

mod budget;
mod fold;
mod pyjson;
mod rewrite;

use budget::*;
use minijinja::machinery::{self, Instruction, Instructions, WhitespaceConfig};
use minijinja::value::{Rest, ValueKind};
use minijinja::{AutoEscape, Environment, Error as JinjaError, ErrorKind, State, Value};
pub use pyjson::{python_json, tojson};
pub use rewrite::bound_instructions;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// One message of a chat, OpenAI-shaped. Besides `role` and `content` (null reads as empty), an
/// assistant message may hold `tool_calls` (`[{id, type, function: {name, arguments}}]`) and a
/// `tool` message its `tool_call_id` (and `name`); the template sees them as Hugging Face
/// templates expect, and does not see them when absent (`is defined` is false).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub content: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl ChatMessage {
    pub fn new(role: &str, content: &str) -> ChatMessage {
        ChatMessage { role: role.into(), content: content.into(), ..Default::default() }
    }

    /// Bytes the template may copy from this message (the budgets grow with them).
    fn input_bytes(&self) -> usize {
        let json = |v: &serde_json::Value| serde_json::to_string(v).map_or(0, |s| s.len());
        self.role.len()
            + self.content.len()
            + self.tool_calls.as_ref().map_or(0, json)
            + self.tool_call_id.as_ref().map_or(0, String::len)
            + self.name.as_ref().map_or(0, String::len)
    }
}

/// OpenAI sends `content: null` for an assistant message that only calls tools.
fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

/// Gemma's turn format, as llama.cpp's built-in "gemma" template renders it: a system message is
/// folded into the first user turn, contents are trimmed, "assistant" is called "model". No BOS:
/// the tokenizer adds it.
const GEMMA: &str = "{%- set ns = namespace(system='') -%}
{%- for m in messages -%}
{%- if m.role == 'system' -%}{%- set ns.system = ns.system + (m.content | trim) -%}
{%- else -%}
{%- set role = 'model' if m.role == 'assistant' else m.role -%}
{{- '<start_of_turn>' + role + '\n' -}}
{%- if ns.system and role != 'model' -%}{{- ns.system + '\n\n' -}}{%- set ns.system = '' -%}{%- endif -%}
{{- (m.content | trim) + '<end_of_turn>\n' -}}
{%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}{{- '<start_of_turn>model\n' -}}{%- endif -%}";

/// ChatML: the fallback for a model without a template (llama.cpp's for every model).
const CHATML: &str = "{%- for m in messages -%}
{{- '<|im_start|>' + m.role + '\n' + m.content + '<|im_end|>\n' -}}
{%- endfor -%}
{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\n' -}}{%- endif -%}";

/// Error messages (minijinja's, and `raise_exception`'s text) are cut to this many bytes.
pub const MAX_ERROR_MESSAGE: usize = 1024;

/// Why a chat template could not be used. Each message is capped at [`MAX_ERROR_MESSAGE`] bytes.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// The template does not parse, or is larger than [`TemplateLimits::source`].
    #[error("chat template does not parse: {0}")]
    Parse(String),
    /// The template raised an error (`raise_exception`, an undefined operation, recursion too deep).
    #[error("chat template failed: {0}")]
    Failed(String),
    /// The template used up its budget of instructions or of work.
    #[error("chat template ran out of fuel: {0}")]
    OutOfFuel(String),
    /// The template emitted more than its output cap.
    #[error("chat template output is too large: {0}")]
    OutputTooLarge(String),
    /// The template built a value over the value cap, or nested too deeply.
    #[error("chat template built a value too large: {0}")]
    ValueTooLarge(String),
}

impl crate::error_code::Coded for TemplateError {
    fn code(&self) -> crate::error_code::ErrorCode {
        crate::error_code::ErrorCode::TemplateError
    }
}

/// `s` cut to at most `max` bytes on a character boundary, saying how long it was.
pub fn cap_message(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut cut = max;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}… ({} bytes in all)", &s[..cut], s.len())
}

/// The budgets of one render. The caps on output, values and work grow with the size of the
/// messages (a long conversation is not hostile); fuel grows with their number.
#[derive(Clone, Debug)]
pub struct TemplateLimits {
    /// minijinja fuel (about one per instruction) for a render, plus `fuel_per_message` per message.
    pub fuel: u64,
    pub fuel_per_message: u64,
    /// Units of work (bytes scanned or copied, items visited) of the checked operations, plus
    /// 16 per byte of input.
    pub work: u64,
    /// Bytes the template may emit, plus 4 per byte of input.
    pub output: usize,
    /// Bytes of strings in one value (a list counts its items' strings), plus 2 per byte of input.
    /// A value may hold at most a tenth as many items (at least 131,072).
    pub value: usize,
    /// How deeply one value may nest lists and maps.
    pub depth: usize,
    /// minijinja's recursion limit (a macro call counts about 6, a loop or `with` block 1).
    pub recursion: usize,
    /// Bytes of template source.
    pub source: usize,
}

impl Default for TemplateLimits {
    fn default() -> Self {
        TemplateLimits {
            fuel: 2_000_000,
            fuel_per_message: 2_000,
            work: 8 << 20,
            output: 1 << 20,
            value: 1 << 20,
            depth: 32,
            recursion: 120,
            source: 1 << 20,
        }
    }
}

pub struct ChatTemplate {
    source: String,
    /// Where the template came from: "gguf" or the name of a built-in.
    pub origin: String,
    bos_token: String,
    eos_token: String,
    limits: TemplateLimits,
}

/// What a render used, for tests and measurements.
#[derive(Clone, Copy, Debug, Default)]
pub struct RenderStats {
    pub fuel: u64,
    pub work: u64,
    pub emitted: usize,
}

impl ChatTemplate {
    /// `template`: the GGUF's `tokenizer.chat_template`, if any; `arch` picks the fallback.
    pub fn new(template: Option<&str>, arch: &str, bos_token: &str, eos_token: &str) -> Result<ChatTemplate, TemplateError> {
        Self::with_limits(template, arch, bos_token, eos_token, TemplateLimits::default())
    }

    pub fn with_limits(
        template: Option<&str>,
        arch: &str,
        bos_token: &str,
        eos_token: &str,
        limits: TemplateLimits,
    ) -> Result<ChatTemplate, TemplateError> {
        let (source, origin) = match template {
            Some(t) => (t, "gguf"),
            None if arch.starts_with("gemma") => (GEMMA, "builtin:gemma"),
            None => (CHATML, "builtin:chatml"),
        };
        if source.len() > limits.source {
            return Err(TemplateError::Parse(format!("the template is {} bytes, over the {} byte limit", source.len(), limits.source)));
        }
        // The token texts come from the same file; they are values like any other.
        let caps = limits.value;
        if bos_token.len() > caps || eos_token.len() > caps {
            return Err(TemplateError::Parse(format!("the BOS/EOS token text is over {caps} bytes")));
        }
        // Parsed (and rewritten) once here so that a template that does not parse fails at load.
        compile(source).map_err(|e| TemplateError::Parse(cap_message(&e, MAX_ERROR_MESSAGE)))?;
        Ok(ChatTemplate {
            source: source.to_string(),
            origin: origin.to_string(),
            bos_token: bos_token.into(),
            eos_token: eos_token.into(),
            limits,
        })
    }

    pub fn render(&self, messages: &[ChatMessage], add_generation_prompt: bool) -> Result<String, TemplateError> {
        self.render_with_stats(messages, add_generation_prompt).map(|(s, _)| s)
    }

    /// Renders with the `tools` variable (a JSON array of OpenAI tool objects, as Hugging Face
    /// templates expect it); `None` leaves `tools` undefined.
    pub fn render_with_tools(
        &self,
        messages: &[ChatMessage],
        tools: Option<&serde_json::Value>,
        add_generation_prompt: bool,
    ) -> Result<String, TemplateError> {
        self.render_inner(messages, tools, add_generation_prompt).map(|(s, _)| s)
    }

    /// The template's source (tool-call syntax is recognised from it).
    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn render_with_stats(&self, messages: &[ChatMessage], add_generation_prompt: bool) -> Result<(String, RenderStats), TemplateError> {
        self.render_inner(messages, None, add_generation_prompt)
    }

    fn render_inner(
        &self,
        messages: &[ChatMessage],
        tools: Option<&serde_json::Value>,
        add_generation_prompt: bool,
    ) -> Result<(String, RenderStats), TemplateError> {
        let l = &self.limits;
        let tool_bytes = tools.map_or(0, |t| serde_json::to_string(t).map_or(0, |s| s.len()));
        let input: usize =
            messages.iter().map(ChatMessage::input_bytes).sum::<usize>() + tool_bytes + self.bos_token.len() + self.eos_token.len();
        let value = l.value.saturating_add(input.saturating_mul(2));
        let budget = Arc::new(Budget {
            work: AtomicI64::new(i64::try_from(l.work.saturating_add(16 * input as u64)).unwrap_or(i64::MAX)),
            work_limit: l.work.saturating_add(16 * input as u64),
            emitted: AtomicUsize::new(0),
            max_output: l.output.saturating_add(input.saturating_mul(4)),
            max_value: value,
            max_nodes: (value / 10).max(1 << 17),
            max_depth: l.depth,
            tripped: Mutex::new(None),
        });
        let fuel = l.fuel.saturating_add(l.fuel_per_message.saturating_mul(messages.len() as u64));
        let env = environment(&budget, fuel, l.recursion);
        let (instructions, blocks) = compile(&self.source).map_err(|e| TemplateError::Parse(cap_message(&e, MAX_ERROR_MESSAGE)))?;
        let root = minijinja::context! {
            messages => messages,
            add_generation_prompt => add_generation_prompt,
            bos_token => self.bos_token,
            eos_token => self.eos_token,
        };
        // Hugging Face passes `tools=None` when there are none: defined, and none.
        let root = minijinja::context! { tools => tools.map(Value::from_serialize), ..root };
        let mut out = String::new();
        let vm = minijinja::machinery::Vm::new(&env);
        let result = vm.eval(&instructions, root, &blocks, &mut minijinja::machinery::make_string_output(&mut out), AutoEscape::None);
        match result {
            Ok((_, state)) => {
                let stats = RenderStats {
                    fuel: state.fuel_levels().map_or(0, |(used, _)| used),
                    work: budget.work_limit.saturating_sub(budget.work.load(Ordering::Relaxed).max(0) as u64),
                    emitted: budget.emitted.load(Ordering::Relaxed),
                };
                Ok((out, stats))
            }
            Err(e) => {
                let msg = cap_message(&error_text(&e), MAX_ERROR_MESSAGE);
                let tripped = *budget.tripped.lock().unwrap_or_else(|p| p.into_inner());
                Err(match tripped {
                    Some(Trip::Work) => TemplateError::OutOfFuel(msg),
                    Some(Trip::Output) => TemplateError::OutputTooLarge(msg),
                    Some(Trip::Value) => TemplateError::ValueTooLarge(msg),
                    None if e.kind() == ErrorKind::OutOfFuel => TemplateError::OutOfFuel(msg),
                    None => TemplateError::Failed(msg),
                })
            }
        }
    }
}

/// minijinja's message with its chain of causes, without building more than the cap.
fn error_text(e: &JinjaError) -> String {
    let mut s = cap_message(&e.to_string(), MAX_ERROR_MESSAGE);
    let mut src = std::error::Error::source(e);
    while let Some(cause) = src {
        if s.len() > MAX_ERROR_MESSAGE {
            break;
        }
        s += ": ";
        s += &cap_message(&cause.to_string(), MAX_ERROR_MESSAGE);
        src = cause.source();
    }
    s
}

fn compile(source: &str) -> Result<(Instructions<'_>, std::collections::BTreeMap<&str, Instructions<'_>>), String> {
    let ws = WhitespaceConfig { keep_trailing_newline: false, lstrip_blocks: true, trim_blocks: true };
    let ast = machinery::parse(source, "chat", Default::default(), ws).map_err(|e| error_text(&e))?;
    // minijinja folds constant expressions while it compiles (`'x' * 10**8` becomes a 100 MB
    // string, once per expression), before any check of ours can run: refuse them first.
    let mut folded = 0usize;
    fold::stmt(&ast, &mut folded)?;
    let mut g = machinery::CodeGenerator::new("chat", source);
    g.compile_stmt(&ast);
    let (instructions, blocks) = g.finish();
    let instructions = bound_instructions(&instructions)?;
    let mut bounded = std::collections::BTreeMap::new();
    for (name, b) in &blocks {
        bounded.insert(*name, bound_instructions(b)?);
    }
    Ok((instructions, bounded))
}

/// The subset of strftime that chat templates use for "today's date" lines.
fn strftime_now(fmt: &str) -> String {
    let secs = now_unix_seconds();
    let days = secs.div_euclid(86400);
    let (y, m, d) = civil_from_days(days);
    const MONTHS: [&str; 12] =
        ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];
    let mut out = String::new();
    let mut chars = fmt.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('Y') => out += &y.to_string(),
            Some('m') => out += &format!("{m:02}"),
            Some('d') => out += &format!("{d:02}"),
            Some('B') => out += MONTHS[(m - 1) as usize],
            Some('b') => out += &MONTHS[(m - 1) as usize][..3],
            Some('H') => out += &format!("{:02}", secs.rem_euclid(86400) / 3600),
            Some('M') => out += &format!("{:02}", secs.rem_euclid(3600) / 60),
            Some('%') => out.push('%'),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    out
}

fn now_unix_seconds() -> i64 {
    #[cfg(not(target_arch = "wasm32"))]
    {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
    }
    #[cfg(target_arch = "wasm32")]
    {
        (js_sys::Date::now() / 1000.0) as i64
    }
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719468;
    let era = z.div_euclid(146097);
    let doe = z.rem_euclid(146097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20418), (2025, 11, 26));
    }

    #[test]
    fn raise_exception_is_an_error() {
        let t = ChatTemplate::new(Some("{{ raise_exception('no system role') }}"), "llama", "", "").unwrap();
        let e = t.render(&[], true).unwrap_err();
        assert!(matches!(&e, TemplateError::Failed(m) if m.contains("no system role")), "{e}");
    }

    #[test]
    fn python_string_methods_work() {
        let t = ChatTemplate::new(Some("{{ messages[0].content.strip().upper() }}"), "llama", "", "").unwrap();
        assert_eq!(t.render(&[ChatMessage::new("user", "  hi ")], false).unwrap(), "HI");
    }
}
