//! Byte-range sources: the reader asks for `(offset, length)` ranges and never assumes the whole file
//! is in memory, so the same parser serves a local file, a buffer and an HTTP prefix in the browser.

use super::error::{GgufError, Result};

/// A random-access byte source of known total length.
pub trait ByteSource {
    /// Total length of the file in bytes.
    fn len(&self) -> u64;
    /// Fills `buf` with the bytes at `offset..offset + buf.len()`. The caller guarantees the range
    /// lies inside `len()`. A source that holds only a prefix returns [`GgufError::NeedBytes`].
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()>;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl ByteSource for [u8] {
    fn len(&self) -> u64 {
        <[u8]>::len(self) as u64
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let start = offset as usize;
        buf.copy_from_slice(&self[start..start + buf.len()]);
        Ok(())
    }
}

impl ByteSource for Vec<u8> {
    fn len(&self) -> u64 {
        self.as_slice().len() as u64
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        self.as_slice().read_at(offset, buf)
    }
}

/// The first bytes of a file whose total length is known (e.g. from an HTTP `Content-Range`).
/// Reads past the prefix ask the caller for more with [`GgufError::NeedBytes`].
pub struct PrefixSource<'a> {
    pub prefix: &'a [u8],
    pub total_len: u64,
}

impl ByteSource for PrefixSource<'_> {
    fn len(&self) -> u64 {
        self.total_len
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let end = offset + buf.len() as u64;
        if end > self.prefix.len() as u64 {
            return Err(GgufError::NeedBytes { end });
        }
        self.prefix.read_at(offset, buf)
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod file {
    use super::*;
    use std::fs::File;
    use std::path::Path;

    /// A local file read with positioned reads (no shared cursor, so `&self` suffices).
    pub struct FileSource {
        file: File,
        len: u64,
    }

    impl FileSource {
        pub fn open(path: impl AsRef<Path>) -> Result<Self> {
            let path = path.as_ref();
            let file = File::open(path).map_err(|e| GgufError::Io(format!("cannot open {}: {e}", path.display())))?;
            let meta = file.metadata().map_err(|e| GgufError::Io(e.to_string()))?;
            if !meta.is_file() {
                return Err(GgufError::Io(format!("{} is not a regular file", path.display())));
            }
            Ok(FileSource { file, len: meta.len() })
        }
    }

    impl ByteSource for FileSource {
        fn len(&self) -> u64 {
            self.len
        }
        fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
            use std::os::unix::fs::FileExt;
            self.file.read_exact_at(buf, offset).map_err(|e| GgufError::Io(e.to_string()))
        }
    }
}
#[cfg(not(target_arch = "wasm32"))]
pub use file::FileSource;

/// Several sources read as their concatenation (the parts of a split GGUF).
pub struct ConcatSource<S: ByteSource> {
    parts: Vec<(u64, S)>,
    len: u64,
}

impl<S: ByteSource> ConcatSource<S> {
    pub fn new(parts: Vec<S>) -> Self {
        let mut start = 0;
        let parts: Vec<(u64, S)> = parts
            .into_iter()
            .map(|p| {
                let s = start;
                start += p.len();
                (s, p)
            })
            .collect();
        ConcatSource { parts, len: start }
    }
}

impl<S: ByteSource> ByteSource for ConcatSource<S> {
    fn len(&self) -> u64 {
        self.len
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let mut done = 0usize;
        for (start, p) in &self.parts {
            let end = start + p.len();
            let pos = offset + done as u64;
            if done == buf.len() {
                break;
            }
            if pos >= end || pos < *start {
                continue;
            }
            let n = ((end - pos) as usize).min(buf.len() - done);
            p.read_at(pos - start, &mut buf[done..done + n])?;
            done += n;
        }
        Ok(())
    }
}
