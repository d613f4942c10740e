//! Hostile chat templates end in a typed error within 2 s and leave the template usable; real
//! templates render exactly as plain minijinja renders them (the bounds rewrite the compiled
//! template, so this is checked on real and realistic templates, long conversations included).

mod common;
use common::*;
use gguf_web::gguf::{FileSource, Gguf};
use gguf_web::tokenizer::chat::{ChatMessage, ChatTemplate, TemplateError, MAX_ERROR_MESSAGE};
use gguf_web::tokenizer::Tokenizer;
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(2);

/// A template that renders ChatML unless the first message says "attack", then runs `attack`.
fn armed(attack: &str) -> String {
    format!(
        "{{% if messages[0].content == 'attack' %}}{attack}{{% else %}}{{% for m in messages %}}<|im_start|>{{{{ m.role }}}}\n\
         {{{{ m.content }}}}<|im_end|>\n{{% endfor %}}{{% if add_generation_prompt %}}<|im_start|>assistant\n{{% endif %}}{{% endif %}}"
    )
}

fn normal_chat() -> Vec<ChatMessage> {
    vec![ChatMessage::new("user", "hello"), ChatMessage::new("assistant", "hi"), ChatMessage::new("user", "how are you?")]
}

const NORMAL: &str = "<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\nhi<|im_end|>\n<|im_start|>user\nhow are you?<|im_end|>\n<|im_start|>assistant\n";

/// Runs `attack` and checks it fails with `kind` within the limit, with a capped message, and that
/// the same template then renders a normal chat.
fn hostile(name: &str, attack: &str, kind: fn(&TemplateError) -> bool) {
    let t = ChatTemplate::new(Some(&armed(attack)), "llama", "<s>", "</s>").unwrap_or_else(|e| panic!("{name}: {e}"));
    let t0 = Instant::now();
    let r = t.render(&[ChatMessage::new("user", "attack")], true);
    let dt = t0.elapsed();
    println!("{name}: {:?} in {:.3} s", r.as_ref().map(|s| s.len()).map_err(|e| e.to_string()), dt.as_secs_f64());
    let e = match r {
        Ok(s) => panic!("{name}: rendered {} bytes instead of failing", s.len()),
        Err(e) => e,
    };
    assert!(kind(&e), "{name}: unexpected error {e:?}");
    assert!(dt < LIMIT, "{name}: took {dt:?}");
    assert!(e.to_string().len() <= MAX_ERROR_MESSAGE + 200, "{name}: message of {} bytes", e.to_string().len());
    assert_eq!(t.render(&normal_chat(), true).unwrap(), NORMAL, "{name}: the template renders normally afterwards");
}

fn fuel(e: &TemplateError) -> bool {
    matches!(e, TemplateError::OutOfFuel(_))
}
fn value(e: &TemplateError) -> bool {
    matches!(e, TemplateError::ValueTooLarge(_))
}
fn output(e: &TemplateError) -> bool {
    matches!(e, TemplateError::OutputTooLarge(_))
}
fn failed(e: &TemplateError) -> bool {
    matches!(e, TemplateError::Failed(_))
}

#[test]
fn nested_loops_run_out_of_fuel() {
    hostile("nested loops", "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}", fuel);
    hostile(
        "triple loops",
        "{% for a in range(100000) %}{% for b in range(100000) %}{% for c in range(100000) %}{% set x = a %}{% endfor %}{% endfor %}{% endfor %}",
        fuel,
    );
    hostile("loop over a repeated list", "{% for a in range(100000) * 100 %}{% endfor %}", |e| fuel(e) || value(e));
}

