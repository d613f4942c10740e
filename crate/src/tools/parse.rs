//! The output back into OpenAI's shape, a token's text at a time: [`ToolParser::push`] turns the
//! text into [`ToolDelta`]s (content, the start of a call with its id and name, fragments of its
//! `arguments`), holding back only what could still be the start of a trigger. The final reply
//! ([`ToolParser::finish`]) is the sum of the deltas, so a streamed reply and a whole one agree.
//!
//! A call's JSON is scanned, not parsed: its `arguments` are the exact text the model wrote (the
//! grammar made it valid), streamed as it grows. Text that does not follow the syntax (a model
//! run without the grammar) ends the calls and is kept as content; a call cut by `max_tokens`
//! keeps the arguments written so far.

use super::syntax::ToolFamily;
use serde_json::{json, Value};

/// One piece of a streamed reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ToolDelta {
    /// Reply text outside the calls.
    Content(String),
    /// A call begins: its index in the reply, its id and the function's name.
    Start { index: usize, id: String, name: String },
    /// More of a call's `arguments` (a JSON text once all fragments are joined).
    Arguments { index: usize, fragment: String },
}

impl ToolDelta {
    /// The OpenAI `delta.tool_calls[]` entry (`None` for content).
    pub fn to_openai(&self) -> Option<Value> {
        match self {
            ToolDelta::Content(_) => None,
            ToolDelta::Start { index, id, name } => {
                Some(json!({ "index": index, "id": id, "type": "function", "function": { "name": name, "arguments": "" } }))
            }
            ToolDelta::Arguments { index, fragment } => Some(json!({ "index": index, "function": { "arguments": fragment } })),
        }
    }
}

/// One parsed call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    /// The arguments as JSON text.
    pub arguments: String,
}

impl ToolCall {
    /// `{id, type: "function", function: {name, arguments}}`.
    pub fn to_openai(&self) -> Value {
        json!({ "id": self.id, "type": "function", "function": { "name": self.name, "arguments": self.arguments } })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Nothing but white space yet (the families whose calls must start the reply look here).
    Start,
    /// Reply text.
    Text,
    /// After a trigger, before the list's `[` (Mistral, generic).
    Open,
    /// Inside a call object; `pending` starts at its `{`.
    Call,
    /// After a call object.
    Between,
    /// The calls are over; the rest is ignored.
    Done,
}

/// Parses one reply of a model family.
pub struct ToolParser {
    family: ToolFamily,
    trigger: Option<&'static str>,
    trigger_id: Option<u32>,
    seed: u64,
    state: State,
    /// Text not yet turned into deltas.
    pending: String,
    /// Content white space held until more content follows (none is sent between calls).
    space: String,
    content: String,
    calls: Vec<ToolCall>,
    /// Whether the current call's start was sent, and how many bytes of its arguments.
    started: bool,
    sent_args: usize,
}

impl ToolParser {
    /// `trigger_id`: the trigger's id when it is a special token (its text never reaches the
    /// output); `id_seed` makes the call ids (9 letters and digits, as Mistral's templates need).
    pub fn new(family: ToolFamily, trigger_id: Option<u32>, id_seed: u64) -> ToolParser {
        ToolParser {
            family,
            trigger: family.trigger(),
            trigger_id,
            seed: id_seed,
            state: State::Start,
            pending: String::new(),
            space: String::new(),
            content: String::new(),
            calls: Vec::new(),
            started: false,
            sent_args: 0,
        }
    }

    /// One generated token: its id and the text it made final.
    pub fn push_token(&mut self, id: u32, text: &str) -> Vec<ToolDelta> {
        let mut out = self.push(text);
        if Some(id) == self.trigger_id {
            out.extend(self.push(self.trigger.unwrap_or_default()));
        }
        out
    }

    /// More output text.
    pub fn push(&mut self, text: &str) -> Vec<ToolDelta> {
        self.pending.push_str(text);
        let mut out = Vec::new();
        while self.step(&mut out, false) {}
        out
    }

    /// The end of the output: what was held back, then the reply (`content` is `None` when only
    /// white space was written).
    pub fn finish(&mut self) -> (Vec<ToolDelta>, Option<String>, Vec<ToolCall>) {
        let mut out = Vec::new();
        while self.step(&mut out, true) {}
        if matches!(self.state, State::Start | State::Text) && self.calls.is_empty() {
            let rest = std::mem::take(&mut self.space) + &std::mem::take(&mut self.pending);
            self.content_delta(&mut out, rest);
        }
        let content = (!self.content.trim().is_empty()).then(|| self.content.clone());
        (out, content, self.calls.clone())
    }

    /// The calls parsed so far.
    pub fn calls(&self) -> &[ToolCall] {
        &self.calls
    }

    fn content_delta(&mut self, out: &mut Vec<ToolDelta>, text: String) {
        if !text.is_empty() {
            self.content += &text;
            out.push(ToolDelta::Content(text));
        }
    }

