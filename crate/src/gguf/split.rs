//! Split GGUF files (`name-00001-of-00003.gguf`, as llama.cpp's gguf-split writes them): every part
//! is a GGUF file; the first holds the model's metadata, each holds some of the tensors. The parts
//! are read as one model by treating their concatenation as one virtual file: a tensor's offset
//! becomes its position in that concatenation.

use super::error::{GgufError, Result};
use super::reader::Gguf;

/// `(stem, part number from 1, count)` of a split file name, e.g. `model-00002-of-00003.gguf`.
pub fn parse_split_name(name: &str) -> Option<(&str, usize, usize)> {
    let base = name.strip_suffix(".gguf")?;
    let (rest, count) = base.rsplit_once("-of-")?;
    let (stem, no) = rest.rsplit_once('-')?;
    let (no, count): (usize, usize) = (no.parse().ok()?, count.parse().ok()?);
    (no >= 1 && no <= count && count > 1).then_some((stem, no, count))
}

/// The names of all parts of the split whose part `name` is.
pub fn split_names(name: &str) -> Option<Vec<String>> {
    let (stem, _, count) = parse_split_name(name)?;
    Some((1..=count).map(|i| format!("{stem}-{i:05}-of-{count:05}.gguf")).collect())
}

fn split_key(g: &Gguf, key: &str, part: usize) -> Result<u64> {
    g.get_u64(key)?.ok_or_else(|| GgufError::MissingKey { key: format!("{key} (in part {})", part + 1) })
}

impl Gguf {
    /// Joins the headers of a split's parts (in order) into one header over their concatenation.
    pub fn merge_splits(parts: Vec<Gguf>) -> Result<Gguf> {
        let n = parts.len() as u64;
        let mut base = 0u64;
        let mut tensors = Vec::new();
        for (i, p) in parts.iter().enumerate() {
            let (no, count) = (split_key(p, "split.no", i)?, split_key(p, "split.count", i)?);
            if no != i as u64 || count != n {
                return Err(GgufError::BadTensor {
                    name: format!("split part {}", i + 1),
                    reason: format!("it says it is part {} of {count}, expected part {} of {n}", no + 1, i + 1),
                });
            }
            for t in &p.tensors {
                let mut t = t.clone();
                t.offset += base + p.data_offset;
                tensors.push(t);
            }
            base += p.file_len;
        }
        let mut first = parts.into_iter().next().ok_or_else(|| GgufError::Io("no split parts".into()))?;
        if let Some(want) = first.get_u64("split.tensors.count")? {
            if want != tensors.len() as u64 {
                return Err(GgufError::TooMany {
                    what: format!("tensors across the split's parts (split.tensors.count says {want})"),
                    count: tensors.len() as u64,
                    max: want,
                });
            }
        }
        first.replace_tensors(tensors, base)?;
        Ok(first)
    }
}

/// Opens a model file natively: a single GGUF, or, for any part of a split, all its parts (found
/// next to it) read as one.
#[cfg(not(target_arch = "wasm32"))]
pub fn open(path: &std::path::Path) -> Result<(Box<dyn super::ByteSource>, Gguf)> {
    use super::source::{ConcatSource, FileSource};
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let Some(names) = split_names(name) else {
        let src = FileSource::open(path)?;
        let g = Gguf::read(&src)?;
        return Ok((Box::new(src), g));
    };
    let dir = path.parent().unwrap_or(std::path::Path::new("."));
    let mut files = Vec::new();
    let mut headers = Vec::new();
    for n in &names {
        let src = FileSource::open(dir.join(n))?;
        headers.push(Gguf::read(&src).map_err(|e| GgufError::Io(format!("{n}: {e}")))?);
        files.push(src);
    }
    let g = Gguf::merge_splits(headers)?;
    Ok((Box::new(ConcatSource::new(files)), g))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_names_round_trip() {
        assert_eq!(parse_split_name("m-00002-of-00003.gguf"), Some(("m", 2, 3)));
        assert_eq!(parse_split_name("m.gguf"), None);
        assert_eq!(parse_split_name("m-00004-of-00003.gguf"), None);
        assert_eq!(split_names("a-b-00001-of-00002.gguf").unwrap(), vec!["a-b-00001-of-00002.gguf", "a-b-00002-of-00002.gguf"]);
    }
}