#[test]
fn exponential_strings_are_stopped() {
    hostile(
        "doubling with ~",
        "{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}",
        value,
    );
    hostile(
        "doubling with +",
        "{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s|length }}",
        value,
    );
    // (`n` is 1, but not a constant: constants are checked when the template loads, below.)
    hostile("string times a billion", "{% set n = messages|length %}{{ ('x' * (n * 1000000000))|length }}", value);
    hostile("string times 10**8", "{% set n = messages|length %}{% set s = 'x' * n * 10**8 %}{{ s|length }}", value);
    hostile(
        "doubling lists",
        "{% set ns = namespace(l=[1]) %}{% for i in range(64) %}{% set ns.l = ns.l + ns.l %}{% endfor %}{{ ns.l|length }}",
        value,
    );
    hostile(
        "list times n",
        "{% set ns = namespace(l=[1]) %}{% for i in range(64) %}{% set ns.l = ns.l * 2 %}{% endfor %}{{ ns.l|length }}",
        value,
    );
    hostile(
        "shared nested lists",
        "{% set ns = namespace(l=['xxxxxxxx']) %}{% for i in range(64) %}{% set ns.l = [ns.l, ns.l] %}{% endfor %}{{ ns.l == ns.l }}",
        value,
    );
    hostile(
        "shared nested maps",
        "{% set ns = namespace(m={}) %}{% for i in range(64) %}{% set ns.m = {'a': ns.m, 'b': ns.m} %}{% endfor %}{{ ns.m|tojson }}",
        value,
    );
    hostile("join with a huge separator", "{{ range(100000)|join('x' * 100000) }}", value);
    hostile("join method", "{{ ('y' * 100000).join(range(100000)|map('string')) }}", value);
    hostile("replace multiplies", "{% set s = 'a' * 100000 %}{{ s|replace('a', 'b' * 100000) }}", value);
    hostile("replace method", "{% set s = 'a' * 100000 %}{{ s.replace('a', 'b' * 100000) }}", value);
    hostile("replace of the empty string", "{% set s = 'a' * 100000 %}{{ s.replace('', 'b' * 100000) }}", value);
    hostile("splatted join separator", "{{ range(100000)|join(*['x' * 100000]) }}", value);
    hostile("splatted replace", "{% set s = 'a' * 100000 %}{{ s.replace(*['a', 'b' * 100000]) }}", value);
    hostile("indent", "{{ ('\n' * 100000)|indent(100000) }}", value);
    hostile("format width", "{{ '%1000000000s'|format('x') }}", value);
    hostile("str.format width", "{{ '{:>1000000000}'.format('x') }}", value);
    hostile("tojson indent", "{{ range(100000)|list|tojson(indent=100000) }}", value);
    hostile("batch fill", "{{ [1]|batch(1000000000, 'x')|list|length }}", value);
    hostile("map with an amplifier", "{{ range(1000)|map('string')|map('replace', '1', 'x' * 100000)|list|length }}", value);
    hostile("cycle through a namespace", "{% set ns = namespace() %}{% set ns.me = ns %}{{ ns == ns }}", value);
}

#[test]
fn work_per_instruction_is_charged() {
    // Each instruction is cheap in fuel but scans half a megabyte.
    hostile(
        "comparing big strings",
        "{% set a = 'x' * 500000 %}{% set b = 'x' * 500000 %}{% for i in range(100000) %}{% if a == b %}{% endif %}{% endfor %}",
        fuel,
    );
    hostile(
        "searching big strings",
        "{% set a = 'x' * 500000 %}{% for i in range(100000) %}{% if 'y' in a %}{% endif %}{% endfor %}",
        fuel,
    );
    hostile("slicing big strings", "{% set a = 'x' * 500000 %}{% for i in range(100000) %}{% set b = a[::-1] %}{% endfor %}", fuel);
    hostile("indexing big strings", "{% set a = 'x' * 500000 %}{% for i in range(100000) %}{% set b = a[499999] %}{% endfor %}", fuel);
    hostile("filters over big strings", "{% set a = 'x' * 500000 %}{% for i in range(100000) %}{% set b = a|upper %}{% endfor %}", fuel);
    hostile("methods over big strings", "{% set a = 'x' * 500000 %}{% for i in range(100000) %}{% set b = a.strip() %}{% endfor %}", fuel);
}

