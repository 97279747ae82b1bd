//! Fixed-capacity ASCII text and raw EPC bytes: the two small owned buffers the
//! codecs hand out. Both are `Copy`, never allocate and only ever hold what their
//! constructors checked (ASCII text; at most `N` bytes).

use core::fmt;

/// An ASCII string of at most `N` bytes (`N` ≤ 255), stored inline.
///
/// Serials, extensions, CAGE codes and part numbers are `Text`; the type only
/// guarantees ASCII and the length bound — each codec checks its own character set.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Text<const N: usize> {
    len: u8,
    bytes: [u8; N],
}

impl<const N: usize> Text<N> {
    /// The empty text.
    pub const fn new() -> Self {
        Self {
            len: 0,
            bytes: [0; N],
        }
    }

    /// Copies `s`; `None` if it is longer than `N` or not ASCII.
    pub fn from_ascii(s: &[u8]) -> Option<Self> {
        let mut text = Self::new();
        for &b in s {
            if !text.push(b) {
                return None;
            }
        }
        Some(text)
    }

    /// Appends one ASCII byte; `false` (and nothing changed) when full or not ASCII.
    pub fn push(&mut self, byte: u8) -> bool {
        let len = usize::from(self.len);
        if !byte.is_ascii() || len >= N || len >= usize::from(u8::MAX) {
            return false;
        }
        self.bytes[len] = byte;
        self.len += 1;
        true
    }

    /// The text as `&str`.
    pub fn as_str(&self) -> &str {
        // Only ASCII is ever stored (see `push`), so this never falls back.
        core::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }

    /// The text as bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Whether the text is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl<const N: usize> Default for Text<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> fmt::Display for Text<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<const N: usize> fmt::Debug for Text<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// The longest EPC a Gen2 tag can carry: 31 words (the PC word's length field).
pub const EPC_MAX_BYTES: usize = 62;

/// The EPC bank contents of one tag as read from the air, up to 62 bytes.
///
/// This is what the reader reports and the gate deduplicates; [`crate::epc::Epc::decode`]
/// turns it into a typed identity.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct EpcBytes {
    len: u8,
    bytes: [u8; EPC_MAX_BYTES],
}

impl EpcBytes {
    /// Copies `bytes`; `None` if longer than [`EPC_MAX_BYTES`].
    pub fn new(bytes: &[u8]) -> Option<Self> {
        if bytes.len() > EPC_MAX_BYTES {
            return None;
        }
        let mut out = Self {
            len: 0,
            bytes: [0; EPC_MAX_BYTES],
        };
        out.bytes[..bytes.len()].copy_from_slice(bytes);
        // Bounded by EPC_MAX_BYTES (62) above.
        out.len = bytes.len() as u8;
        Some(out)
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Whether no byte was read.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Default for EpcBytes {
    /// No bytes.
    fn default() -> Self {
        Self {
            len: 0,
            bytes: [0; EPC_MAX_BYTES],
        }
    }
}

impl fmt::Display for EpcBytes {
    /// Canonical uppercase hex.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.as_bytes() {
            write!(f, "{b:02X}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for EpcBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EpcBytes({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_refuses_overflow_and_non_ascii() {
        assert!(Text::<3>::from_ascii(b"abcd").is_none());
        assert!(Text::<3>::from_ascii("é".as_bytes()).is_none());
        assert_eq!(Text::<3>::from_ascii(b"abc").map(|t| t.len()), Some(3));
    }

    #[test]
    fn epc_bytes_display_is_uppercase_hex() {
        let b = EpcBytes::new(&[0x30, 0xab]).expect("fits");
        assert_eq!(std::format!("{b}"), "30AB");
        assert!(EpcBytes::new(&[0; 63]).is_none());
    }
}
