#!/usr/bin/env python3
"""Seed corpora for the fuzz targets, from the real and generated models (models/, models/gen/) and the
test fixtures. Usage: make_seeds.py MODELS_DIR FIXTURES_DIR OUT_DIR; writes OUT_DIR/<target>/<name>.

- gguf_header: the first 4 KiB of every model (a truncated header), and small whole headers (below);
- tokenizer_meta: each model's tokenizer metadata (every tokenizer.* key, the chat template included)
  with the vocabulary cut to its first 320 tokens and the merges among them, as a header-only GGUF;
- chat_template: every distinct template of the models plus the built-in ones, with conversations
  from tests/fixtures/prompts.json (template NUL role NUL content ...);
- tokenizer: tests/fixtures/tokenizer_strings.json to encode, and llama.cpp's ids of those strings to
  decode, for both default models (first byte: model and mode, see fuzz_targets/tokenizer.rs).
"""
import glob, hashlib, json, os, struct, sys

import numpy as np
from gguf import GGUFReader, GGUFValueType

MODELS, FIXTURES, OUT = sys.argv[1:4]
N_TOKENS = 320


def save(target, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()), "wb") as f:
        f.write(data)


def gstr(s):
    b = s.encode() if isinstance(s, str) else bytes(s)
    return struct.pack("<Q", len(b)) + b


SCALAR = {GGUFValueType.UINT8: "<B", GGUFValueType.INT8: "<b", GGUFValueType.UINT16: "<H", GGUFValueType.INT16: "<h",
          GGUFValueType.UINT32: "<I", GGUFValueType.INT32: "<i", GGUFValueType.FLOAT32: "<f", GGUFValueType.BOOL: "<?",
          GGUFValueType.UINT64: "<Q", GGUFValueType.INT64: "<q", GGUFValueType.FLOAT64: "<d"}


def kv(key, vtype, value, itype=None):
    out = gstr(key) + struct.pack("<I", vtype)
    if vtype == GGUFValueType.STRING:
        return out + gstr(value)
    if vtype == GGUFValueType.ARRAY:
        out += struct.pack("<IQ", itype, len(value))
        for v in value:
            out += gstr(v) if itype == GGUFValueType.STRING else struct.pack(SCALAR[itype], v)
        return out
    return out + struct.pack(SCALAR[vtype], value)


def header(kvs, tensors=()):
    """A GGUF v3 header; tensors are (name, dims, type, offset)."""
    out = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs)) + b"".join(kvs)
    for name, dims, ty, off in tensors:
        out += gstr(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims) + struct.pack("<IQ", ty, off)
    return out


def field_value(f):
    t = f.types[0]
    if t == GGUFValueType.STRING:
        return bytes(f.parts[f.data[0]])
    if t == GGUFValueType.ARRAY:
        it = f.types[1]
        if it == GGUFValueType.STRING:
            return [bytes(f.parts[i]) for i in f.data]
        return [f.parts[i].tolist()[0] for i in f.data]
    return f.parts[f.data[0]].tolist()[0]


templates = {}
paths = sorted(glob.glob(os.path.join(MODELS, "*.gguf")) + glob.glob(os.path.join(MODELS, "gen", "*.gguf")))
for path in paths:
    with open(path, "rb") as f:
        save("gguf_header", f.read(4096))
    r = GGUFReader(path)
    kvs = []
    for name, f in r.fields.items():
        if not (name.startswith("tokenizer.") or name == "general.architecture"):
            continue
        t = f.types[0]
        v = field_value(f)
        itype = f.types[1] if t == GGUFValueType.ARRAY else None
        if t == GGUFValueType.ARRAY:
            if name == "tokenizer.ggml.merges":
                toks = set(field_value(r.fields["tokenizer.ggml.tokens"])[:N_TOKENS])
                v = [m for m in v if all(p in toks for p in m.split(b" ", 1)) and m.replace(b" ", b"", 1) in toks]
            else:
                v = v[:N_TOKENS]
        if name == "tokenizer.chat_template":
            templates[v] = True
        kvs.append(kv(name, t, v, itype))
    meta = header(kvs)
    save("tokenizer_meta", meta)
    save("gguf_header", header(kvs[:3], [("token_embd.weight", [64, N_TOKENS], 0, 0), ("output_norm.weight", [64], 0, 64 * N_TOKENS * 4)]))