/// Every operation repeated 100,000 times over half a megabyte (or 100,000 items) runs out of its
/// budget in time, whatever it costs per byte: the costly ones are charged more.
#[test]
fn repeated_operations_over_big_values_end_in_time() {
    let ops = [
        "a == c",
        "a in c",
        "a < c",
        "a ~ ''",
        "a + ''",
        "a[::-1]",
        "a[::2]",
        "a[1:]",
        "a[250000]",
        "a|reverse",
        "a|title",
        "a.title()",
        "a|capitalize",
        "a|lines",
        "a|e",
        "a|string",
        "a|trim",
        "a|length",
        "a|lower",
        "a.split('x')",
        "a.count('y')",
        "a.find('y')",
        "a.splitlines()",
        "a|list|length",
        "a|replace('x', 'y')",
        "a.replace('x', 'yy')",
        "a|indent(2)",
        "a|tojson",
        "l == m",
        "5 in l",
        "l|sort|length",
        "l|unique|length",
        "l|string|length",
        "l|join|length",
        "l|tojson|length",
        "l|sum",
        "l|max",
        "l|first",
        "l|last",
        "l|map('string')|list|length",
        "l|select('odd')|list|length",
        "l|reverse|list|length",
        "l[50000:]|length",
        "l + m",
        "[l, m]",
        "{'a': l}",
        "l|batch(3)|list|length",
        "s|lower",
        "s|join|length",
    ];
    for op in ops {
        hostile(
            op,
            &format!(
                "{{% set n = messages|length %}}{{% set a = 'x' * n * 500000 %}}{{% set c = 'x' * n * 500000 %}}\
                 {{% set l = range(100000)|list %}}{{% set m = range(100000)|list %}}{{% set s = ['x' * 100] * 1000 %}}\
                 {{% for i in range(100000) %}}{{% set b = {op} %}}{{% endfor %}}"
            ),
            |e| fuel(e) || value(e),
        );
    }
}

#[test]
fn recursion_and_nesting_are_bounded() {
    hostile("self-calling macro", "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", failed);
    hostile(
        "branching recursion",
        "{% macro f(n) %}{% if n < 12 %}{{ f(n + 1) }}{{ f(n + 1) }}{{ f(n + 1) }}{{ f(n + 1) }}{% endif %}{% endmacro %}{{ f(0) }}",
        |e| fuel(e) || output(e),
    );
    hostile("recursive loop", "{% for x in [[1]] recursive %}{{ loop([x]) }}{% endfor %}", |e| failed(e) || fuel(e));
    hostile(
        "deeply nested lists",
        "{% set ns = namespace(l=[]) %}{% for i in range(100000) %}{% set ns.l = [ns.l] %}{% endfor %}{{ ns.l }}",
        value,
    );
    // Nesting in the source is refused by the parser, at load.
    for (what, src) in [
        ("parentheses", format!("{{{{ {}1{} }}}}", "(".repeat(5000), ")".repeat(5000))),
        ("lists", format!("{{{{ {}1{} }}}}", "[".repeat(5000), "]".repeat(5000))),
        ("if blocks", format!("{}x{}", "{% if true %}".repeat(5000), "{% endif %}".repeat(5000))),
    ] {
        let t0 = Instant::now();
        let r = ChatTemplate::new(Some(&src), "llama", "", "");
        assert!(matches!(r, Err(TemplateError::Parse(_))), "{what}: {:?}", r.err());
        assert!(t0.elapsed() < LIMIT, "{what}: {:?}", t0.elapsed());
    }
}

