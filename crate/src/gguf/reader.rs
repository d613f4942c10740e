//! Parsing of the GGUF header, metadata and tensor table (versions 2 and 3). The file is hostile
//! input: every count is capped by the bytes that remain before allocating, every offset is
//! overflow- and bounds-checked, and every failure names the field that caused it.

use std::collections::HashMap;

use super::cursor::Cursor;
use super::error::{GgufError, Result};
use super::source::ByteSource;
use super::value::{Array, Value, ValueType};
use crate::quant::GgmlType;

pub const GGUF_MAGIC: [u8; 4] = *b"GGUF";
pub const DEFAULT_ALIGNMENT: u64 = 32;
/// Caps that no real model comes near; they bound memory before the per-file byte checks do.
pub const MAX_TENSORS: u64 = 1 << 20;
pub const MAX_KV: u64 = 1 << 20;
pub const MAX_KEY_LEN: u64 = 64 * 1024;
pub const MAX_STRING_LEN: u64 = 256 << 20;
pub const MAX_ARRAY_LEN: u64 = 1 << 28;
pub const MAX_NESTING: usize = 4;
pub const MAX_DIMS: u32 = 4;

/// One entry of the tensor table. `dims[0]` is the contiguous (row) dimension, as in ggml's `ne`.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorInfo {
    pub name: String,
    pub dims: Vec<u64>,
    pub ty: GgmlType,
    /// Offset relative to the start of the data section.
    pub offset: u64,
    pub n_elements: u64,
    pub n_bytes: u64,
}

impl TensorInfo {
    /// Absolute file offset of the first byte.
    pub fn file_offset(&self, data_offset: u64) -> u64 {
        data_offset + self.offset
    }
    pub fn n_rows(&self) -> u64 {
        self.n_elements / self.dims[0].max(1)
    }
    /// Rows `start..start + count` of a matrix as a tensor of their own (named `name#part`): fused
    /// projections (Phi-3's `attn_qkv`, its gate and up halves of `ffn_up`) load as separate
    /// matrices without copying.
    pub fn row_slice(&self, start: u64, count: u64, part: &str) -> TensorInfo {
        let row_bytes = self.n_bytes / self.n_rows().max(1);
        debug_assert!(start + count <= self.n_rows());
        TensorInfo {
            name: format!("{}#{part}", self.name),
            dims: vec![self.dims[0], count],
            ty: self.ty,
            offset: self.offset + start * row_bytes,
            n_elements: self.dims[0] * count,
            n_bytes: row_bytes * count,
        }
    }
}

/// A parsed GGUF header: everything but the tensor data.
#[derive(Clone, Debug)]
pub struct Gguf {
    pub version: u32,
    /// Metadata in file order.
    pub metadata: Vec<(String, Value)>,
    index: HashMap<String, usize>,
    pub tensors: Vec<TensorInfo>,
    tensor_index: HashMap<String, usize>,
    pub alignment: u64,
    /// Absolute offset of the data section.
    pub data_offset: u64,
    pub file_len: u64,
}