    /// Content, its trailing white space held back.
    fn text(&mut self, out: &mut Vec<ToolDelta>, text: &str) {
        let body = text.trim_end();
        if !body.is_empty() {
            let t = std::mem::take(&mut self.space) + body;
            self.content_delta(out, t);
        }
        self.space += &text[body.len()..];
    }

    /// One move of the state machine; `false` when it needs more text.
    fn step(&mut self, out: &mut Vec<ToolDelta>, end: bool) -> bool {
        match self.state {
            State::Done => {
                self.pending.clear();
                false
            }
            State::Start => {
                let body = self.pending.trim_start();
                if body.is_empty() {
                    return false;
                }
                let lead = self.pending.len() - body.len();
                match (self.family, self.trigger) {
                    (ToolFamily::Llama3, _) if body.starts_with('{') => {
                        self.pending.drain(..lead);
                        self.state = State::Call;
                    }
                    (ToolFamily::Generic, Some(t)) if t.starts_with(body) && !end => return false,
                    (ToolFamily::Generic, Some(t)) if body.starts_with(t) => {
                        self.pending.drain(..lead + t.len());
                        self.state = State::Open;
                    }
                    _ => self.state = State::Text,
                }
                true
            }
            State::Text => self.in_text(out, end),
            State::Open => {
                let body = self.pending.trim_start();
                if body.is_empty() {
                    return false;
                }
                if body.starts_with('[') {
                    let cut = self.pending.len() - body.len() + 1;
                    self.pending.drain(..cut);
                    self.state = State::Between;
                    self.started = true; // `[` acts as the separator before the first call
                    self.after_separator();
                } else {
                    self.state = State::Done;
                }
                true
            }
            State::Call => self.in_call(out),
            State::Between => self.between(),
        }
    }

    fn in_text(&mut self, out: &mut Vec<ToolDelta>, end: bool) -> bool {
        let anywhere = matches!(self.family, ToolFamily::Hermes | ToolFamily::Mistral);
        let trigger = self.trigger.filter(|_| anywhere);
        if let Some(t) = trigger {
            if let Some(k) = self.pending.find(t) {
                let before = self.pending[..k].to_string();
                self.text(out, &before);
                self.pending.drain(..k + t.len());
                self.space.clear();
                self.state = if self.family == ToolFamily::Mistral { State::Open } else { State::Between };
                if self.family == ToolFamily::Hermes {
                    self.started = true;
                    self.after_separator();
                }
                return true;
            }
        }
        // Hold back what could still become the trigger.
        let hold = match trigger {
            Some(t) if !end => (1..t.len())
                .rev()
                .find(|&k| self.pending.is_char_boundary(self.pending.len() - k) && self.pending.ends_with(&t[..k]))
                .unwrap_or(0),
            _ => 0,
        };
        let cut = self.pending.len() - hold;
        if cut > 0 {
            let text: String = self.pending.drain(..cut).collect();
            self.text(out, &text);
        }
        false
    }

    /// A separator was read (`[` or `,`, or Hermes' trigger): a call object comes next.
    fn after_separator(&mut self) {
        self.started = false;
        self.sent_args = 0;
        self.state = State::Call;
    }

    fn in_call(&mut self, out: &mut Vec<ToolDelta>) -> bool {
        let body = self.pending.trim_start();
        if body.is_empty() {
            return false;
        }
        let lead = self.pending.len() - body.len();
        self.pending.drain(..lead);
        if !self.pending.starts_with('{') {
            self.state = State::Done;
            return true;
        }
        let scan = scan_object(&self.pending, self.family.args_key());
        if scan.bad {
            self.state = State::Done;
            return true;
        }
        if !self.started {
            let Some(name) = scan.name.clone() else { return self.close_call(&scan, out) };
            let index = self.calls.len();
            let id = call_id(self.seed, index);
            self.calls.push(ToolCall { id: id.clone(), name: name.clone(), arguments: String::new() });
            out.push(ToolDelta::Start { index, id, name });
            self.started = true;
        }
        if let Some((start, end)) = scan.args {
            let upto = end.unwrap_or(self.pending.len());
            if upto > start + self.sent_args {
                let fragment = self.pending[start + self.sent_args..upto].to_string();
                self.sent_args = upto - start;
                let index = self.calls.len() - 1;
                self.calls[index].arguments += &fragment;
                out.push(ToolDelta::Arguments { index, fragment });
            }
        }
        self.close_call(&scan, out)
    }

    /// When the object is complete: the call ends (a call without arguments has `{}`).
    fn close_call(&mut self, scan: &Scan, out: &mut Vec<ToolDelta>) -> bool {
        let Some(end) = scan.end else { return false };
        if !self.started {
            // An object without a name is no call.
            self.state = State::Done;
            return true;
        }
        let index = self.calls.len() - 1;
        if scan.args.is_none() {
            self.calls[index].arguments = "{}".into();
            out.push(ToolDelta::Arguments { index, fragment: "{}".into() });
        }
        self.pending.drain(..end);
        self.state = State::Between;
        true
    }