/// The deepest recursion minijinja allows fits in a WebAssembly-sized stack (1 MiB): run natively
/// in a thread with that stack, an overflow would abort the test.
#[test]
fn deepest_recursion_fits_a_small_stack() {
    let attacks = [
        "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
        "{% macro f(n) %}{% for x in [n] %}{% if true %}{% filter upper %}{{ f(n + 1) }}{% endfilter %}{% endif %}{% endfor %}{% endmacro %}{{ f(0) }}",
        "{% for x in [[1]] recursive %}{{ loop([x]) }}{% endfor %}",
        "{% macro f(n) %}{% call f(n + 1) %}{{ caller() }}{% endcall %}{% endmacro %}{{ f(0) }}",
    ];
    std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(move || {
            for a in attacks {
                let t = ChatTemplate::new(Some(a), "llama", "", "").unwrap();
                let e = t.render(&[], true).unwrap_err();
                println!("{a}: {e}");
            }
        })
        .unwrap()
        .join()
        .unwrap();
}

#[test]
fn huge_outputs_and_errors_are_capped() {
    hostile("huge output", "{% for i in range(100000) %}{{ 'y' * 1000 }}{% endfor %}", output);
    hostile("huge raw output", &format!("{{% for i in range(100000) %}}{}{{% endfor %}}", "z".repeat(1000)), output);
    hostile(
        "huge captured output",
        &format!("{{% for i in range(100000) %}}{{% set x %}}{}{{% endset %}}{{% endfor %}}", "z".repeat(1000)),
        output,
    );
    hostile("huge error", "{{ raise_exception('e' * 500000) }}", failed);
    hostile("error over the value cap", "{{ raise_exception('e' * (messages|length) * 100000000) }}", value);
    // The largest template accepted, made of many small expressions, loads and renders in time.
    let many = "{% if messages %}{{ messages[0].role ~ '|' }}{% endif %}".repeat((1 << 20) / 56);
    let t0 = Instant::now();
    let t = ChatTemplate::new(Some(&many), "llama", "", "").unwrap();
    let out = t.render(&normal_chat(), true).unwrap();
    println!("1 MiB of expressions: {} bytes out in {:.3} s", out.len(), t0.elapsed().as_secs_f64());
    assert!(t0.elapsed() < LIMIT);
    // A template bigger than the source cap is refused at load.
    let big = "x".repeat(2 << 20);
    assert!(matches!(ChatTemplate::new(Some(&big), "llama", "", ""), Err(TemplateError::Parse(_))));
    // A parse error in a huge template keeps a short message.
    let e = ChatTemplate::new(Some(&format!("{{{{ {} ", "a".repeat(900_000))), "llama", "", "").err().unwrap();
    assert!(e.to_string().len() <= MAX_ERROR_MESSAGE + 200, "{} bytes", e.to_string().len());
}

/// minijinja folds constant expressions while compiling, before any render: those that would
/// build large strings are refused at load.
#[test]
fn folded_constants_are_bounded() {
    let many = "{{ 'x' * 900000 }}".repeat(40);
    for src in [
        "{{ 'x' * 100000000 }}",
        "{{ ('x' * 100000000) ~ ('y' * 100000000) }}",
        "{% set s = 'x' * 10**8 %}",
        "{{ ['x' * 10**8] }}",
        "{% if messages %}{{ ('x' * 600000 ~ 'y' * 600000) }}{% endif %}",
        &many,
    ] {
        let t0 = Instant::now();
        let r = ChatTemplate::new(Some(src), "llama", "", "");
        let dt = t0.elapsed();
        println!("{}: {:?} in {:.3} s", &src[..src.len().min(60)], r.as_ref().err(), dt.as_secs_f64());
        assert!(matches!(r, Err(TemplateError::Parse(_))), "{src:.60}");
        assert!(dt < LIMIT);
    }
    // Small constants still fold as before.
    let t = ChatTemplate::new(Some("{{ 'ab' * 3 ~ '-' ~ (2 ** 10) }}"), "llama", "", "").unwrap();
    assert_eq!(t.render(&[], true).unwrap(), "ababab-1024");
}