impl Gguf {
    /// Parses the header of `src`. For a source that holds only a prefix, a
    /// [`GgufError::NeedBytes`] tells the caller how much more to fetch.
    pub fn read(src: &dyn ByteSource) -> Result<Gguf> {
        let mut c = Cursor::new(src);
        let magic: [u8; 4] = c.take(4, &|| "magic".into())?.try_into().unwrap();
        if magic != GGUF_MAGIC {
            return Err(GgufError::BadMagic { found: magic });
        }
        let version = c.u32(&|| "version".into())?;
        if version != 2 && version != 3 {
            let hint = if version == 1 {
                " (version 1 files predate 64-bit counts; convert them again)"
            } else if version.swap_bytes() == 2 || version.swap_bytes() == 3 {
                " (this looks like a big-endian GGUF; only little-endian files are supported)"
            } else {
                ""
            };
            return Err(GgufError::UnsupportedVersion { version, hint });
        }
        let n_tensors = c.u64(&|| "tensor count".into())?;
        let n_kv = c.u64(&|| "metadata count".into())?;
        // The tensor count is only capped here (a huge one fails fast); the bytes left are checked
        // where the tensor table starts, so that a truncation is reported in the section it cuts.
        check_count(&c, "tensor count", n_tensors, MAX_TENSORS, 0)?;
        // Each KV takes at least 8 (key length) +4 (type) +1 bytes.
        check_count(&c, "metadata count", n_kv, MAX_KV, 13)?;

        let mut metadata = Vec::with_capacity(n_kv as usize);
        let mut index = HashMap::with_capacity(n_kv as usize);
        for i in 0..n_kv {
            let key = c.string(MAX_KEY_LEN, &|| format!("metadata key #{i}"))?;
            if index.contains_key(&key) {
                return Err(GgufError::DuplicateKey { key });
            }
            let tag = c.u32(&|| format!("value type of {key:?}"))?;
            let ty = ValueType::from_tag(tag).ok_or_else(|| GgufError::BadValueType { key: key.clone(), tag })?;
            let value = read_value(&mut c, ty, &key, 0)?;
            index.insert(key.clone(), metadata.len());
            metadata.push((key, value));
        }

        let alignment = match metadata.get(index.get("general.alignment").copied().unwrap_or(usize::MAX)) {
            None => DEFAULT_ALIGNMENT,
            Some((_, v)) => {
                let a = match v {
                    Value::U32(a) => *a as u64,
                    other => {
                        return Err(GgufError::WrongType { key: "general.alignment".into(), expected: "u32", found: other.type_name() })
                    }
                };
                if a == 0 || !a.is_power_of_two() {
                    return Err(GgufError::BadAlignment { value: a });
                }
                a
            }
        };

        // Each tensor info takes at least 8 (name length) +4 +8 +4 +8 bytes.
        check_count(&c, "tensor count", n_tensors, MAX_TENSORS, 32)?;
        let mut tensors = Vec::with_capacity(n_tensors as usize);
        let mut tensor_index = HashMap::with_capacity(n_tensors as usize);
        for i in 0..n_tensors {
            let t = read_tensor_info(&mut c, i, alignment)?;
            if tensor_index.contains_key(&t.name) {
                return Err(GgufError::DuplicateTensor { name: t.name });
            }
            tensor_index.insert(t.name.clone(), tensors.len());
            tensors.push(t);
        }

        let data_offset = align_up(c.pos(), alignment).ok_or(GgufError::BadAlignment { value: alignment })?;
        let file_len = src.len();
        check_extents(&tensors, data_offset, file_len)?;
        Ok(Gguf { version, metadata, index, tensors, tensor_index, alignment, data_offset, file_len })
    }

    /// Makes this header describe `tensors` (offsets from the start of a virtual file of
    /// `file_len` bytes) instead of its own (used to join split files).
    pub(crate) fn replace_tensors(&mut self, tensors: Vec<TensorInfo>, file_len: u64) -> Result<()> {
        let mut index = HashMap::with_capacity(tensors.len());
        for (i, t) in tensors.iter().enumerate() {
            if index.insert(t.name.clone(), i).is_some() {
                return Err(GgufError::DuplicateTensor { name: t.name.clone() });
            }
        }
        check_extents(&tensors, 0, file_len)?;
        self.tensors = tensors;
        self.tensor_index = index;
        self.data_offset = 0;
        self.file_len = file_len;
        Ok(())
    }

    /// Frees the metadata (keeps the tensor table); later lookups find nothing.
    pub fn strip_metadata(&mut self) {
        self.metadata = Vec::new();
        self.index = HashMap::new();
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.index.get(key).map(|&i| &self.metadata[i].1)
    }
    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.tensor_index.get(name).map(|&i| &self.tensors[i])
    }

    /// Typed getters: `Ok(None)` when absent, an error naming the key when the type is wrong.
    pub fn get_u64(&self, key: &str) -> Result<Option<u64>> {
        self.typed(key, "unsigned integer", |v| v.as_i64().and_then(|x| u64::try_from(x).ok()))
    }
    pub fn get_f32(&self, key: &str) -> Result<Option<f32>> {
        self.typed(key, "number", |v| v.as_f64().map(|x| x as f32))
    }
    pub fn get_bool(&self, key: &str) -> Result<Option<bool>> {
        self.typed(key, "bool", |v| v.as_bool())
    }
    pub fn get_str(&self, key: &str) -> Result<Option<&str>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(wrong(key, "string", other)),
        }
    }
    pub fn get_array(&self, key: &str) -> Result<Option<&Array>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(a)) => Ok(Some(a)),
            Some(other) => Err(wrong(key, "array", other)),
        }
    }
    pub fn require<T>(&self, key: &str, v: Result<Option<T>>) -> Result<T> {
        v?.ok_or_else(|| GgufError::MissingKey { key: key.into() })
    }
    fn typed<T>(&self, key: &str, expected: &'static str, f: impl Fn(&Value) -> Option<T>) -> Result<Option<T>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => f(v).map(Some).ok_or_else(|| wrong(key, expected, v)),
        }
    }

    /// Total bytes of tensor data.
    pub fn tensor_bytes(&self) -> u64 {
        self.tensors.iter().map(|t| t.n_bytes).sum()
    }
}

