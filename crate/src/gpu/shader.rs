//! WGSL sources from `shaders/` and the small preprocessor that combines them: `#include "file"`
//! (each file once), `#define NAME value`, `#ifdef`/`#ifndef`/`#if NAME`/`#if NAME == value`,
//! `#elif`, `#else`, `#endif`, and whole-identifier substitution of defined names.

use std::collections::{HashMap, HashSet};

macro_rules! shader_files {
    ($($name:literal),* $(,)?) => {
        /// Every file of `shaders/`, embedded at compile time (a test checks the list is complete).
        pub const SHADERS: &[(&str, &str)] = &[$(($name, include_str!(concat!("../../../shaders/", $name)))),*];
    };
}

shader_files!(
    "common.wgsl",
    "copy.wgsl",
    "quant/f32.wgsl",
    "quant/f16.wgsl",
    "quant/bf16.wgsl",
    "quant/q4_0.wgsl",
    "quant/q4_1.wgsl",
    "quant/q5_0.wgsl",
    "quant/q5_1.wgsl",
    "quant/q5_bits.wgsl",
    "quant/q8_0.wgsl",
    "quant/q2_k.wgsl",
    "quant/q3_k.wgsl",
    "quant/q4_k.wgsl",
    "quant/q5_k.wgsl",
    "quant/q6_k.wgsl",
    "quant/kscales.wgsl",
    "quant/iq4.wgsl",
    "quant/iq4_nl.wgsl",
    "quant/iq4_xs.wgsl",
    "matvec.wgsl",
    "matmul.wgsl",
    "embed.wgsl",
    "rms_norm.wgsl",
    "rope.wgsl",
    "glu.wgsl",
    "activation.wgsl",
    "moe_route.wgsl",
    "moe_combine.wgsl",
    "attn_decode.wgsl",
    "attn_cpu.wgsl",
    "attn_split_io.wgsl",
    "attn_reduce.wgsl",
    "attn_prefill.wgsl",
    "softcap.wgsl",
    "reduce.wgsl",
    "sample_common.wgsl",
    "sample_best.wgsl",
    "sample_reduce.wgsl",
    "sample_argmax.wgsl",
    "sample_hist.wgsl",
    "sample_threshold.wgsl",
    "sample_gather.wgsl",
    "sample_draw.wgsl",
    "sample_mask.wgsl",
);

pub fn source(name: &str) -> Option<&'static str> {
    SHADERS.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}

#[derive(Debug, Clone, PartialEq)]
pub struct ShaderError(pub String);

impl std::fmt::Display for ShaderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ShaderError {}

/// Expands `name` with `defines`.
pub fn preprocess(name: &str, defines: &[(String, String)]) -> Result<String, ShaderError> {
    let mut p = Pre { defines: defines.iter().cloned().collect(), included: HashSet::new(), out: String::new() };
    p.file(name)?;
    Ok(p.out)
}

struct Pre {
    defines: HashMap<String, String>,
    included: HashSet<String>,
    out: String,
}

/// One level of `#if` nesting: whether its current branch is live, and whether any branch was.
struct Cond {
    live: bool,
    taken: bool,
    parent_live: bool,
}

