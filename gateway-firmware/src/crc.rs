//! Checksums: CRC-16/MODBUS (reflected poly 0xA001, init 0xFFFF, sent low
//! byte first) for Modbus frames, and CRC-32/ISO-HDLC (the zlib/Ethernet
//! CRC: reflected poly 0xEDB88320, init and final xor 0xFFFFFFFF) for
//! settings records in flash. Owns only the checksums; framing and
//! validation live in [`crate::modbus`] and [`crate::settings`]. Both come
//! from the `crc` crate's catalogue (`no_std`, tables built at compile
//! time); the table sizes were chosen by measuring flash and instructions.

use crc::{Crc, Table, CRC_16_MODBUS, CRC_32_ISO_HDLC};

/// CRC-16/MODBUS, byte at a time over a 256-entry table (512 B of flash):
/// the same loop as the hand-built table this replaced, 8 Thumb
/// instructions a byte. It runs over every request and reply.
static MODBUS: Crc<u16, Table<1>> = Crc::<u16, Table<1>>::new(&CRC_16_MODBUS);

/// CRC-32/ISO-HDLC, byte at a time over a 256-entry table (1 KiB of flash,
/// 7 instructions a byte). The table-less form would save that KiB but
/// take ~62 instructions a byte, and a settings save scans every record of
/// both sectors (up to 8,192 CRCs of 28 bytes, ~14 M instructions instead
/// of ~1.6 M) while the main loop, and so the reader queue, waits.
static SETTINGS: Crc<u32, Table<1>> = Crc::<u32, Table<1>>::new(&CRC_32_ISO_HDLC);

/// CRC-16/MODBUS of `bytes`.
pub fn crc16(bytes: &[u8]) -> u16 {
    MODBUS.checksum(bytes)
}

/// CRC-32/ISO-HDLC of `bytes`.
pub fn crc32(bytes: &[u8]) -> u32 {
    SETTINGS.checksum(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_value_and_a_known_frame() {
        // The catalogue check value of CRC-16/MODBUS.
        assert_eq!(crc16(b"123456789"), 0x4B37);
        // Read holding registers 0..2 of unit 1: 01 03 00 00 00 02 C4 0B.
        assert_eq!(
            crc16(&[0x01, 0x03, 0x00, 0x00, 0x00, 0x02]).to_le_bytes(),
            [0xC4, 0x0B]
        );
    }

    #[test]
    fn crc32_check_values() {
        // The catalogue check value of CRC-32/ISO-HDLC, and the empty input.
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    /// The textbook bit-at-a-time forms, as a reference independent of the
    /// `crc` crate's tables.
    fn bitwise(bytes: &[u8], poly: u32, init: u32, xorout: u32) -> u32 {
        let mut crc = init;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ poly
                } else {
                    crc >> 1
                };
            }
        }
        crc ^ xorout
    }

    proptest::proptest! {
        #[test]
        fn both_crcs_match_the_bitwise_reference(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
        ) {
            proptest::prop_assert_eq!(
                u32::from(crc16(&bytes)),
                bitwise(&bytes, 0xA001, 0xFFFF, 0)
            );
            proptest::prop_assert_eq!(
                crc32(&bytes),
                bitwise(&bytes, 0xEDB8_8320, 0xFFFF_FFFF, 0xFFFF_FFFF)
            );
        }
    }
}
