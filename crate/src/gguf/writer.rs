//! A small GGUF v3 writer for tests and fixture generation. It writes what it is given without
//! validating it, so that tests can also build deliberately broken files; [`Layout`] tells them
//! where each part landed so they can patch specific bytes.

use super::reader::{DEFAULT_ALIGNMENT, GGUF_MAGIC};
use super::value::{Array, Value, ValueType};
use crate::quant::GgmlType;

/// Offsets of the fixed header fields.
pub const VERSION_OFFSET: u64 = 4;
pub const TENSOR_COUNT_OFFSET: u64 = 8;
pub const KV_COUNT_OFFSET: u64 = 16;
pub const HEADER_LEN: u64 = 24;

/// Absolute byte offsets of each part of an encoded file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Layout {
    /// Start of each key-value pair (its key length field).
    pub kvs: Vec<u64>,
    pub tensor_table: u64,
    /// Start of each tensor info (its name length field).
    pub tensor_infos: Vec<u64>,
    /// Offset field of each tensor info.
    pub tensor_offsets: Vec<u64>,
    /// End of the tensor table; the data section starts at the next aligned offset.
    pub header_end: u64,
    /// Start of the (aligned) data section.
    pub data: u64,
    /// Start of each tensor's data.
    pub tensor_data: Vec<u64>,
    pub len: u64,
}

struct Tensor {
    name: String,
    dims: Vec<u64>,
    ty: GgmlType,
    data: Vec<u8>,
}

#[derive(Default)]
pub struct GgufWriter {
    metadata: Vec<(String, Value)>,
    tensors: Vec<Tensor>,
}

impl GgufWriter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a key-value pair; keys are written in insertion order, duplicates included.
    pub fn add(&mut self, key: impl Into<String>, value: Value) -> &mut Self {
        self.metadata.push((key.into(), value));
        self
    }

    /// Appends a tensor. `dims[0]` is the contiguous dimension; `data` is written as is, so its
    /// length need not match the shape (tests use that for tensors that run past the file end).
    pub fn add_tensor(&mut self, name: impl Into<String>, dims: &[u64], ty: GgmlType, data: impl Into<Vec<u8>>) -> &mut Self {
        self.tensors.push(Tensor { name: name.into(), dims: dims.to_vec(), ty, data: data.into() });
        self
    }

    pub fn add_f32_tensor(&mut self, name: impl Into<String>, dims: &[u64], values: &[f32]) -> &mut Self {
        let data: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.add_tensor(name, dims, GgmlType::F32, data)
    }

    /// The alignment the data section is laid out with: `general.alignment` when it is a usable
    /// u32, else the default (an unusable value is still written, for the reader to reject).
    pub fn alignment(&self) -> u64 {
        match self.metadata.iter().rev().find(|(k, _)| k == "general.alignment") {
            Some((_, Value::U32(a))) if a.is_power_of_two() => *a as u64,
            _ => DEFAULT_ALIGNMENT,
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        self.encode().0
    }

    pub fn layout(&self) -> Layout {
        self.encode().1
    }

    fn encode(&self) -> (Vec<u8>, Layout) {
        let align = self.alignment() as usize;
        let mut b = Vec::new();
        let mut l = Layout::default();
        b.extend_from_slice(&GGUF_MAGIC);
        put_u32(&mut b, 3);
        put_u64(&mut b, self.tensors.len() as u64);
        put_u64(&mut b, self.metadata.len() as u64);

        for (key, value) in &self.metadata {
            l.kvs.push(b.len() as u64);
            put_str(&mut b, key);
            put_u32(&mut b, value_type(value).tag());
            put_value(&mut b, value);
        }

        l.tensor_table = b.len() as u64;
        let mut offset = 0usize;
        for t in &self.tensors {
            l.tensor_infos.push(b.len() as u64);
            put_str(&mut b, &t.name);
            put_u32(&mut b, t.dims.len() as u32);
            t.dims.iter().for_each(|&d| put_u64(&mut b, d));
            put_u32(&mut b, t.ty.id());
            l.tensor_offsets.push(b.len() as u64);
            put_u64(&mut b, offset as u64);
            offset += t.data.len().next_multiple_of(align);
        }

        l.header_end = b.len() as u64;
        b.resize(b.len().next_multiple_of(align), 0);
        l.data = b.len() as u64;
        for t in &self.tensors {
            l.tensor_data.push(b.len() as u64);
            b.extend_from_slice(&t.data);
            b.resize(b.len().next_multiple_of(align), 0);
        }
        l.len = b.len() as u64;
        (b, l)
    }
}