fn wrong(key: &str, expected: &'static str, found: &Value) -> GgufError {
    GgufError::WrongType { key: key.into(), expected, found: found.type_name() }
}

/// Refuses a count over its hard cap, or one whose entries of at least `min_size` bytes each cannot
/// fit in the rest of the file (a truncated file), before anything is allocated for it.
fn check_count(c: &Cursor, what: &str, count: u64, max: u64, min_size: u64) -> Result<()> {
    if count > max {
        return Err(GgufError::TooMany { what: what.into(), count, max });
    }
    let needed = count * min_size; // count ≤ 2^28 and min_size ≤ 32: no overflow
    if needed > c.remaining() {
        return Err(c.truncated(needed, &|| format!("{what} {count} (entries of at least {min_size} bytes)")));
    }
    Ok(())
}

fn align_up(x: u64, a: u64) -> Option<u64> {
    x.checked_add(a - 1).map(|v| v / a * a)
}

fn read_value(c: &mut Cursor, ty: ValueType, key: &str, depth: usize) -> Result<Value> {
    let w = || format!("value of {key:?}");
    Ok(match ty {
        ValueType::U8 => Value::U8(c.u8(&w)?),
        ValueType::I8 => Value::I8(c.u8(&w)? as i8),
        ValueType::U16 => Value::U16(c.u16(&w)?),
        ValueType::I16 => Value::I16(c.u16(&w)? as i16),
        ValueType::U32 => Value::U32(c.u32(&w)?),
        ValueType::I32 => Value::I32(c.u32(&w)? as i32),
        ValueType::F32 => Value::F32(f32::from_bits(c.u32(&w)?)),
        ValueType::U64 => Value::U64(c.u64(&w)?),
        ValueType::I64 => Value::I64(c.u64(&w)? as i64),
        ValueType::F64 => Value::F64(f64::from_bits(c.u64(&w)?)),
        ValueType::Bool => {
            let b = c.u8(&w)?;
            if b > 1 {
                return Err(GgufError::WrongType { key: key.into(), expected: "bool (0 or 1)", found: format!("byte {b}") });
            }
            Value::Bool(b == 1)
        }
        ValueType::String => Value::String(c.string(MAX_STRING_LEN, &w)?),
        ValueType::Array => Value::Array(read_array(c, key, depth)?),
    })
}

fn read_array(c: &mut Cursor, key: &str, depth: usize) -> Result<Array> {
    if depth >= MAX_NESTING {
        return Err(GgufError::NestingTooDeep { key: key.into(), max: MAX_NESTING });
    }
    let tag = c.u32(&|| format!("array element type of {key:?}"))?;
    let ty = ValueType::from_tag(tag).ok_or_else(|| GgufError::BadValueType { key: key.into(), tag })?;
    let n = c.u64(&|| format!("array length of {key:?}"))?;
    check_count(c, &format!("array length of {key:?}"), n, MAX_ARRAY_LEN, ty.min_size())?;
    let n = n as usize;
    macro_rules! prim {
        ($variant:ident, $t:ty, $size:expr, $conv:expr) => {{
            let bytes = c.take(n as u64 * $size, &|| format!("array {key:?}"))?;
            Array::$variant(bytes.chunks_exact($size).map($conv).collect::<Vec<$t>>())
        }};
    }
    // Large primitive arrays are read in one bounded take; n * size ≤ remaining was checked above.
    Ok(match ty {
        ValueType::U8 => prim!(U8, u8, 1, |b| b[0]),
        ValueType::I8 => prim!(I8, i8, 1, |b| b[0] as i8),
        ValueType::U16 => prim!(U16, u16, 2, |b| u16::from_le_bytes([b[0], b[1]])),
        ValueType::I16 => prim!(I16, i16, 2, |b| i16::from_le_bytes([b[0], b[1]])),
        ValueType::U32 => prim!(U32, u32, 4, |b| u32::from_le_bytes(b.try_into().unwrap())),
        ValueType::I32 => prim!(I32, i32, 4, |b| i32::from_le_bytes(b.try_into().unwrap())),
        ValueType::F32 => prim!(F32, f32, 4, |b| f32::from_le_bytes(b.try_into().unwrap())),
        ValueType::U64 => prim!(U64, u64, 8, |b| u64::from_le_bytes(b.try_into().unwrap())),
        ValueType::I64 => prim!(I64, i64, 8, |b| i64::from_le_bytes(b.try_into().unwrap())),
        ValueType::F64 => prim!(F64, f64, 8, |b| f64::from_le_bytes(b.try_into().unwrap())),
        ValueType::Bool => {
            let bytes = c.take(n as u64, &|| format!("array {key:?}"))?;
            if let Some(b) = bytes.iter().find(|&&b| b > 1) {
                return Err(GgufError::WrongType { key: key.into(), expected: "bool (0 or 1)", found: format!("byte {b}") });
            }
            Array::Bool(bytes.iter().map(|&b| b == 1).collect())
        }
        ValueType::String => {
            let mut v = Vec::with_capacity(n);
            for i in 0..n {
                v.push(c.string(MAX_STRING_LEN, &|| format!("element {i} of {key:?}"))?);
            }
            Array::String(v)
        }
        ValueType::Array => {
            let mut v = Vec::with_capacity(n);
            for _ in 0..n {
                v.push(read_array(c, key, depth + 1)?);
            }
            Array::Array(v)
        }
    })
}

