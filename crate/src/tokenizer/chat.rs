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

use minijinja::machinery::{self, Instruction, Instructions, WhitespaceConfig};
use minijinja::value::{Rest, ValueKind};
use minijinja::{AutoEscape, Environment, Error as JinjaError, ErrorKind, State, Value};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
}

impl ChatMessage {
    pub fn new(role: &str, content: &str) -> ChatMessage {
        ChatMessage { role: role.into(), content: content.into() }
    }
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

    pub fn render_with_stats(&self, messages: &[ChatMessage], add_generation_prompt: bool) -> Result<(String, RenderStats), TemplateError> {
        let l = &self.limits;
        let input: usize =
            messages.iter().map(|m| m.role.len() + m.content.len()).sum::<usize>() + self.bos_token.len() + self.eos_token.len();
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

/// The constants minijinja's compiler folds (`Expr::as_const`), sized without building them.
pub(crate) mod fold {
    use minijinja::machinery::ast::{BinOpKind, CallArg, Expr, Stmt, UnaryOpKind};
    use minijinja::Value;

    /// The most bytes one folded constant, and all of them together, may hold.
    pub const MAX_CONSTANT: usize = 1 << 20;
    pub const MAX_CONSTANTS: usize = 16 << 20;

    /// What a constant expression folds to: a number, bool or none (cheap to fold for real), or
    /// a string or list of this many bytes or items.
    #[derive(Clone, Copy)]
    enum C {
        Small,
        Sized(usize),
    }

    fn sized(n: usize, total: &mut usize) -> Result<Option<C>, String> {
        *total = total.saturating_add(n);
        if n > MAX_CONSTANT || *total > MAX_CONSTANTS {
            return Err(format!("a constant expression folds to more than {MAX_CONSTANT} bytes ({MAX_CONSTANTS} in all)"));
        }
        Ok(Some(C::Sized(n)))
    }

    fn value(v: &Value) -> C {
        match v.as_str() {
            Some(s) => C::Sized(s.len()),
            None => C::Small,
        }
    }

    fn stmts(v: &[Stmt<'_>], t: &mut usize) -> Result<(), String> {
        v.iter().try_for_each(|s| stmt(s, t))
    }

    pub fn stmt(s: &Stmt<'_>, t: &mut usize) -> Result<(), String> {
        match s {
            Stmt::Template(x) => stmts(&x.children, t),
            Stmt::EmitExpr(x) => expr(&x.expr, t).map(drop),
            Stmt::EmitRaw(_) | Stmt::Continue(_) | Stmt::Break(_) => Ok(()),
            Stmt::ForLoop(x) => {
                expr(&x.target, t)?;
                expr(&x.iter, t)?;
                if let Some(f) = &x.filter_expr {
                    expr(f, t)?;
                }
                stmts(&x.body, t)?;
                stmts(&x.else_body, t)
            }
            Stmt::IfCond(x) => {
                expr(&x.expr, t)?;
                stmts(&x.true_body, t)?;
                stmts(&x.false_body, t)
            }
            Stmt::WithBlock(x) => {
                for (a, b) in &x.assignments {
                    expr(a, t)?;
                    expr(b, t)?;
                }
                stmts(&x.body, t)
            }
            Stmt::Set(x) => {
                expr(&x.target, t)?;
                expr(&x.expr, t).map(drop)
            }
            Stmt::SetBlock(x) => {
                expr(&x.target, t)?;
                if let Some(f) = &x.filter {
                    expr(f, t)?;
                }
                stmts(&x.body, t)
            }
            Stmt::AutoEscape(x) => {
                expr(&x.enabled, t)?;
                stmts(&x.body, t)
            }
            Stmt::FilterBlock(x) => {
                expr(&x.filter, t)?;
                stmts(&x.body, t)
            }
            Stmt::Block(x) => stmts(&x.body, t),
            Stmt::Import(x) => {
                expr(&x.expr, t)?;
                expr(&x.name, t).map(drop)
            }
            Stmt::FromImport(x) => {
                expr(&x.expr, t)?;
                for (a, b) in &x.names {
                    expr(a, t)?;
                    if let Some(b) = b {
                        expr(b, t)?;
                    }
                }
                Ok(())
            }
            Stmt::Extends(x) => expr(&x.name, t).map(drop),
            Stmt::Include(x) => expr(&x.name, t).map(drop),
            Stmt::Macro(x) => {
                x.args.iter().chain(&x.defaults).try_for_each(|e| expr(e, t).map(drop))?;
                stmts(&x.body, t)
            }
            Stmt::CallBlock(x) => {
                expr(&x.call.expr, t)?;
                args(&x.call.args, t)?;
                x.macro_decl.args.iter().chain(&x.macro_decl.defaults).try_for_each(|e| expr(e, t).map(drop))?;
                stmts(&x.macro_decl.body, t)
            }
            Stmt::Do(x) => {
                expr(&x.call.expr, t)?;
                args(&x.call.args, t)
            }
        }
    }

    fn args(v: &[CallArg<'_>], t: &mut usize) -> Result<(), String> {
        for a in v {
            match a {
                CallArg::Pos(e) | CallArg::Kwarg(_, e) | CallArg::PosSplat(e) | CallArg::KwargSplat(e) => {
                    expr(e, t)?;
                }
            }
        }
        Ok(())
    }

    /// Checks `e` and its subexpressions; `Some` when `e` is a constant minijinja will fold.
    fn expr(e: &Expr<'_>, t: &mut usize) -> Result<Option<C>, String> {
        Ok(match e {
            Expr::Const(c) => Some(value(&c.value)),
            Expr::Var(_) => None,
            Expr::List(l) => {
                let mut n = l.items.len();
                for i in &l.items {
                    if let Some(C::Sized(k)) = expr(i, t)? {
                        n = n.saturating_add(k);
                    }
                }
                if l.items.iter().all(|x| matches!(x, Expr::Const(_))) {
                    sized(n, t)?
                } else {
                    None
                }
            }
            Expr::Map(m) => {
                let mut n = m.keys.len();
                for i in m.keys.iter().chain(&m.values) {
                    if let Some(C::Sized(k)) = expr(i, t)? {
                        n = n.saturating_add(k);
                    }
                }
                if m.keys.iter().chain(&m.values).all(|x| matches!(x, Expr::Const(_))) {
                    sized(n, t)?
                } else {
                    None
                }
            }
            Expr::UnaryOp(u) => match (&u.op, expr(&u.expr, t)?) {
                (UnaryOpKind::Not, Some(_)) | (UnaryOpKind::Neg, Some(C::Small)) => Some(C::Small),
                _ => None,
            },
            Expr::BinOp(b) => {
                let (l, r) = (expr(&b.left, t)?, expr(&b.right, t)?);
                let (Some(l), Some(r)) = (l, r) else { return Ok(None) };
                match (b.op, l, r) {
                    (_, C::Small, C::Small) => Some(C::Small),
                    (BinOpKind::Add | BinOpKind::Concat, l, r) => {
                        let n = |c: C| if let C::Sized(n) = c { n } else { 32 };
                        sized(n(l).saturating_add(n(r)), t)?
                    }
                    (BinOpKind::Mul, C::Sized(s), C::Small) | (BinOpKind::Mul, C::Small, C::Sized(s)) => {
                        // The factor is numbers only: folding it is cheap.
                        let factor = if matches!(l, C::Small) { b.left.as_const() } else { b.right.as_const() };
                        let k = factor.and_then(|v| v.as_i64()).map_or(0, |k| usize::try_from(k).unwrap_or(0));
                        sized(s.saturating_mul(k), t)?
                    }
                    (BinOpKind::Eq | BinOpKind::Ne | BinOpKind::Lt | BinOpKind::Lte | BinOpKind::Gt | BinOpKind::Gte, _, _) => {
                        Some(C::Small)
                    }
                    (BinOpKind::ScAnd | BinOpKind::ScOr, l, r) => {
                        Some(if let (C::Sized(a), C::Sized(b)) = (l, r) { C::Sized(a.max(b)) } else { l })
                    }
                    // Anything else on strings fails to fold.
                    _ => None,
                }
            }
            Expr::Compare(c) => {
                let mut all = expr(&c.expr, t)?.is_some();
                for op in &c.ops {
                    all &= expr(&op.expr, t)?.is_some();
                }
                all.then_some(C::Small)
            }
            Expr::Slice(x) => {
                expr(&x.expr, t)?;
                for e in [&x.start, &x.stop, &x.step].into_iter().flatten() {
                    expr(e, t)?;
                }
                None
            }
            Expr::IfExpr(x) => {
                expr(&x.test_expr, t)?;
                expr(&x.true_expr, t)?;
                if let Some(f) = &x.false_expr {
                    expr(f, t)?;
                }
                None
            }
            Expr::Filter(x) => {
                if let Some(e) = &x.expr {
                    expr(e, t)?;
                }
                args(&x.args, t)?;
                None
            }
            Expr::Test(x) => {
                expr(&x.expr, t)?;
                args(&x.args, t)?;
                None
            }
            Expr::GetAttr(x) => {
                expr(&x.expr, t)?;
                None
            }
            Expr::GetItem(x) => {
                expr(&x.expr, t)?;
                expr(&x.subscript_expr, t)?;
                None
            }
            Expr::Call(x) => {
                expr(&x.expr, t)?;
                args(&x.args, t)?;
                None
            }
        })
    }
}

/// The environment of one render: transformers' configuration, the checks that the rewritten
/// instructions call (`__gw_pre_rev:<class>`, `__gw_pre_ord:<class>`, `__gw_post`) sharing one
/// [`Budget`], and a formatter that counts every emitted byte.
fn environment<'s>(budget: &Arc<Budget>, fuel: u64, recursion: usize) -> Environment<'s> {
    let mut env = Environment::new();
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_fuel(Some(fuel));
    env.set_recursion_limit(recursion);
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    env.add_function("raise_exception", |msg: String| -> Result<Value, JinjaError> {
        Err(JinjaError::new(ErrorKind::InvalidOperation, cap_message(&msg, MAX_ERROR_MESSAGE)))
    });
    env.add_function("strftime_now", |fmt: String| -> String { strftime_now(&fmt) });
    for &(class, rev, ord) in CHECKS {
        for (name, reverse) in [(rev, true), (ord, false)] {
            let b = budget.clone();
            env.add_filter(name, move |_: &State, args: Rest<Value>| -> Result<Value, JinjaError> {
                b.pre(class, &args.0)?;
                let mut v = args.0;
                if reverse {
                    v.reverse();
                }
                Ok(Value::from(v))
            });
        }
    }
    let b = budget.clone();
    env.add_filter(POST, move |v: Value| -> Result<Value, JinjaError> {
        b.measure(&v)?;
        Ok(v)
    });
    let b = budget.clone();
    env.set_formatter(move |out, state, value| {
        b.measure(value)?;
        let mut s = String::new();
        minijinja::escape_formatter(&mut minijinja::machinery::make_string_output(&mut s), state, value)?;
        b.emit(s.len())?;
        std::fmt::Write::write_str(out, &s).map_err(|_| JinjaError::new(ErrorKind::WriteFailure, "write failed"))
    });
    env
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Trip {
    Work,
    Output,
    Value,
}

/// One render's budgets of work, output and value size, and which one ran out first.
struct Budget {
    work: AtomicI64,
    work_limit: u64,
    emitted: AtomicUsize,
    max_output: usize,
    max_value: usize,
    max_nodes: usize,
    max_depth: usize,
    tripped: Mutex<Option<Trip>>,
}

#[derive(Default, Clone, Copy)]
struct Size {
    bytes: usize,
    nodes: usize,
    depth: usize,
}

impl Budget {
    fn trip(&self, t: Trip, msg: String) -> JinjaError {
        let mut g = self.tripped.lock().unwrap_or_else(|p| p.into_inner());
        g.get_or_insert(t);
        JinjaError::new(ErrorKind::InvalidOperation, msg)
    }

    fn charge(&self, units: usize) -> Result<(), JinjaError> {
        let units = i64::try_from(units).unwrap_or(i64::MAX);
        if self.work.fetch_sub(units, Ordering::Relaxed).saturating_sub(units) < 0 {
            return Err(self.trip(Trip::Work, format!("the template's operations did more than {} units of work", self.work_limit)));
        }
        Ok(())
    }

    fn emit(&self, bytes: usize) -> Result<(), JinjaError> {
        let total = self.emitted.fetch_add(bytes, Ordering::Relaxed).saturating_add(bytes);
        if total > self.max_output {
            return Err(self.trip(Trip::Output, format!("the template emitted more than {} bytes", self.max_output)));
        }
        self.charge(bytes)
    }

    fn too_large(&self, what: &str) -> JinjaError {
        self.trip(Trip::Value, format!("{what} would exceed the cap of {} bytes / {} items", self.max_value, self.max_nodes))
    }

    /// The size of `v`, walked with a budget (lists and maps shared many times count each time,
    /// so a value built by doubling is measured as large as it would render). Charges the walk.
    fn measure(&self, v: &Value) -> Result<Size, JinjaError> {
        let mut s = Size::default();
        let r = self.walk(v, 0, &mut s);
        self.charge(s.nodes)?;
        r.map(|_| s)
    }

    fn walk(&self, v: &Value, depth: usize, s: &mut Size) -> Result<(), JinjaError> {
        s.nodes += 1;
        s.depth = s.depth.max(depth);
        if depth > self.max_depth {
            return Err(self.trip(Trip::Value, format!("a value nests deeper than {} levels", self.max_depth)));
        }
        if s.nodes > self.max_nodes {
            return Err(self.too_large("a value"));
        }
        match v.kind() {
            ValueKind::String => s.bytes += v.as_str().map_or(0, str::len),
            ValueKind::Bytes => s.bytes += v.as_bytes().map_or(0, <[u8]>::len),
            ValueKind::Seq | ValueKind::Iterable => {
                if let Ok(items) = v.try_iter() {
                    for item in items {
                        self.walk(&item, depth + 1, s)?;
                    }
                }
            }
            ValueKind::Map => {
                if let Ok(keys) = v.try_iter() {
                    for k in keys {
                        self.walk(&k, depth + 1, s)?;
                        if let Ok(item) = v.get_item(&k) {
                            self.walk(&item, depth + 1, s)?;
                        }
                    }
                }
            }
            // Numbers, none, undefined and opaque objects hold no strings; their items count.
            _ => {}
        }
        if s.bytes > self.max_value {
            return Err(self.too_large("a value"));
        }
        Ok(())
    }

    /// The length of a string argument, or of a value as it renders (an upper bound).
    fn text_len(&self, v: &Value) -> Result<usize, JinjaError> {
        match v.as_str() {
            Some(s) => Ok(s.len()),
            None => self.measure(v).map(|s| 2 * s.bytes + 24 * s.nodes),
        }
    }

    fn check(&self, what: &str, est: usize) -> Result<(), JinjaError> {
        if est > self.max_value {
            return Err(self.too_large(what));
        }
        self.charge(est)
    }

    /// The check before an operation of `class` on `args` (as the operation will see them).
    fn pre(&self, class: &str, args: &[Value]) -> Result<(), JinjaError> {
        let arg = |i: usize| args.get(i).cloned().unwrap_or(Value::UNDEFINED);
        let int = |i: usize| args.get(i).and_then(|v| v.as_i64());
        match class {
            "concat" => {
                let est = self.text_len(&arg(0))?.saturating_add(self.text_len(&arg(1))?);
                self.check("a concatenation", est)
            }
            "add" | "mul" => {
                let (a, b) = (arg(0), arg(1));
                let text = |v: &Value| matches!(v.kind(), ValueKind::String | ValueKind::Seq | ValueKind::Iterable | ValueKind::Map);
                if !text(&a) && !text(&b) {
                    return self.charge(1);
                }
                let (sa, sb) = (self.measure(&a)?, self.measure(&b)?);
                let (bytes, nodes) = if class == "add" {
                    (sa.bytes.saturating_add(sb.bytes), sa.nodes.saturating_add(sb.nodes))
                } else {
                    // String or list times an integer (either side).
                    let (v, s, n) = if text(&a) { (&a, sa, b.as_i64()) } else { (&b, sb, a.as_i64()) };
                    let n = usize::try_from(n.unwrap_or(0)).unwrap_or(0);
                    // A repeated string is still one string; a repeated list has n times the items.
                    let nodes = if v.as_str().is_some() { 1 } else { s.nodes.saturating_mul(n) };
                    (s.bytes.saturating_mul(n), nodes)
                };
                if nodes > self.max_nodes {
                    return Err(self.too_large(if class == "add" { "a joined list" } else { "a repeated list" }));
                }
                self.check(if class == "add" { "a sum" } else { "a repetition" }, bytes)
            }
            "getitem" => {
                // Indexing a string walks its characters; a key is hashed.
                let container = arg(0);
                let k = self.measure(&arg(1))?;
                self.charge(container.as_str().map_or(1, str::len).saturating_add(k.bytes))
            }
            _ => {
                // Comparisons, `in`, slices, loops, unpacking and every call: the operation may
                // scan its arguments. Most may visit every string inside a list or map (comparing,
                // serializing, sorting, joining, or a string argument given a list, which renders
                // it), so their arguments are walked (which also ends a cycle built through a
                // namespace, `ns.me = ns`, instead of recursing without end); the few that only
                // count or pick items (`SHALLOW`, loops, slices, macro calls) see strings' bytes
                // and containers' items. Then the checks of the calls that can build more than
                // they are given.
                let deep = !matches!(class, "scan" | "slice" | "f:batch" | "f:slice");
                let mut total = 0usize;
                let mut sizes = Vec::with_capacity(args.len());
                for a in args {
                    let s = if deep { self.measure(a)? } else { shallow(a) };
                    total = total.saturating_add(s.bytes).saturating_add(s.nodes);
                    sizes.push(s);
                }
                // Operations that cost much more per byte than a scan (measured natively: title
                // case ~80 ns a byte, slicing a string by characters ~30, a growing replace ~16,
                // most others 1-5) are charged more, so that the budget is about the same time
                // whatever a template repeats.
                let factor = match class {
                    "f:title" | "m:title" => 16,
                    "slice" => 8,
                    "sort" => 16,
                    "f:replace" | "m:replace" => 4,
                    _ => 1,
                };
                self.charge(total.saturating_mul(factor))?;
                let size = |i: usize| sizes.get(i).copied().unwrap_or_default();
                let str_len = |i: usize| args.get(i).and_then(|v| v.as_str()).map_or(0, str::len);
                let items = |i: usize| args.get(i).and_then(|v| v.len()).unwrap_or_else(|| size(i).nodes);
                match class {
                    // value | join(sep) and sep.join(items)
                    "f:join" => self.check("join", size(0).bytes.saturating_add(items(0).saturating_mul(str_len(1)))),
                    "m:join" => self.check("join", size(1).bytes.saturating_add(items(1).saturating_mul(str_len(0)))),
                    "f:replace" | "m:replace" => {
                        let (s, old, new) = (arg(0), arg(1), arg(2));
                        let (Some(s), Some(old), Some(new)) = (s.as_str(), old.as_str(), new.as_str()) else { return Ok(()) };
                        if new.len() <= old.len() {
                            return Ok(());
                        }
                        let hits = if old.is_empty() { s.chars().count() + 1 } else { s.matches(old).count() };
                        self.check("replace", s.len().saturating_add(hits.saturating_mul(new.len() - old.len())))
                    }
                    "f:indent" => {
                        let lines = arg(0).as_str().map_or(1, |s| s.bytes().filter(|&b| b == b'\n').count() + 1);
                        let width = int(1).map_or(str_len(1), |w| usize::try_from(w).unwrap_or(0));
                        self.check("indent", size(0).bytes.saturating_add(lines.saturating_mul(width)))
                    }
                    "f:format" | "m:format" => {
                        // Widths and precisions are written in the format string or passed as numbers.
                        let fmt = arg(0);
                        let widest = fmt.as_str().map_or(0, widest_number);
                        let largest_arg = (1..args.len()).filter_map(int).map(|n| n.unsigned_abs() as usize).max().unwrap_or(0);
                        self.check("format", total.saturating_add(widest).saturating_add(largest_arg))
                    }
                    "f:tojson" | "f:pprint" => {
                        let indent = (1..args.len())
                            .filter_map(|i| int(i).or_else(|| args[i].get_attr("indent").ok().and_then(|v| v.as_i64())))
                            .map(|n| n.unsigned_abs() as usize)
                            .max()
                            .unwrap_or(4);
                        let s = size(0);
                        // Every item on its own line, indented by its depth; strings escaped up to 6x.
                        let est = s.bytes.saturating_mul(6).saturating_add(s.nodes.saturating_mul(s.depth + 1).saturating_mul(indent + 4));
                        self.check(class.trim_start_matches("f:"), est)
                    }
                    "f:batch" | "f:slice" => {
                        let n = int(1).map_or(0, |n| n.unsigned_abs() as usize);
                        if n > self.max_nodes {
                            return Err(self.too_large(class.trim_start_matches("f:")));
                        }
                        self.charge(n)
                    }
                    "f:map" | "f:select" | "f:reject" | "f:selectattr" | "f:rejectattr" => {
                        // A filter or test applied per item runs outside these checks: only those
                        // that build no more than they are given may be named, and each item may
                        // be compared with the arguments (walked: a test compares deeply).
                        // A call per item (about 400 ns natively) and a comparison with the arguments.
                        let mut rest = 8usize;
                        for (i, a) in args.iter().enumerate().skip(1) {
                            if let Some(name) = a.as_str() {
                                if AMPLIFIERS.contains(&name) {
                                    return Err(self.too_large(&format!("{} with {name:?}", &class[2..])));
                                }
                            }
                            rest = rest.saturating_add(size(i).bytes);
                        }
                        self.charge(items(0).saturating_mul(rest))
                    }
                    _ => Ok(()),
                }
            }
        }
    }
}

/// Filters and methods that only count or pick a container's items (or take strings, whose
/// size is their bytes either way): their arguments are not walked.
const SHALLOW_FILTERS: &[&str] =
    &["length", "count", "first", "last", "list", "reverse", "default", "d", "attr", "items", "bool", "abs", "int", "float", "round"];
const SHALLOW_METHODS: &[&str] = &["items", "keys", "values", "get"];
/// Filters that sort or deduplicate (n log n comparisons, charged 16 per byte and item).
const SORTING_FILTERS: &[&str] = &["sort", "unique", "dictsort", "groupby"];

/// The size of a string, or a container's number of items, without walking it.
fn shallow(v: &Value) -> Size {
    match (v.as_str(), v.as_bytes()) {
        (Some(s), _) => Size { bytes: s.len(), nodes: 1, depth: 0 },
        (None, Some(b)) => Size { bytes: b.len(), nodes: 1, depth: 0 },
        _ => Size { bytes: 0, nodes: if v.as_object().is_some() { v.len().unwrap_or(1) } else { 1 }, depth: 0 },
    }
}

/// Filters that can build much more than they are given; `map` and `select` may not apply them.
const AMPLIFIERS: &[&str] = &["join", "replace", "indent", "format", "tojson", "pprint", "batch", "slice", "map", "urlencode"];

/// The largest number written in a format string (a width or precision), capped.
fn widest_number(fmt: &str) -> usize {
    let mut best = 0usize;
    let mut cur = 0usize;
    for b in fmt.bytes() {
        if b.is_ascii_digit() {
            cur = cur.saturating_mul(10).saturating_add((b - b'0') as usize);
            best = best.max(cur);
        } else {
            cur = 0;
        }
    }
    best
}

/// The check run after a call or a list or map literal is built.
const POST: &str = "__gw_post";

/// The classes of checks and the names of their filters (reversing the arguments for
/// `UnpackList`, or keeping their order for `UnpackLists`).
const CHECKS: &[(&str, &str, &str)] = &[
    ("concat", "__gw_pre_rev:concat", "__gw_pre_ord:concat"),
    ("add", "__gw_pre_rev:add", "__gw_pre_ord:add"),
    ("mul", "__gw_pre_rev:mul", "__gw_pre_ord:mul"),
    ("getitem", "__gw_pre_rev:getitem", "__gw_pre_ord:getitem"),
    ("scan", "__gw_pre_rev:scan", "__gw_pre_ord:scan"),
    ("deep", "__gw_pre_rev:deep", "__gw_pre_ord:deep"),
    ("slice", "__gw_pre_rev:slice", "__gw_pre_ord:slice"),
    ("sort", "__gw_pre_rev:sort", "__gw_pre_ord:sort"),
    ("f:title", "__gw_pre_rev:f:title", "__gw_pre_ord:f:title"),
    ("m:title", "__gw_pre_rev:m:title", "__gw_pre_ord:m:title"),
    ("f:join", "__gw_pre_rev:f:join", "__gw_pre_ord:f:join"),
    ("m:join", "__gw_pre_rev:m:join", "__gw_pre_ord:m:join"),
    ("f:replace", "__gw_pre_rev:f:replace", "__gw_pre_ord:f:replace"),
    ("m:replace", "__gw_pre_rev:m:replace", "__gw_pre_ord:m:replace"),
    ("f:indent", "__gw_pre_rev:f:indent", "__gw_pre_ord:f:indent"),
    ("f:format", "__gw_pre_rev:f:format", "__gw_pre_ord:f:format"),
    ("m:format", "__gw_pre_rev:m:format", "__gw_pre_ord:m:format"),
    ("f:tojson", "__gw_pre_rev:f:tojson", "__gw_pre_ord:f:tojson"),
    ("f:pprint", "__gw_pre_rev:f:pprint", "__gw_pre_ord:f:pprint"),
    ("f:batch", "__gw_pre_rev:f:batch", "__gw_pre_ord:f:batch"),
    ("f:slice", "__gw_pre_rev:f:slice", "__gw_pre_ord:f:slice"),
    ("f:map", "__gw_pre_rev:f:map", "__gw_pre_ord:f:map"),
    ("f:select", "__gw_pre_rev:f:select", "__gw_pre_ord:f:select"),
    ("f:reject", "__gw_pre_rev:f:reject", "__gw_pre_ord:f:reject"),
    ("f:selectattr", "__gw_pre_rev:f:selectattr", "__gw_pre_ord:f:selectattr"),
    ("f:rejectattr", "__gw_pre_rev:f:rejectattr", "__gw_pre_ord:f:rejectattr"),
];

/// The check filters of a class: (reversing, in order).
fn check_names(class: &str) -> (&'static str, &'static str) {
    let c = CHECKS.iter().find(|c| c.0 == class).or_else(|| CHECKS.iter().find(|c| c.0 == "scan")).expect("the scan check");
    (c.1, c.2)
}

/// The class of the check before a call of `name`.
fn call_class(prefix: &str, name: &str) -> &'static str {
    let key = format!("{prefix}:{name}");
    if let Some(c) = CHECKS.iter().find(|c| c.0 == key) {
        return c.0;
    }
    match prefix {
        "f" if SHALLOW_FILTERS.contains(&name) => "scan",
        "f" if SORTING_FILTERS.contains(&name) => "sort",
        "m" if SHALLOW_METHODS.contains(&name) => "scan",
        // Macros and `range`, `dict`, `namespace` take values as they are; these two render theirs.
        "c" if !matches!(name, "raise_exception" | "strftime_now") => "scan",
        _ => "deep",
    }
}

/// `old` with checks around the operations that can allocate or scan much (see the module's
/// documentation): an operation that takes `n` values from the stack is preceded by a check filter
/// taking the same `n` values and a `UnpackList(n)` that puts them back (an `UnpackLists(1)` when
/// `n` is only known at run time); a call or a list/map literal is followed by a check of its
/// result; raw text is emitted as a constant through the formatter, which counts it. Jump targets
/// and line numbers are carried over to the new positions. The semantics of every operation are
/// minijinja's own; only the added checks can fail.
pub fn bound_instructions<'s>(old: &Instructions<'s>) -> Result<Instructions<'s>, String> {
    enum Pre {
        None,
        Stack(&'static str, Option<u16>),
    }
    let plan = |ins: &Instruction<'s>| -> (Pre, bool) {
        use Instruction as I;
        let two = |class| Pre::Stack(class, Some(2));
        match ins {
            I::StringConcat => (two("concat"), false),
            I::Add => (two("add"), false),
            I::Mul => (two("mul"), false),
            I::GetItem => (two("getitem"), false),
            I::Eq | I::Ne | I::Lt | I::Lte | I::Gt | I::Gte | I::In | I::CompareAndPreserve(_) => (two("deep"), false),
            I::Slice => (Pre::Stack("slice", Some(4)), false),
            I::PushLoop(_) | I::UnpackList(_) => (Pre::Stack("scan", Some(1)), false),
            // Counts known when compiling; one that does not fit a filter's argument count (u16)
            // gets no check before (only the result's after). `Pre::Stack(_, None)` is only for
            // counts that are on the stack.
            I::UnpackLists(n) => (u16::try_from(*n).map_or(Pre::None, |n| Pre::Stack("scan", Some(n))), false),
            I::ApplyFilter(name, n, _) => (Pre::Stack(call_class("f", name), *n), true),
            I::PerformTest(_, n, _) => (Pre::Stack("deep", *n), true),
            I::CallObject(n) => (Pre::Stack("scan", *n), true),
            I::CallMethod(name, n) => (Pre::Stack(call_class("m", name), *n), true),
            // `loop(...)` restarts a recursive loop and `super()` renders the parent block: both
            // jump rather than return, so they get no check after them.
            I::CallFunction(name, _) if *name == "loop" || *name == "super" => (Pre::None, false),
            I::CallFunction(name, n) => (Pre::Stack(call_class("c", name), *n), true),
            // A map literal compares its keys as it inserts them.
            I::BuildMap(n) => (u16::try_from(2 * n).map_or(Pre::None, |n| Pre::Stack("deep", Some(n))), true),
            I::BuildList(_) | I::BuildKwargs(_) | I::MergeKwargs(_) => (Pre::None, true),
            _ => (Pre::None, false),
        }
    };
    let len = old.len() as u32;
    let mut start = Vec::with_capacity(old.len() + 1);
    let mut pos = 0u32;
    for i in 0..len {
        start.push(pos);
        let ins = old.get(i).ok_or("instruction out of range")?;
        let (pre, post) = plan(ins);
        let extra = match pre {
            Pre::Stack(_, Some(0)) | Pre::None => 0,
            Pre::Stack(..) => 2,
        } + u32::from(post)
            + u32::from(matches!(ins, Instruction::EmitRaw(_)));
        pos += 1 + extra;
    }
    start.push(pos);
    let target = |t: u32| -> Result<u32, String> { start.get(t as usize).copied().ok_or_else(|| format!("jump target {t} out of range")) };
    let mut new = Instructions::new(old.name(), old.source());
    for i in 0..len {
        let line = old.get_line(i).map_or(0, |l| u16::try_from(l).unwrap_or(u16::MAX));
        let ins = old.get(i).ok_or("instruction out of range")?.clone();
        let (pre, post) = plan(&ins);
        if let Pre::Stack(class, n) = pre {
            let (rev, ord) = check_names(class);
            match n {
                Some(0) => {}
                Some(n) => {
                    new.add_with_line(Instruction::ApplyFilter(rev, Some(n), !0), line);
                    new.add_with_line(Instruction::UnpackList(n as usize), line);
                }
                None => {
                    new.add_with_line(Instruction::ApplyFilter(ord, None, !0), line);
                    new.add_with_line(Instruction::UnpackLists(1), line);
                }
            }
        }
        use Instruction as I;
        let ins = match ins {
            I::EmitRaw(s) => {
                new.add_with_line(I::LoadConst(Value::from_safe_string(s.to_string())), line);
                I::Emit
            }
            I::Jump(t) => I::Jump(target(t)?),
            I::JumpIfFalse(t) => I::JumpIfFalse(target(t)?),
            I::JumpIfFalseOrPop(t) => I::JumpIfFalseOrPop(target(t)?),
            I::JumpIfTrueOrPop(t) => I::JumpIfTrueOrPop(target(t)?),
            I::Iterate(t) => I::Iterate(target(t)?),
            I::BuildMacro(name, t, flags) => I::BuildMacro(name, target(t)?, flags),
            other => other,
        };
        new.add_with_line(ins, line);
        if post {
            new.add_with_line(Instruction::ApplyFilter(POST, Some(1), !0), line);
        }
    }
    debug_assert_eq!(new.len() as u32, pos);
    Ok(new)
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
