//! The GGUF reader against hostile input: files built with `GgufWriter`, then cut or patched so that
//! each defect is refused with its own typed error whose message names the offending field. Also a
//! round trip of every value type, prefix parsing as the browser does it, and the default models.

mod common;
use common::*;

use std::alloc::{GlobalAlloc, Layout as AllocLayout, System};
use std::cell::Cell;
use std::io::Read;

use gguf_web::gguf::reader::{MAX_ARRAY_LEN, MAX_KV, MAX_NESTING, MAX_STRING_LEN, MAX_TENSORS};
use gguf_web::gguf::writer::{Layout, KV_COUNT_OFFSET, TENSOR_COUNT_OFFSET, VERSION_OFFSET};
use gguf_web::gguf::{Array, FileSource, Gguf, GgufError, GgufWriter, PrefixSource, Value};
use gguf_web::quant::GgmlType;

// Records the largest single allocation per thread (tests run in parallel), so that the tests of
// huge counts can check that the reader refused them before allocating for them.
struct Peak;
thread_local!(static LARGEST: Cell<usize> = const { Cell::new(0) });
fn note(size: usize) {
    let _ = LARGEST.try_with(|m| m.set(m.get().max(size)));
}
unsafe impl GlobalAlloc for Peak {
    unsafe fn alloc(&self, layout: AllocLayout) -> *mut u8 {
        note(layout.size());
        // SAFETY: the caller's contract for `alloc` is passed on unchanged.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: AllocLayout) {
        // SAFETY: as for `alloc`.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: AllocLayout, new_size: usize) -> *mut u8 {
        note(new_size);
        // SAFETY: as for `alloc`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}
#[global_allocator]
static GLOBAL: Peak = Peak;

fn read(bytes: &[u8]) -> Result<Gguf, GgufError> {
    Gguf::read(&bytes.to_vec())
}

/// The error for `bytes`, checked to come without any allocation near the size of a claimed count.
fn err(bytes: &[u8]) -> GgufError {
    let owned = bytes.to_vec();
    LARGEST.with(|m| m.set(0));
    let r = Gguf::read(&owned);
    let largest = LARGEST.with(|m| m.get());
    assert!(largest < 1 << 20, "the reader allocated {largest} bytes for a {}-byte file", bytes.len());
    match r {
        Ok(_) => panic!("a corrupt file was accepted"),
        Err(e) => e,
    }
}

/// Asserts the error variant and that the message mentions each needle.
macro_rules! assert_err {
    ($bytes:expr, $pat:pat $(if $guard:expr)? $(, $needle:expr)* $(,)?) => {{
        let e = err(&$bytes);
        assert!(matches!(e, $pat $(if $guard)?), "unexpected error {e:?}");
        let msg = e.to_string();
        $(assert!(msg.contains($needle), "message {msg:?} does not mention {:?}", $needle);)*
    }};
}

fn patch(bytes: &mut [u8], at: u64, new: &[u8]) {
    bytes[at as usize..at as usize + new.len()].copy_from_slice(new);
}

fn s(x: &str) -> Value {
    Value::String(x.into())
}

const KEYS: [&str; 5] = ["general.architecture", "llama.block_count", "flag", "tokens", "scores"];
const TENSORS: [&str; 2] = ["token_embd.weight", "blk.0.attn_q.weight"];

/// A small valid file: a few KVs of different shapes and two tensors of different types.
fn sample() -> GgufWriter {
    let mut w = GgufWriter::new();
    w.add(KEYS[0], s("llama"))
        .add(KEYS[1], Value::U32(2))
        .add(KEYS[2], Value::Bool(true))
        .add(KEYS[3], Value::Array(Array::String(vec!["<s>".into(), "a".into(), "b".into()])))
        .add(KEYS[4], Value::Array(Array::F32(vec![0.5, -1.0])))
        .add_f32_tensor(TENSORS[0], &[4, 2], &[1.0; 8])
        .add_tensor(TENSORS[1], &[32, 1], GgmlType::Q4_0, vec![7u8; 18]);
    w
}

/// Offset of the value type tag of KV `i` (the value follows it).
fn tag_at(l: &Layout, i: usize, key: &str) -> u64 {
    l.kvs[i] + 8 + key.len() as u64
}

fn q8() -> Vec<u8> {
    (0..34 * 2).map(|i| i as u8).collect()
}

/// Metadata of every value type and array element type, nested arrays included, and three tensors.
fn every_type() -> (Vec<(&'static str, Value)>, GgufWriter) {
    let nested = Array::Array(vec![
        Array::Array(vec![Array::U8(vec![1, 2]), Array::String(vec!["x".into()])]),
        Array::Array(vec![]),
        Array::F64(vec![1.5]),
    ]);
    let metadata = vec![
        ("u8", Value::U8(255)),
        ("i8", Value::I8(-128)),
        ("u16", Value::U16(65535)),
        ("i16", Value::I16(-32768)),
        ("u32", Value::U32(u32::MAX)),
        ("i32", Value::I32(i32::MIN)),
        ("f32", Value::F32(-1.25e-30)),
        ("bool.t", Value::Bool(true)),
        ("bool.f", Value::Bool(false)),
        ("string", s("héllo, wörld ✓")),
        ("string.empty", s("")),
        ("u64", Value::U64(u64::MAX)),
        ("i64", Value::I64(i64::MIN)),
        ("f64", Value::F64(std::f64::consts::PI)),
        ("a.u8", Value::Array(Array::U8(vec![0, 1, 255]))),
        ("a.i8", Value::Array(Array::I8(vec![-1, 127]))),
        ("a.u16", Value::Array(Array::U16(vec![1, 65535]))),
        ("a.i16", Value::Array(Array::I16(vec![-2, 3]))),
        ("a.u32", Value::Array(Array::U32(vec![7, u32::MAX]))),
        ("a.i32", Value::Array(Array::I32(vec![-7, i32::MAX]))),
        ("a.f32", Value::Array(Array::F32(vec![0.1, -2.5, f32::MAX]))),
        ("a.bool", Value::Array(Array::Bool(vec![true, false, true]))),
        ("a.string", Value::Array(Array::String(vec!["".into(), "ü".into(), "tok".into()]))),
        ("a.u64", Value::Array(Array::U64(vec![u64::MAX, 0]))),
        ("a.i64", Value::Array(Array::I64(vec![i64::MIN, 5]))),
        ("a.f64", Value::Array(Array::F64(vec![-0.5, 1e300]))),
        ("a.empty", Value::Array(Array::U32(vec![]))),
        ("a.nested", Value::Array(nested)),
        ("general.alignment", Value::U32(64)),
    ];
    let mut w = GgufWriter::new();
    for (k, v) in &metadata {
        w.add(*k, v.clone());
    }
    w.add_f32_tensor("a", &[3], &[1.0, 2.0, 3.0]).add_tensor("b", &[32, 2], GgmlType::Q8_0, q8()).add_tensor(
        "c",
        &[2, 1, 1, 2],
        GgmlType::F16,
        vec![9u8; 8],
    );
    (metadata, w)
}

#[test]
fn every_value_type_round_trips() {
    let (metadata, w) = every_type();
    let (bytes, l) = (w.to_bytes(), w.layout());
    assert_eq!(bytes.len() as u64, l.len);

    let g = read(&bytes).unwrap();
    assert_eq!(g.version, 3);
    let got: Vec<(&str, &Value)> = g.metadata.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let want: Vec<(&str, &Value)> = metadata.iter().map(|(k, v)| (*k, v)).collect();
    assert_eq!(got, want);
    assert_eq!(g.alignment, 64);
    assert_eq!(g.data_offset, l.data);
    assert_eq!(g.data_offset % 64, 0);

    let shapes: [(&str, &[u64], GgmlType, u64); 3] =
        [("a", &[3], GgmlType::F32, 12), ("b", &[32, 2], GgmlType::Q8_0, 68), ("c", &[2, 1, 1, 2], GgmlType::F16, 8)];
    for (i, (name, dims, ty, n_bytes)) in shapes.into_iter().enumerate() {
        let t = g.tensor(name).unwrap();
        assert_eq!((t.dims.as_slice(), t.ty, t.n_bytes), (dims, ty, n_bytes), "{name}");
        assert_eq!(t.file_offset(g.data_offset), l.tensor_data[i], "{name}");
        assert_eq!(t.offset % 64, 0, "{name}");
    }
    let b = g.tensor("b").unwrap();
    let start = b.file_offset(g.data_offset) as usize;
    assert_eq!(&bytes[start..start + 68], q8().as_slice());
}

#[test]
fn every_truncation_is_an_error_naming_its_section() {
    let (bytes, l) = (sample().to_bytes(), sample().layout());
    let g = read(&bytes).unwrap();
    // The padding after the last tensor is optional: cuts in it leave a valid file.
    let data_end = g.tensors.iter().map(|t| t.file_offset(g.data_offset) + t.n_bytes).max().unwrap();
    for cut in 0..data_end as usize {
        let r = std::panic::catch_unwind(|| read(&bytes[..cut])).unwrap_or_else(|_| panic!("the reader panicked on the file cut at {cut}"));
        let e = r.err().unwrap_or_else(|| panic!("the file cut at {cut} was accepted"));
        let cut = cut as u64;
        if cut >= l.header_end {
            // The header is whole: the tensor data is what lies past the end.
            assert!(
                matches!(&e, GgufError::BadTensor { name, reason } if TENSORS.contains(&name.as_str()) && reason.contains("outside the file")),
                "cut at {cut}: {e:?}"
            );
            continue;
        }
        let GgufError::Truncated { what, offset, needed, file_len } = &e else {
            panic!("cut at {cut}: expected Truncated, got {e:?}");
        };
        assert_eq!(*file_len, cut);
        assert!(offset + needed > cut, "cut at {cut}: {e:?}");
        let section_ok = match cut {
            0..4 => what == "magic",
            4..8 => what == "version",
            8..16 => what == "tensor count",
            16..24 => what == "metadata count",
            _ if cut < l.tensor_table => {
                let i = l.kvs.iter().rposition(|&s| s <= cut).unwrap();
                what.contains(&format!("{:?}", KEYS[i])) || what.contains(&format!("#{i}")) || what.starts_with("metadata")
            }
            _ => {
                let i = l.tensor_infos.iter().rposition(|&s| s <= cut).unwrap();
                what.contains(&format!("{:?}", TENSORS[i])) || what.contains(&format!("#{i}")) || what.starts_with("tensor count")
            }
        };
        assert!(section_ok, "cut at {cut}: {what:?} does not name the section");
    }
}

#[test]
fn bad_magic() {
    let mut b = sample().to_bytes();
    patch(&mut b, 0, b"GGML");
    assert_err!(b, GgufError::BadMagic { found } if &found == b"GGML", "GGUF", "4d, 4c");
    assert_err!(b"GG"[..], GgufError::Truncated { .. }, "magic");
}

#[test]
fn unsupported_versions() {
    let mut b = sample().to_bytes();
    for (version, hint) in [(1u32, "version 1"), (4, ""), (3u32.swap_bytes(), "big-endian"), (2u32.swap_bytes(), "big-endian")] {
        patch(&mut b, VERSION_OFFSET, &version.to_le_bytes());
        assert_err!(b, GgufError::UnsupportedVersion { version: v, .. } if v == version, &version.to_string(), hint);
    }
    // Version 2 has the same layout as 3.
    patch(&mut b, VERSION_OFFSET, &2u32.to_le_bytes());
    assert_eq!(read(&b).unwrap().version, 2);
}

#[test]
fn huge_counts_fail_fast() {
    let base = sample().to_bytes();
    for (at, what, max) in [(TENSOR_COUNT_OFFSET, "tensor count", MAX_TENSORS), (KV_COUNT_OFFSET, "metadata count", MAX_KV)] {
        let mut b = base.clone();
        patch(&mut b, at, &u64::MAX.to_le_bytes());
        assert_err!(b, GgufError::TooMany { count, max: m, .. } if count == u64::MAX && m == max, what, &u64::MAX.to_string());
        // Under the cap, the count still cannot fit in the rest of this small file.
        patch(&mut b, at, &max.to_le_bytes());
        assert_err!(b, GgufError::Truncated { .. }, what, &max.to_string());
    }
}

#[test]
fn huge_array_length_fails_fast() {
    let l = sample().layout();
    for (i, key) in [(3, KEYS[3]), (4, KEYS[4])] {
        let len_at = tag_at(&l, i, key) + 8;
        let mut b = sample().to_bytes();
        patch(&mut b, len_at, &u64::MAX.to_le_bytes());
        assert_err!(b, GgufError::TooMany { count: u64::MAX, max: MAX_ARRAY_LEN, .. }, "array length", key);
        patch(&mut b, len_at, &MAX_ARRAY_LEN.to_le_bytes());
        assert_err!(b, GgufError::Truncated { .. }, key);
    }
}

#[test]
fn huge_string_length_fails_fast() {
    let l = sample().layout();
    let mut b = sample().to_bytes();
    let len_at = tag_at(&l, 0, KEYS[0]) + 4;
    patch(&mut b, len_at, &u64::MAX.to_le_bytes());
    assert_err!(b, GgufError::StringTooLong { len: u64::MAX, max: MAX_STRING_LEN, .. }, KEYS[0]);
    patch(&mut b, len_at, &MAX_STRING_LEN.to_le_bytes());
    assert_err!(b, GgufError::Truncated { .. }, KEYS[0]);

    let mut b = sample().to_bytes();
    patch(&mut b, l.kvs[1], &u64::MAX.to_le_bytes());
    assert_err!(b, GgufError::StringTooLong { len: u64::MAX, .. }, "metadata key #1");
    let mut b = sample().to_bytes();
    patch(&mut b, l.tensor_infos[1], &u64::MAX.to_le_bytes());
    assert_err!(b, GgufError::StringTooLong { len: u64::MAX, .. }, "name of tensor #1");
}

#[test]
fn bad_value_type_tags() {
    let l = sample().layout();
    let mut b = sample().to_bytes();
    patch(&mut b, tag_at(&l, 1, KEYS[1]), &13u32.to_le_bytes());
    assert_err!(b, GgufError::BadValueType { ref key, tag: 13 } if key == KEYS[1], KEYS[1], "13");

    let mut b = sample().to_bytes();
    patch(&mut b, tag_at(&l, 4, KEYS[4]) + 4, &0xdead_u32.to_le_bytes());
    assert_err!(b, GgufError::BadValueType { ref key, tag: 0xdead } if key == KEYS[4], KEYS[4], "57005");
}

#[test]
fn nesting_depth_is_capped() {
    let nest = |levels: usize| {
        let mut a = Array::U8(vec![1]);
        for _ in 1..levels {
            a = Array::Array(vec![a]);
        }
        let mut w = GgufWriter::new();
        w.add("deep", Value::Array(a));
        w.to_bytes()
    };
    assert!(read(&nest(MAX_NESTING)).is_ok());
    assert_err!(nest(MAX_NESTING + 1), GgufError::NestingTooDeep { ref key, max: MAX_NESTING } if key == "deep", "deep");
}

#[test]
fn duplicates() {
    let mut w = sample();
    w.add(KEYS[1], Value::U32(3));
    assert_err!(w.to_bytes(), GgufError::DuplicateKey { ref key } if key == KEYS[1], KEYS[1]);
    let mut w = sample();
    w.add_f32_tensor(TENSORS[0], &[1], &[0.0]);
    assert_err!(w.to_bytes(), GgufError::DuplicateTensor { ref name } if name == TENSORS[0], TENSORS[0]);
}

/// A file whose only tensor is `t` with the given shape and type (its data sized for a small shape).
fn one_tensor(dims: &[u64], ty: GgmlType) -> Vec<u8> {
    let mut w = GgufWriter::new();
    w.add_tensor("t", dims, ty, vec![0u8; 64]);
    w.to_bytes()
}

#[test]
fn bad_shapes() {
    use GgufError::BadTensor;
    assert_err!(one_tensor(&[], GgmlType::F32), BadTensor { .. }, "\"t\"", "0 dimensions");
    assert_err!(one_tensor(&[1; 5], GgmlType::F32), BadTensor { .. }, "\"t\"", "5 dimensions");
    assert_err!(one_tensor(&[4, 0], GgmlType::F32), BadTensor { .. }, "\"t\"", "dimension 1 is 0");
    assert_err!(one_tensor(&[1 << 32, 1 << 32], GgmlType::F32), BadTensor { .. }, "\"t\"", "element count", "overflows");
    // Few enough elements, but too many bytes.
    assert_err!(one_tensor(&[1 << 62], GgmlType::F32), BadTensor { .. }, "\"t\"", "byte size", "overflows");
    assert_err!(one_tensor(&[33], GgmlType::Q4_0), BadTensor { .. }, "\"t\"", "row length 33", "Q4_0", "32");
    assert_err!(one_tensor(&[128, 2], GgmlType::Q4_K), BadTensor { .. }, "row length 128", "Q4_K", "256");
}

#[test]
fn unknown_tensor_type() {
    let l = sample().layout();
    let mut b = sample().to_bytes();
    // The type id sits just before the offset field; 4 and 5 are ids ggml removed.
    patch(&mut b, l.tensor_offsets[1] - 4, &4u32.to_le_bytes());
    assert_err!(b, GgufError::UnknownTensorType { ref name, type_id: 4 } if name == TENSORS[1], TENSORS[1], "4");
}

#[test]
fn bad_tensor_offsets() {
    let l = sample().layout();
    let at = l.tensor_offsets[1];
    let good = l.tensor_data[1] - l.data;

    let mut b = sample().to_bytes();
    patch(&mut b, at, &(good + 1).to_le_bytes());
    assert_err!(b, GgufError::BadTensor { ref name, .. } if name == TENSORS[1], &format!("offset {}", good + 1), "alignment 32");

    for offset in [good + 32, 1 << 40, !31] {
        patch(&mut b, at, &offset.to_le_bytes());
        assert_err!(b, GgufError::BadTensor { ref name, .. } if name == TENSORS[1], "outside the file", &offset.to_string());
    }

    patch(&mut b, at, &0u64.to_le_bytes());
    assert_err!(b, GgufError::OverlappingTensors { .. }, TENSORS[0], TENSORS[1]);

    // A short last tensor: its shape needs more bytes than the file has.
    let mut w = sample();
    w.add_f32_tensor("short", &[100], &[0.0; 4]);
    assert_err!(w.to_bytes(), GgufError::BadTensor { ref name, .. } if name == "short", "outside the file");
}

#[test]
fn bad_alignment() {
    for (value, shown) in [(Value::U32(0), "0"), (Value::U32(3), "3"), (Value::U32(48), "48")] {
        let mut w = sample();
        w.add("general.alignment", value);
        assert_err!(w.to_bytes(), GgufError::BadAlignment { .. }, "general.alignment", shown);
    }
    for (value, found) in [(Value::U64(32), "u64"), (s("32"), "string")] {
        let mut w = sample();
        w.add("general.alignment", value);
        assert_err!(w.to_bytes(), GgufError::WrongType { ref key, .. } if key == "general.alignment", "general.alignment", "u32", found);
    }
}

#[test]
fn invalid_utf8() {
    let l = sample().layout();
    let mut b = sample().to_bytes();
    patch(&mut b, l.kvs[2] + 8, &[0xff]);
    assert_err!(b, GgufError::BadUtf8 { ref what } if what == "metadata key #2", "metadata key #2");

    let mut b = sample().to_bytes();
    patch(&mut b, tag_at(&l, 0, KEYS[0]) + 4 + 8, &[0xc3, 0x28]);
    assert_err!(b, GgufError::BadUtf8 { .. }, KEYS[0]);

    let mut b = sample().to_bytes();
    // Element 1 of the token array ("a") starts after element 0 ("<s>").
    patch(&mut b, tag_at(&l, 3, KEYS[3]) + 4 + 12 + 8 + 3 + 8, &[0x80]);
    assert_err!(b, GgufError::BadUtf8 { .. }, "element 1", KEYS[3]);

    let mut b = sample().to_bytes();
    patch(&mut b, l.tensor_infos[0] + 8, &[0xfe]);
    assert_err!(b, GgufError::BadUtf8 { .. }, "tensor #0");
}

#[test]
fn bool_byte_2() {
    let l = sample().layout();
    let mut b = sample().to_bytes();
    patch(&mut b, tag_at(&l, 2, KEYS[2]) + 4, &[2]);
    assert_err!(b, GgufError::WrongType { ref key, .. } if key == KEYS[2], KEYS[2], "bool", "byte 2");

    let mut w = GgufWriter::new();
    w.add("bools", Value::Array(Array::Bool(vec![true, false])));
    let mut b = w.to_bytes();
    let at = tag_at(&w.layout(), 0, "bools") + 4 + 12 + 1;
    patch(&mut b, at, &[2]);
    assert_err!(b, GgufError::WrongType { ref key, .. } if key == "bools", "bools", "byte 2");
}

#[test]
fn prefix_source_grows_to_need_bytes() {
    let path = model(SMOLLM);
    let full = Gguf::read(&FileSource::open(&path).unwrap()).unwrap();
    let mut file = std::fs::File::open(&path).unwrap();
    let total_len = file.metadata().unwrap().len();
    let mut prefix = Vec::new();
    let mut rounds = 0;
    let g = loop {
        match Gguf::read(&PrefixSource { prefix: &prefix, total_len }) {
            Ok(g) => break g,
            Err(GgufError::NeedBytes { end }) => {
                assert!(end > prefix.len() as u64 && end <= total_len, "NeedBytes {{ end: {end} }} with {} loaded", prefix.len());
                (&mut file).take(end - prefix.len() as u64).read_to_end(&mut prefix).unwrap();
                rounds += 1;
            }
            Err(e) => panic!("with {} bytes loaded: {e}", prefix.len()),
        }
    };
    assert!(rounds > 1, "the header fitted the first read");
    assert!(prefix.len() as u64 <= full.data_offset + 64 * 1024, "loaded {} bytes for the header", prefix.len());
    assert_eq!(g.metadata, full.metadata);
    assert_eq!(g.tensors, full.tensors);
    assert_eq!((g.data_offset, g.file_len), (full.data_offset, full.file_len));
}

#[test]
fn default_models() {
    for (name, n_tensors, arch) in [(SMOLLM, 272, "llama"), (GEMMA, 236, "gemma3")] {
        let g = Gguf::read(&FileSource::open(model(name)).unwrap()).unwrap();
        assert_eq!(g.tensors.len(), n_tensors, "{name}");
        assert_eq!(g.get_str("general.architecture").unwrap(), Some(arch), "{name}");
    }
}

/// Seeds the `gguf_header` fuzz target with small valid files:
/// `cargo test --test gguf_corrupt -- --ignored write_fuzz_seeds`.
#[test]
#[ignore]
fn write_fuzz_seeds() {
    let dir = root().join("crate/fuzz/corpus/gguf_header");
    std::fs::create_dir_all(&dir).unwrap();
    let mut aligned = sample();
    aligned.add("general.alignment", Value::U32(8));
    for (name, w) in [("sample", sample()), ("every_type", every_type().1), ("aligned", aligned)] {
        std::fs::write(dir.join(format!("{name}.gguf")), w.to_bytes()).unwrap();
    }
}