# A header with one value of every type and a few tensors.
every = [kv("general.architecture", GGUFValueType.STRING, "llama"), kv("a.u8", GGUFValueType.UINT8, 7),
         kv("a.i8", GGUFValueType.INT8, -7), kv("a.u16", GGUFValueType.UINT16, 700), kv("a.i16", GGUFValueType.INT16, -700),
         kv("a.u32", GGUFValueType.UINT32, 70000), kv("a.i32", GGUFValueType.INT32, -70000), kv("a.f32", GGUFValueType.FLOAT32, 0.5),
         kv("a.bool", GGUFValueType.BOOL, True), kv("a.u64", GGUFValueType.UINT64, 1 << 40), kv("a.i64", GGUFValueType.INT64, -(1 << 40)),
         kv("a.f64", GGUFValueType.FLOAT64, 0.25), kv("a.arr", GGUFValueType.ARRAY, [1, 2, 3], GGUFValueType.INT32),
         kv("a.strs", GGUFValueType.ARRAY, ["x", "yz"], GGUFValueType.STRING), kv("general.alignment", GGUFValueType.UINT32, 64)]
save("gguf_header", header(every, [("a", [4, 4], 0, 0), ("b", [32], 2, 64), ("c", [256, 2], 12, 128)]))

BUILTIN = [
    "{%- for m in messages -%}\n{{- '<|im_start|>' + m.role + '\\n' + m.content + '<|im_end|>\\n' -}}\n{%- endfor -%}\n"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}",
    "{%- set ns = namespace(system='') -%}\n{%- for m in messages -%}\n{%- if m.role == 'system' -%}"
    "{%- set ns.system = ns.system + (m.content | trim) -%}\n{%- else -%}\n"
    "{%- set role = 'model' if m.role == 'assistant' else m.role -%}\n{{- '<start_of_turn>' + role + '\\n' -}}\n"
    "{%- if ns.system and role != 'model' -%}{{- ns.system + '\\n\\n' -}}{%- set ns.system = '' -%}{%- endif -%}\n"
    "{{- (m.content | trim) + '<end_of_turn>\\n' -}}\n{%- endif -%}\n{%- endfor -%}\n"
    "{%- if add_generation_prompt -%}{{- '<start_of_turn>model\\n' -}}{%- endif -%}",
]
for t in BUILTIN:
    templates[t.encode()] = True
prompts = json.load(open(os.path.join(FIXTURES, "prompts.json")))
chats = prompts.get("chat", [])[:3] or [[{"role": "user", "content": "Hi"}]]
for t in templates:
    for chat in chats:
        parts = [t] + [p for m in chat for p in (m["role"].encode(), m["content"].encode())]
        save("chat_template", b"\0".join(parts))
    save("chat_template", t + b"\0system\0Be brief.\0user\0Hi\0assistant")

strings = json.load(open(os.path.join(FIXTURES, "tokenizer_strings.json")))
for model, name in [(0, "smollm2"), (1, "gemma3")]:
    for s in strings:
        save("tokenizer", bytes([model]) + s.encode())
        save("tokenizer", bytes([model | 8 | 16]) + s.encode())
    for case in json.load(open(os.path.join(FIXTURES, "tokenizer", name + ".json")))["cases"]:
        save("tokenizer", bytes([model | 4]) + b"".join(struct.pack("<I", i) for i in case["ids"]))
for target in sorted(os.listdir(OUT)):
    print(f"{target}: {len(os.listdir(os.path.join(OUT, target)))} seeds")