fn value_type(v: &Value) -> ValueType {
    match v {
        Value::U8(_) => ValueType::U8,
        Value::I8(_) => ValueType::I8,
        Value::U16(_) => ValueType::U16,
        Value::I16(_) => ValueType::I16,
        Value::U32(_) => ValueType::U32,
        Value::I32(_) => ValueType::I32,
        Value::F32(_) => ValueType::F32,
        Value::Bool(_) => ValueType::Bool,
        Value::String(_) => ValueType::String,
        Value::Array(_) => ValueType::Array,
        Value::U64(_) => ValueType::U64,
        Value::I64(_) => ValueType::I64,
        Value::F64(_) => ValueType::F64,
    }
}

fn elem_type(a: &Array) -> ValueType {
    match a {
        Array::U8(_) => ValueType::U8,
        Array::I8(_) => ValueType::I8,
        Array::U16(_) => ValueType::U16,
        Array::I16(_) => ValueType::I16,
        Array::U32(_) => ValueType::U32,
        Array::I32(_) => ValueType::I32,
        Array::F32(_) => ValueType::F32,
        Array::Bool(_) => ValueType::Bool,
        Array::String(_) => ValueType::String,
        Array::Array(_) => ValueType::Array,
        Array::U64(_) => ValueType::U64,
        Array::I64(_) => ValueType::I64,
        Array::F64(_) => ValueType::F64,
    }
}

fn put_u32(b: &mut Vec<u8>, x: u32) {
    b.extend_from_slice(&x.to_le_bytes());
}
fn put_u64(b: &mut Vec<u8>, x: u64) {
    b.extend_from_slice(&x.to_le_bytes());
}
fn put_str(b: &mut Vec<u8>, s: &str) {
    put_u64(b, s.len() as u64);
    b.extend_from_slice(s.as_bytes());
}

/// The value payload, without its type tag.
fn put_value(b: &mut Vec<u8>, v: &Value) {
    match v {
        Value::U8(x) => b.push(*x),
        Value::I8(x) => b.push(*x as u8),
        Value::U16(x) => b.extend_from_slice(&x.to_le_bytes()),
        Value::I16(x) => b.extend_from_slice(&x.to_le_bytes()),
        Value::U32(x) => put_u32(b, *x),
        Value::I32(x) => b.extend_from_slice(&x.to_le_bytes()),
        Value::F32(x) => b.extend_from_slice(&x.to_le_bytes()),
        Value::Bool(x) => b.push(*x as u8),
        Value::String(s) => put_str(b, s),
        Value::Array(a) => put_array(b, a),
        Value::U64(x) => put_u64(b, *x),
        Value::I64(x) => b.extend_from_slice(&x.to_le_bytes()),
        Value::F64(x) => b.extend_from_slice(&x.to_le_bytes()),
    }
}

/// Element type tag, length, elements; a nested array element repeats this whole encoding.
fn put_array(b: &mut Vec<u8>, a: &Array) {
    put_u32(b, elem_type(a).tag());
    put_u64(b, a.len() as u64);
    macro_rules! each {
        ($v:expr) => {
            $v.iter().for_each(|x| b.extend_from_slice(&x.to_le_bytes()))
        };
    }
    match a {
        Array::U8(v) => b.extend_from_slice(v),
        Array::I8(v) => each!(v),
        Array::U16(v) => each!(v),
        Array::I16(v) => each!(v),
        Array::U32(v) => each!(v),
        Array::I32(v) => each!(v),
        Array::F32(v) => each!(v),
        Array::Bool(v) => v.iter().for_each(|&x| b.push(x as u8)),
        Array::String(v) => v.iter().for_each(|s| put_str(b, s)),
        Array::Array(v) => v.iter().for_each(|x| put_array(b, x)),
        Array::U64(v) => each!(v),
        Array::I64(v) => each!(v),
        Array::F64(v) => each!(v),
    }
}