impl Pre {
    fn file(&mut self, name: &str) -> Result<(), ShaderError> {
        if !self.included.insert(name.to_string()) {
            return Ok(());
        }
        let src = source(name).ok_or_else(|| ShaderError(format!("shader file {name:?} is not registered")))?;
        let mut stack: Vec<Cond> = Vec::new();
        for (ln, line) in src.lines().enumerate() {
            let err = |m: &str| ShaderError(format!("{name}:{}: {m}", ln + 1));
            let live = stack.last().is_none_or(|c| c.live);
            let t = line.trim_start();
            if let Some(d) = t.strip_prefix('#') {
                let (dir, rest) = d.split_once(char::is_whitespace).unwrap_or((d, ""));
                let rest = rest.trim();
                match dir {
                    "include" if live => {
                        let inc = self.expand(rest.trim_matches('"'));
                        self.file(&inc)?;
                    }
                    "define" if live => {
                        let (k, v) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
                        self.defines.insert(k.to_string(), v.trim().to_string());
                    }
                    "include" | "define" => {}
                    "ifdef" | "ifndef" | "if" => {
                        let v = match dir {
                            "ifdef" => self.defines.contains_key(rest),
                            "ifndef" => !self.defines.contains_key(rest),
                            _ => self.eval(rest).map_err(|m| err(&m))?,
                        };
                        stack.push(Cond { live: live && v, taken: v, parent_live: live });
                    }
                    "elif" => {
                        let v = self.eval(rest).map_err(|m| err(&m))?;
                        let c = stack.last_mut().ok_or_else(|| err("#elif without #if"))?;
                        c.live = c.parent_live && !c.taken && v;
                        c.taken |= v;
                    }
                    "else" => {
                        let c = stack.last_mut().ok_or_else(|| err("#else without #if"))?;
                        c.live = c.parent_live && !c.taken;
                        c.taken = true;
                    }
                    "endif" => {
                        stack.pop().ok_or_else(|| err("#endif without #if"))?;
                    }
                    other => return Err(err(&format!("unknown directive #{other}"))),
                }
                continue;
            }
            if live {
                self.substitute(line);
                self.out.push('\n');
            }
        }
        if !stack.is_empty() {
            return Err(ShaderError(format!("{name}: unterminated #if")));
        }
        Ok(())
    }

    /// `NAME` (defined and not 0/false), `NAME == value` or `NAME != value`.
    fn eval(&self, expr: &str) -> Result<bool, String> {
        let val = |k: &str| self.defines.get(k.trim()).cloned();
        if let Some((a, b)) = expr.split_once("==") {
            return Ok(val(a).as_deref() == Some(b.trim()));
        }
        if let Some((a, b)) = expr.split_once("!=") {
            return Ok(val(a).as_deref() != Some(b.trim()));
        }
        let e = expr.trim();
        if e.is_empty() {
            return Err("empty #if".into());
        }
        Ok(val(e).is_some_and(|v| v != "0" && v != "false"))
    }

    fn substitute(&mut self, line: &str) {
        let s = self.expand(line);
        self.out.push_str(&s);
    }

    /// `line` with every defined identifier replaced (comments are left alone).
    fn expand(&self, line: &str) -> String {
        let mut out = String::with_capacity(line.len());
        let b = line.as_bytes();
        let mut i = 0;
        while i < b.len() {
            let c = b[i];
            if c.is_ascii_alphabetic() || c == b'_' {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                let word = &line[start..i];
                match self.defines.get(word) {
                    Some(v) if !v.is_empty() => out.push_str(v),
                    _ => out.push_str(word),
                }
            } else if c == b'/' && b.get(i + 1) == Some(&b'/') {
                out.push_str(&line[i..]);
                return out;
            } else {
                let ch = line[i..].chars().next().unwrap();
                out.push(ch);
                i += ch.len_utf8();
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shader_file_is_registered() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shaders");
        let mut files = Vec::new();
        fn walk(d: &std::path::Path, base: &std::path::Path, out: &mut Vec<String>) {
            for e in std::fs::read_dir(d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    walk(&p, base, out);
                } else if p.extension().is_some_and(|x| x == "wgsl") {
                    out.push(p.strip_prefix(base).unwrap().to_string_lossy().replace('\\', "/"));
                }
            }
        }
        walk(&dir, &dir, &mut files);
        for f in &files {
            assert!(source(f).is_some(), "shaders/{f} is not listed in shader_files!");
        }
        assert_eq!(files.len(), SHADERS.len(), "a listed shader file does not exist");
    }

    #[test]
    fn conditionals_and_substitution() {
        let mut p = Pre { defines: HashMap::new(), included: HashSet::new(), out: String::new() };
        p.defines.insert("WG".into(), "64".into());
        p.defines.insert("TY".into(), "Q4_0".into());
        assert!(p.eval("TY == Q4_0").unwrap());
        assert!(!p.eval("TY != Q4_0").unwrap());
        assert!(p.eval("WG").unwrap());
        assert!(!p.eval("NOPE").unwrap());
        p.substitute("@workgroup_size(WG) // WG stays in comments");
        assert_eq!(p.out, "@workgroup_size(64) // WG stays in comments");
    }
}