/// The reference: minijinja as the template rendered before the bounds (no rewriting, no fuel).
fn plain(source: &str, msgs: &[ChatMessage], bos: &str, eos: &str) -> String {
    let mut env = minijinja::Environment::new();
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    env.add_function("raise_exception", |msg: String| -> Result<minijinja::Value, minijinja::Error> {
        Err(minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, msg))
    });
    // transformers' `tojson` (Python's json.dumps), which the bounded render also uses.
    env.add_filter("tojson", gguf_web::tokenizer::chat::tojson);
    env.add_template_owned("chat", source.to_string()).unwrap();
    env.get_template("chat")
        .unwrap()
        .render(minijinja::context! { messages => msgs, add_generation_prompt => true, bos_token => bos, eos_token => eos })
        .unwrap()
}

fn conversation(n: usize, with_system: bool) -> Vec<ChatMessage> {
    let mut v = Vec::new();
    if with_system {
        v.push(ChatMessage::new("system", "You are a careful assistant. Answer briefly."));
    }
    for i in 0..n {
        let role = if i % 2 == 0 { "user" } else { "assistant" };
        let content = format!("  message {i}: {} <think>a thought</think> and the end. ", "lorem ipsum dolor sit amet ".repeat(1 + i % 7));
        v.push(ChatMessage::new(role, &content));
    }
    v
}

/// Realistic templates in the styles of popular models (not copies): loops with `loop` variables,
/// namespaces, slicing, Python methods, filters, tests, macros, captures and `raise_exception` on
/// a path not taken.
const REALISTIC: &[(&str, &str)] = &[
    (
        "llama3-style",
        "{{- bos_token }}{%- if messages[0]['role'] == 'system' %}{%- set system_message = messages[0]['content']|trim %}\
         {%- set messages = messages[1:] %}{%- else %}{%- set system_message = '' %}{%- endif %}\
         {{- '<|start_header_id|>system<|end_header_id|>\\n\\n' }}{{- 'Cutting Knowledge Date: December 2023\\n\\n' }}\
         {{- system_message }}{{- '<|eot_id|>' }}{%- for message in messages %}\
         {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' }}\
         {%- endfor %}{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}",
    ),
    (
        "qwen-style",
        "{%- if messages[0].role == 'system' %}{{- '<|im_start|>system\\n' + messages[0].content + '<|im_end|>\\n' }}\
         {%- else %}{{- '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{%- endif %}\
         {%- set ns = namespace(multi_step_tool=true, last_query_index=messages|length - 1) %}\
         {%- for message in messages[::-1] %}{%- set index = (messages|length - 1) - loop.index0 %}\
         {%- if ns.multi_step_tool and message.role == 'user' %}{%- set ns.multi_step_tool = false %}{%- set ns.last_query_index = index %}{%- endif %}\
         {%- endfor %}{%- for message in messages %}{%- if message.role == 'system' and loop.first %}{%- elif message.role == 'assistant' %}\
         {%- set content = message.content %}{%- if '</think>' in content %}\
         {%- set reasoning = content.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') %}\
         {%- set content = content.split('</think>')[-1].lstrip('\\n') %}{%- endif %}\
         {%- if loop.index0 > ns.last_query_index and reasoning is defined %}\
         {{- '<|im_start|>' + message.role + '\\n<think>\\n' + reasoning.strip('\\n') + '\\n</think>\\n\\n' + content.lstrip('\\n') }}\
         {%- else %}{{- '<|im_start|>' + message.role + '\\n' + content }}{%- endif %}{{- '<|im_end|>\\n' }}\
         {%- else %}{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}{%- endif %}{%- endfor %}\
         {%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}",
    ),
    (
        "mistral-style",
        "{%- if messages[0]['role'] == 'system' %}{%- set system_message = messages[0]['content'] %}{%- set loop_messages = messages[1:] %}\
         {%- else %}{%- set loop_messages = messages %}{%- endif %}{{- bos_token }}{%- for message in loop_messages %}\
         {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}\
         {{- raise_exception('After the optional system message, conversation roles must alternate user/assistant/user/assistant...') }}\
         {%- endif %}{%- if message['role'] == 'user' %}{%- if loop.first and system_message is defined %}\
         {{- ' [INST] ' + system_message + '\\n\\n' + message['content'] + ' [/INST]' }}{%- else %}{{- ' [INST] ' + message['content'] + ' [/INST]' }}\
         {%- endif %}{%- elif message['role'] == 'assistant' %}{{- ' ' + message['content']|trim + eos_token}}\
         {%- else %}{{- raise_exception('Only user and assistant roles are supported!') }}{%- endif %}{%- endfor %}",
    ),
    (
        "macros-and-captures",
        "{%- macro render(m, last) -%}{%- set body -%}{{ m.content | trim | replace('lorem', 'LOREM') }}{%- endset -%}\
         <{{ m.role | upper }}{% if last %} last{% endif %}>{{ body }}</{{ m.role }}>\n{%- endmacro -%}\
         {%- set users = messages | selectattr('role', 'equalto', 'user') | list -%}\
         {{ users | length }} user turns; roles: {{ messages | map(attribute='role') | unique | join(', ') }}\n\
         {%- for m in messages -%}{{ render(m, loop.last) }}{%- endfor -%}\
         {{ {'n': messages|length, 'first': messages[0].role, 'words': (messages[-1].content.split()|length)} | tojson }}\n\
         {{ messages[-1].content[:20] ~ '...' ~ messages[-1].content[-10:] }} {{ '%s-%d' | format('x', 3) }} {{ '{}/{}'.format(1, 2) }}\
         {%- for chunk in messages | batch(3) %}[{{ chunk | length }}]{% endfor %}\
         {{ messages | length is divisibleby(2) }} {{ (messages|length) ** 2 }} {{ 'abc' * 2 }} {{ [1, 2] + [3] }} {{ 'a' in 'cat' }}\
         {%- if add_generation_prompt %}<ASSISTANT>{% endif %}",
    ),
];

