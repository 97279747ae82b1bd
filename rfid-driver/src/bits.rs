//! Big-endian bit cursors over byte slices, as EPC binary encodings need them.
//! Every read and write is bounds-checked and returns `None` instead of panicking.

/// Reads big-endian bit fields of up to 64 bits.
pub(crate) struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> BitReader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    /// Bits not yet read.
    pub(crate) fn remaining(&self) -> usize {
        (self.data.len() * 8).saturating_sub(self.pos)
    }

    /// The next `n` (≤ 64) bits as an integer, or `None` past the end.
    pub(crate) fn read(&mut self, n: u32) -> Option<u64> {
        if n > 64 || (n as usize) > self.remaining() {
            return None;
        }
        let mut value: u64 = 0;
        let mut left = n;
        while left > 0 {
            let byte = *self.data.get(self.pos / 8)?;
            let offset = (self.pos % 8) as u32;
            let avail = 8 - offset;
            let take = avail.min(left);
            let bits = (u64::from(byte) >> (avail - take)) & ((1u64 << take) - 1);
            value = (value << take) | bits;
            self.pos += take as usize;
            left -= take;
        }
        Some(value)
    }
}

/// Writes big-endian bit fields into a zeroed prefix of a byte slice.
pub(crate) struct BitWriter<'a> {
    data: &'a mut [u8],
    pos: usize,
}

impl<'a> BitWriter<'a> {
    /// Zeroes `data` and starts writing at bit 0.
    pub(crate) fn new(data: &'a mut [u8]) -> Self {
        data.fill(0);
        Self { data, pos: 0 }
    }

    /// Bits written so far.
    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    /// Writes the low `n` (≤ 64) bits of `value`; `None` if the slice is too short.
    pub(crate) fn write(&mut self, value: u64, n: u32) -> Option<()> {
        if n > 64 || self.pos + n as usize > self.data.len() * 8 {
            return None;
        }
        let mut left = n;
        while left > 0 {
            let offset = (self.pos % 8) as u32;
            let avail = 8 - offset;
            let take = avail.min(left);
            let chunk = (value >> (left - take)) & ((1u64 << take) - 1);
            let slot = self.data.get_mut(self.pos / 8)?;
            // `chunk` has at most `take` ≤ 8 bits, shifted to its place in the byte.
            *slot |= (chunk << (avail - take)) as u8;
            self.pos += take as usize;
            left -= take;
        }
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_odd_widths() {
        let mut buf = [0u8; 16];
        let mut w = BitWriter::new(&mut buf);
        w.write(0b101, 3).expect("fits");
        w.write(0x1_2345_6789, 38).expect("fits");
        w.write(u64::MAX, 64).expect("fits");
        assert!(w.write(1, 30).is_none());
        let mut r = BitReader::new(&buf);
        assert_eq!(r.read(3), Some(0b101));
        assert_eq!(r.read(38), Some(0x1_2345_6789));
        assert_eq!(r.read(64), Some(u64::MAX));
        assert_eq!(r.read(24), None);
        assert_eq!(r.read(23), Some(0));
    }
}
