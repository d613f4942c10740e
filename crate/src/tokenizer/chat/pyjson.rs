//! `tojson` as transformers defines it for chat templates: Python's `json.dumps(x,
//! ensure_ascii=False, indent=indent)`, so `", "` and `": "` between items (minijinja's own writes
//! compact JSON and escapes `<`, `>`, `&` and `'` for HTML, which changes the prompt a model was
//! trained on: tool lists and tool-call arguments are rendered with it).

use minijinja::value::Kwargs;
use minijinja::{Error as JinjaError, ErrorKind, Value};
use std::io::Write;

/// Python's default separators without an indent.
struct Spaced;

impl serde_json::ser::Formatter for Spaced {
    fn begin_array_value<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> std::io::Result<()> {
        if first {
            Ok(())
        } else {
            w.write_all(b", ")
        }
    }
    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> std::io::Result<()> {
        if first {
            Ok(())
        } else {
            w.write_all(b", ")
        }
    }
    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        w.write_all(b": ")
    }
}

/// The filter: `value | tojson`, `tojson(4)`, `tojson(indent=4)` (other keyword arguments of
/// transformers' filter, `ensure_ascii`, `separators`, `sort_keys`, are accepted and ignored).
pub fn tojson(value: &Value, indent: Option<Value>, kwargs: Kwargs) -> Result<Value, JinjaError> {
    let indent = match indent {
        Some(i) => Some(i),
        None => kwargs.get::<Option<Value>>("indent")?,
    };
    let indent = match indent {
        None => None,
        Some(v) if v.is_none() => None,
        Some(v) => Some(usize::try_from(v).map_err(|_| JinjaError::new(ErrorKind::InvalidOperation, "tojson: indent must be a number"))?),
    };
    let mut out = Vec::new();
    let r = match indent {
        Some(n) => {
            let pad = " ".repeat(n);
            let mut ser = serde_json::Serializer::with_formatter(&mut out, serde_json::ser::PrettyFormatter::with_indent(pad.as_bytes()));
            serde::Serialize::serialize(value, &mut ser)
        }
        None => serde::Serialize::serialize(value, &mut serde_json::Serializer::with_formatter(&mut out, Spaced)),
    };
    r.map_err(|e| JinjaError::new(ErrorKind::InvalidOperation, "cannot serialize to JSON").with_source(e))?;
    let s = String::from_utf8(out).map_err(|_| JinjaError::new(ErrorKind::InvalidOperation, "tojson: not UTF-8"))?;
    Ok(Value::from_safe_string(s))
}

/// `v` as Python's `json.dumps(v, ensure_ascii=False)` writes it.
pub fn python_json(v: &serde_json::Value) -> String {
    let mut out = Vec::new();
    serde::Serialize::serialize(v, &mut serde_json::Serializer::with_formatter(&mut out, Spaced)).expect("JSON values serialize");
    String::from_utf8(out).expect("serde_json writes UTF-8")
}