#[test]
fn real_templates_render_as_before() {
    let smol = {
        let g = Gguf::read(&FileSource::open(model(SMOLLM)).unwrap()).unwrap();
        g.get_str("tokenizer.chat_template").unwrap().unwrap().to_string()
    };
    let mut sources: Vec<(&str, String)> = vec![("smollm2", smol)];
    sources.extend(REALISTIC.iter().map(|(n, s)| (*n, s.to_string())));
    for (name, src) in &sources {
        let t = ChatTemplate::new(Some(src), "llama", "<s>", "</s>").unwrap_or_else(|e| panic!("{name}: {e}"));
        for (n, sys) in [(1, false), (2, true), (7, false), (200, true), (200, false)] {
            let msgs = conversation(n, sys);
            let want = plain(src, &msgs, "<s>", "</s>");
            let t0 = Instant::now();
            let (got, stats) = t.render_with_stats(&msgs, true).unwrap_or_else(|e| panic!("{name} with {n} messages: {e}"));
            let dt = t0.elapsed();
            assert_eq!(got, want, "{name} with {n} messages");
            if n == 200 {
                println!(
                    "{name}: {n} messages, {} bytes: fuel {}, work {}, emitted {} in {:.2} ms",
                    got.len(),
                    stats.fuel,
                    stats.work,
                    stats.emitted,
                    dt.as_secs_f64() * 1e3
                );
            }
        }
    }
    // The built-in fallbacks too.
    for arch in ["gemma3", "llama"] {
        let t = ChatTemplate::new(None, arch, "", "").unwrap();
        let (got, stats) = t.render_with_stats(&conversation(200, true), true).unwrap();
        println!("builtin for {arch}: 200 messages, {} bytes: fuel {}, work {}", got.len(), stats.fuel, stats.work);
    }
}