    fn between(&mut self) -> bool {
        let body = self.pending.trim_start();
        if body.is_empty() {
            return false;
        }
        let lead = self.pending.len() - body.len();
        match self.family {
            ToolFamily::Hermes => {
                const CLOSE: &str = "</tool_call>";
                if body.starts_with(CLOSE) {
                    self.pending.drain(..lead + CLOSE.len());
                    self.state = State::Text;
                } else if CLOSE.starts_with(body) {
                    return false;
                } else {
                    self.state = State::Text;
                }
            }
            ToolFamily::Mistral | ToolFamily::Generic => {
                if body.starts_with(',') {
                    self.pending.drain(..lead + 1);
                    self.after_separator();
                } else {
                    self.state = State::Done;
                }
            }
            ToolFamily::Llama3 => {
                if body.starts_with(';') {
                    self.pending.drain(..lead + 1);
                    self.after_separator();
                } else if body.starts_with('{') {
                    self.after_separator();
                } else {
                    self.state = State::Done;
                }
            }
        }
        true
    }
}

/// Nine letters and digits from the seed and the call's index (splitmix64 of both, so that the
/// ids of one reply share no run of characters).
fn call_id(seed: u64, index: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mix = |mut x: u64| {
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        x ^ (x >> 31)
    };
    let mut z = mix(seed ^ mix(index as u64 + 1));
    (0..9)
        .map(|_| {
            z = mix(z);
            ALPHABET[(z % ALPHABET.len() as u64) as usize] as char
        })
        .collect()
}

/// What is known of a call object so far.
#[derive(Debug, Default)]
struct Scan {
    /// The function's name, once its string is complete.
    name: Option<String>,
    /// Where the arguments' value starts, and ends once complete.
    args: Option<(usize, Option<usize>)>,
    /// Just past the object's `}`.
    end: Option<usize>,
    /// Not a JSON object.
    bad: bool,
}

/// Scans the object at the start of `s` (which starts with `{`), as far as it goes.
fn scan_object(s: &str, args_key: &str) -> Scan {
    let b = s.as_bytes();
    let mut scan = Scan::default();
    let ws = |i: &mut usize| {
        while *i < b.len() && b[*i].is_ascii_whitespace() {
            *i += 1;
        }
    };
    let mut i = 1;
    let mut first = true;
    loop {
        ws(&mut i);
        if i >= b.len() {
            return scan;
        }
        if b[i] == b'}' {
            scan.end = Some(i + 1);
            return scan;
        }
        if !first {
            if b[i] != b',' {
                scan.bad = true;
                return scan;
            }
            i += 1;
            ws(&mut i);
            if i >= b.len() {
                return scan;
            }
        }
        first = false;
        if b[i] != b'"' {
            scan.bad = true;
            return scan;
        }
        let Some(key_end) = value_end(b, i) else { return scan };
        let key: String = match serde_json::from_str(&s[i..key_end]) {
            Ok(k) => k,
            Err(_) => {
                scan.bad = true;
                return scan;
            }
        };
        i = key_end;
        ws(&mut i);
        if i >= b.len() {
            return scan;
        }
        if b[i] != b':' {
            scan.bad = true;
            return scan;
        }
        i += 1;
        ws(&mut i);
        if i >= b.len() {
            return scan;
        }
        let end = value_end(b, i);
        if key == args_key || (key == "arguments" || key == "parameters") && scan.args.is_none() {
            scan.args = Some((i, end));
        } else if key == "name" {
            if let Some(e) = end {
                scan.name = serde_json::from_str::<String>(&s[i..e]).ok();
            }
        }
        match end {
            Some(e) => i = e,
            None => return scan,
        }
    }
}

/// Where the JSON value at `b[i]` ends (exclusive); `None` while it may still grow.
fn value_end(b: &[u8], i: usize) -> Option<usize> {
    match b[i] {
        b'"' => {
            let mut j = i + 1;
            while j < b.len() {
                match b[j] {
                    b'\\' => j += 2,
                    b'"' => return Some(j + 1),
                    _ => j += 1,
                }
            }
            None
        }
        b'{' | b'[' => {
            let (mut depth, mut in_str, mut esc) = (0usize, false, false);
            for (j, &c) in b.iter().enumerate().skip(i) {
                if in_str {
                    match (esc, c) {
                        (true, _) => esc = false,
                        (false, b'\\') => esc = true,
                        (false, b'"') => in_str = false,
                        _ => {}
                    }
                    continue;
                }
                match c {
                    b'"' => in_str = true,
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
            }
            None
        }
        // A number or a literal ends at the first byte that cannot continue it.
        _ => (i..b.len()).find(|&j| !(b[j].is_ascii_alphanumeric() || b"+-.".contains(&b[j]))),
    }
}
