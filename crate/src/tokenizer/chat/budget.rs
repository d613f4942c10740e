//! One render's environment and budgets: the check filters that the rewritten instructions
//! call (rewrite.rs), the budget of work, output and value size they share, and the tables of
//! which filters, tests and methods are charged how.

use super::*;

/// The environment of one render: transformers' configuration, the checks that the rewritten
/// instructions call (`__gw_pre_rev:<class>`, `__gw_pre_ord:<class>`, `__gw_post`) sharing one
/// [`Budget`], and a formatter that counts every emitted byte.
pub(super) fn environment<'s>(budget: &Arc<Budget>, fuel: u64, recursion: usize) -> Environment<'s> {
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
    env.add_filter("tojson", super::pyjson::tojson);
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
pub(super) enum Trip {
    Work,
    Output,
    Value,
}

/// One render's budgets of work, output and value size, and which one ran out first.
pub(super) struct Budget {
    pub(super) work: AtomicI64,
    pub(super) work_limit: u64,
    pub(super) emitted: AtomicUsize,
    pub(super) max_output: usize,
    pub(super) max_value: usize,
    pub(super) max_nodes: usize,
    pub(super) max_depth: usize,
    pub(super) tripped: Mutex<Option<Trip>>,
}

#[derive(Default, Clone, Copy)]
pub(super) struct Size {
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
pub(super) const SHALLOW_FILTERS: &[&str] =
    &["length", "count", "first", "last", "list", "reverse", "default", "d", "attr", "items", "bool", "abs", "int", "float", "round"];
pub(super) const SHALLOW_METHODS: &[&str] = &["items", "keys", "values", "get"];
/// Filters that sort or deduplicate (n log n comparisons, charged 16 per byte and item).
pub(super) const SORTING_FILTERS: &[&str] = &["sort", "unique", "dictsort", "groupby"];

/// The size of a string, or a container's number of items, without walking it.
pub(super) fn shallow(v: &Value) -> Size {
    match (v.as_str(), v.as_bytes()) {
        (Some(s), _) => Size { bytes: s.len(), nodes: 1, depth: 0 },
        (None, Some(b)) => Size { bytes: b.len(), nodes: 1, depth: 0 },
        _ => Size { bytes: 0, nodes: if v.as_object().is_some() { v.len().unwrap_or(1) } else { 1 }, depth: 0 },
    }
}

/// Filters that can build much more than they are given; `map` and `select` may not apply them.
pub(super) const AMPLIFIERS: &[&str] = &["join", "replace", "indent", "format", "tojson", "pprint", "batch", "slice", "map", "urlencode"];

/// The largest number written in a format string (a width or precision), capped.
pub(super) fn widest_number(fmt: &str) -> usize {
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
pub(super) const POST: &str = "__gw_post";

/// The classes of checks and the names of their filters (reversing the arguments for
/// `UnpackList`, or keeping their order for `UnpackLists`).
pub(super) const CHECKS: &[(&str, &str, &str)] = &[
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
pub(super) fn check_names(class: &str) -> (&'static str, &'static str) {
    let c = CHECKS.iter().find(|c| c.0 == class).or_else(|| CHECKS.iter().find(|c| c.0 == "scan")).expect("the scan check");
    (c.1, c.2)
}

/// The class of the check before a call of `name`.
pub(super) fn call_class(prefix: &str, name: &str) -> &'static str {
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