/// The conversations of tests/fixtures/chat.json render as their references (also checked by
/// tokenizer_llamacpp against the models' own templates).
#[test]
fn fixture_conversations_render_as_references() {
    let fx = json(&fixtures().join("chat.json"));
    let g = Gguf::read(&FileSource::open(model(SMOLLM)).unwrap()).unwrap();
    let tok = Tokenizer::from_gguf(&g).unwrap();
    let smol = tok.chat_template(&g).unwrap();
    let gemma = ChatTemplate::new(None, "gemma3", "<bos>", "<eos>").unwrap();
    for (key, t) in [("smollm2", &smol), ("gemma3", &gemma)] {
        for c in fx[key].as_array().unwrap() {
            let msgs: Vec<ChatMessage> = serde_json::from_value(c["messages"].clone()).unwrap();
            let got = t.render(&msgs, c["add_generation_prompt"].as_bool().unwrap()).unwrap();
            assert_eq!(got, c["rendered"].as_str().unwrap(), "{key}");
        }
    }
}

/// A long conversation with long messages is not hostile: the caps grow with the input.
#[test]
fn long_inputs_fit_their_caps() {
    let t = ChatTemplate::new(None, "llama", "", "").unwrap();
    let msgs: Vec<ChatMessage> =
        (0..2000).map(|i| ChatMessage::new(if i % 2 == 0 { "user" } else { "assistant" }, &"word ".repeat(500))).collect();
    let t0 = Instant::now();
    let out = t.render(&msgs, true).unwrap();
    println!("2000 messages of 2.5 KB: {} bytes in {:.1} ms", out.len(), t0.elapsed().as_secs_f64() * 1e3);
    assert!(out.len() > 5_000_000);
}