fn read_tensor_info(c: &mut Cursor, i: u64, alignment: u64) -> Result<TensorInfo> {
    let name = c.string(MAX_KEY_LEN, &|| format!("name of tensor #{i}"))?;
    let bad = |reason: String| GgufError::BadTensor { name: name.clone(), reason };
    let n_dims = c.u32(&|| format!("dimension count of tensor {name:?}"))?;
    if n_dims == 0 || n_dims > MAX_DIMS {
        return Err(bad(format!("has {n_dims} dimensions; 1 to {MAX_DIMS} are allowed")));
    }
    let mut dims = Vec::with_capacity(n_dims as usize);
    for d in 0..n_dims {
        dims.push(c.u64(&|| format!("dimension {d} of tensor {name:?}"))?);
    }
    let type_id = c.u32(&|| format!("type of tensor {name:?}"))?;
    let offset = c.u64(&|| format!("offset of tensor {name:?}"))?;
    let ty = GgmlType::from_id(type_id).ok_or_else(|| GgufError::UnknownTensorType { name: name.clone(), type_id })?;

    if let Some(d) = dims.iter().position(|&x| x == 0 || x > i64::MAX as u64) {
        return Err(bad(format!("dimension {d} is {}", dims[d])));
    }
    let n_elements = dims
        .iter()
        .try_fold(1u64, |acc, &x| acc.checked_mul(x).filter(|&v| v <= i64::MAX as u64))
        .ok_or_else(|| bad(format!("element count of shape {dims:?} overflows")))?;
    if dims[0] % ty.block_elems() as u64 != 0 {
        return Err(bad(format!("row length {} is not a multiple of the {ty} block size {}", dims[0], ty.block_elems())));
    }
    let n_bytes = ty
        .row_bytes(dims[0])
        .and_then(|row| row.checked_mul(n_elements / dims[0]))
        .ok_or_else(|| bad(format!("byte size of shape {dims:?} overflows")))?;
    if offset % alignment != 0 {
        return Err(bad(format!("offset {offset} is not a multiple of the alignment {alignment}")));
    }
    Ok(TensorInfo { name, dims, ty, offset, n_elements, n_bytes })
}

fn check_extents(tensors: &[TensorInfo], data_offset: u64, file_len: u64) -> Result<()> {
    for t in tensors {
        let end = data_offset.checked_add(t.offset).and_then(|s| s.checked_add(t.n_bytes));
        match end {
            Some(end) if end <= file_len => {}
            _ => {
                return Err(GgufError::BadTensor {
                    name: t.name.clone(),
                    reason: format!(
                        "data at offset {} + {} bytes lies outside the file ({file_len} bytes, data section at {data_offset})",
                        t.offset, t.n_bytes
                    ),
                })
            }
        }
    }
    let mut order: Vec<&TensorInfo> = tensors.iter().collect();
    order.sort_by_key(|t| t.offset);
    for w in order.windows(2) {
        if w[0].offset + w[0].n_bytes > w[1].offset {
            return Err(GgufError::OverlappingTensors { a: w[0].name.clone(), b: w[1].name.clone() });
        }
    }
    Ok(())
}
