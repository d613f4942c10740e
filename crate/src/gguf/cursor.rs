//! A bounds-checked, buffered cursor over a [`ByteSource`]. Every read names what it was reading so
//! that a truncated file reports the section it was cut in.

use super::error::{GgufError, Result};
use super::source::ByteSource;

const CHUNK: u64 = 64 * 1024;

pub(crate) struct Cursor<'a> {
    src: &'a dyn ByteSource,
    pos: u64,
    buf: Vec<u8>,
    buf_start: u64,
}

impl<'a> Cursor<'a> {
    pub fn new(src: &'a dyn ByteSource) -> Self {
        Cursor { src, pos: 0, buf: Vec::new(), buf_start: 0 }
    }
    pub fn pos(&self) -> u64 {
        self.pos
    }
    pub fn remaining(&self) -> u64 {
        self.src.len().saturating_sub(self.pos)
    }

    /// Returns the next `n` bytes (n ≤ CHUNK or a string capped by the caller).
    pub fn take(&mut self, n: u64, what: &dyn Fn() -> String) -> Result<&[u8]> {
        let end = self.pos.checked_add(n).ok_or_else(|| self.truncated(n, what))?;
        if end > self.src.len() {
            return Err(self.truncated(n, what));
        }
        let buf_end = self.buf_start + self.buf.len() as u64;
        if self.pos < self.buf_start || end > buf_end {
            // Refill from the current position; never read past the file end.
            let want = n.max(CHUNK).min(self.src.len() - self.pos);
            self.buf.resize(want as usize, 0);
            self.src.read_at(self.pos, &mut self.buf)?;
            self.buf_start = self.pos;
        }
        let off = (self.pos - self.buf_start) as usize;
        self.pos = end;
        Ok(&self.buf[off..off + n as usize])
    }

    pub fn truncated(&self, n: u64, what: &dyn Fn() -> String) -> GgufError {
        GgufError::Truncated { what: what(), offset: self.pos, needed: n, file_len: self.src.len() }
    }

    pub fn u8(&mut self, what: &dyn Fn() -> String) -> Result<u8> {
        Ok(self.take(1, what)?[0])
    }
    pub fn u16(&mut self, what: &dyn Fn() -> String) -> Result<u16> {
        Ok(u16::from_le_bytes(self.take(2, what)?.try_into().unwrap()))
    }
    pub fn u32(&mut self, what: &dyn Fn() -> String) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4, what)?.try_into().unwrap()))
    }
    pub fn u64(&mut self, what: &dyn Fn() -> String) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take(8, what)?.try_into().unwrap()))
    }

    /// A GGUF string: u64 length then UTF-8 bytes. The length is capped by `max` and by the bytes
    /// left in the file before anything is allocated.
    pub fn string(&mut self, max: u64, what: &dyn Fn() -> String) -> Result<String> {
        let len = self.u64(&|| format!("{} (length)", what()))?;
        if len > max {
            return Err(GgufError::StringTooLong { what: what(), len, max });
        }
        if len > self.remaining() {
            return Err(self.truncated(len, what));
        }
        let bytes = self.take(len, what)?.to_vec();
        String::from_utf8(bytes).map_err(|_| GgufError::BadUtf8 { what: what() })
    }
}