/// `gguf-web generate --chat` on a GGUF whose template never ends (as measured before the bounds)
/// exits with one clear error line quickly, before any weights load.
#[test]
fn cli_generate_chat_with_a_hostile_template_fails_quickly() {
    use gguf_web::gguf::{GgufWriter, Value};
    let dir = std::env::temp_dir().join(format!("gguf-web-template-bounds-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, template, what) in [
        ("loops", "{% for a in range(100000) %}{% for b in range(100000) %}{{ '' }}{% endfor %}{% endfor %}", "ran out of fuel"),
        ("doubling", "{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}", "too large"),
        ("output", "{% for i in range(100000) %}{{ 'y' * 1000 }}{% endfor %}", "output is too large"),
    ] {
        let mut w = GgufWriter::new();
        w.add("general.architecture", Value::String("llama".into()));
        common::tiny::add_tiny_bpe_vocab(&mut w);
        w.add("tokenizer.chat_template", Value::String(template.into()));
        let p = dir.join(format!("{name}.gguf"));
        std::fs::write(&p, w.to_bytes()).unwrap();
        let t0 = Instant::now();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_gguf-web"))
            .args(["generate", "--model", p.to_str().unwrap(), "--prompt", "hi", "--chat", "--max-tokens", "1", "--backend", "cpu"])
            .output()
            .unwrap();
        let dt = t0.elapsed();
        let err = String::from_utf8_lossy(&out.stderr);
        println!("{name}: exit {:?} in {:.3} s: {}", out.status.code(), dt.as_secs_f64(), err.trim_end());
        assert!(!out.status.success(), "{name}: should fail");
        assert_ne!(out.status.code(), Some(101), "{name}: panicked: {err}");
        assert!(err.starts_with("error: ") && err.contains("chat template") && err.contains(what), "{name}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{name}: one line: {err}");
        assert!(dt < LIMIT, "{name}: took {dt:?}");
    }
}

// The tokenizer's bounds: caps on hostile vocabularies, named in the error, and work linear in the
// input on pathological texts.

fn vocab_gguf(tokens: Vec<String>, types: Option<Vec<i32>>, merges: Option<Vec<String>>) -> Result<Tokenizer, String> {
    use gguf_web::gguf::{Array, GgufWriter, Value};
    let mut w = GgufWriter::new();
    w.add("general.architecture", Value::String("llama".into()))
        .add("tokenizer.ggml.model", Value::String(if merges.is_some() { "gpt2" } else { "llama" }.into()))
        .add("tokenizer.ggml.tokens", Value::Array(Array::String(tokens)));
    if let Some(t) = types {
        w.add("tokenizer.ggml.token_type", Value::Array(Array::I32(t)));
    }
    if let Some(m) = merges {
        w.add("tokenizer.ggml.merges", Value::Array(Array::String(m)));
    }
    let dir = std::env::temp_dir().join(format!("gguf-web-vocab-bounds-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(format!("v{}.gguf", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()));
    std::fs::write(&p, w.to_bytes()).unwrap();
    let g = Gguf::read(&FileSource::open(&p).unwrap()).unwrap();
    Tokenizer::from_gguf(&g).map_err(|e| e.to_string())
}

#[test]
fn hostile_vocabularies_are_refused_by_name() {
    use gguf_web::tokenizer::vocab::{MAX_SPECIAL_TOKENS, MAX_TOKEN_BYTES};
    let base = || -> Vec<String> { ["<unk>", "<s>", "</s>", "a", "b"].iter().map(|s| s.to_string()).collect() };
    let mut long = base();
    long.push("x".repeat(MAX_TOKEN_BYTES + 1));
    let e = vocab_gguf(long, None, None).err().unwrap();
    assert!(e.contains("tokenizer.ggml.tokens[5]") && e.contains("limit"), "{e}");

    let mut many = base();
    many.extend((0..=MAX_SPECIAL_TOKENS).map(|i| format!("<u{i}>")));
    let types = (0..many.len()).map(|i| if i < 5 { 1 } else { 4 }).collect();
    let e = vocab_gguf(many, Some(types), None).err().unwrap();
    assert!(e.contains("special") && e.contains("limits"), "{e}");

    let e = vocab_gguf(base(), None, Some(vec![format!("a {}", "b".repeat(2 * MAX_TOKEN_BYTES + 1))])).err().unwrap();
    assert!(e.contains("tokenizer.ggml.merges[0]"), "{e}");
}

/// Encoding time grows about linearly with pathological inputs (runs without spaces, whitespace
/// runs, digits, punctuation and newlines, combining marks): 16x the text costs at most 48x the
/// time (linear would be 16x, quadratic 256x; the margin is for timing noise and BPE's log factor
/// on one long word). The best of two runs is taken.
#[test]
fn encoding_pathological_text_is_linear() {
    let g = Gguf::read(&FileSource::open(model(SMOLLM)).unwrap()).unwrap();
    let tok = Tokenizer::from_gguf(&g).unwrap();
    for unit in ["a", " ", "1", "!\n", "a\u{301}", "\t ", "<|im_start|>"] {
        let time = |bytes: usize| {
            let text = unit.repeat(bytes / unit.len());
            let mut best = f64::MAX;
            let mut n = 0;
            for _ in 0..2 {
                let t0 = Instant::now();
                n = tok.encode(&text, false, true).unwrap().len();
                best = best.min(t0.elapsed().as_secs_f64());
            }
            (best, n)
        };
        let (small, _) = time(64 << 10);
        let (big, n) = time(1 << 20);
        println!("{unit:?}: 64 KiB {:.4} s, 1 MiB {:.3} s ({n} ids), ratio {:.1}", small, big, big / small.max(1e-4));
        assert!(big < 48.0 * small.max(0.002), "{unit:?}: 16x the text took {:.1}x the time", big / small);
    }
}
