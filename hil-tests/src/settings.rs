//! Settings records as `gateway-firmware/README.md` ("Settings in flash")
//! documents them, built here from that description and not from the
//! firmware's code, so a test that boots QEMU with such a record checks the
//! documented layout. Also the flash images QEMU's generic loader places in
//! the settings sectors at boot.

use std::path::{Path, PathBuf};

/// Address of settings sector 10, the first of the two.
pub const SECTOR_10: u32 = 0x080C_0000;
/// Address of settings sector 11.
pub const SECTOR_11: u32 = 0x080E_0000;
/// Bytes per settings sector.
pub const SECTOR_BYTES: usize = 128 * 1024;
/// Bytes per record (and per slot).
pub const RECORD_BYTES: usize = 32;

/// The settings a record carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Modbus unit id.
    pub unit_id: u16,
    /// Gate dedup window, ms.
    pub dedup_window_ms: u16,
    /// Scale polling period, ms.
    pub scale_poll_ms: u16,
}

/// CRC-32/ISO-HDLC (zlib's `crc32`), bit by bit.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// One record: magic `GWST`, layout version 1, reserved 0, sequence number,
/// the three settings, 10 reserved bytes, CRC-32 of the 28 bytes before it;
/// little-endian throughout.
pub fn record(seq: u32, settings: Settings) -> [u8; RECORD_BYTES] {
    let mut bytes = Vec::with_capacity(RECORD_BYTES);
    bytes.extend_from_slice(b"GWST");
    bytes.extend_from_slice(&1u16.to_le_bytes());
    bytes.extend_from_slice(&0u16.to_le_bytes());
    bytes.extend_from_slice(&seq.to_le_bytes());
    bytes.extend_from_slice(&settings.unit_id.to_le_bytes());
    bytes.extend_from_slice(&settings.dedup_window_ms.to_le_bytes());
    bytes.extend_from_slice(&settings.scale_poll_ms.to_le_bytes());
    bytes.resize(28, 0);
    let crc = crc32(&bytes);
    bytes.extend_from_slice(&crc.to_le_bytes());
    bytes.try_into().expect("32 bytes")
}

/// A whole sector holding `records` in its first slots and erased (`0xFF`)
/// after them, written to a file named after `name` in the temporary
/// directory; returns the path for [`loader_args`].
pub fn sector_image(name: &str, records: &[[u8; RECORD_BYTES]]) -> PathBuf {
    let mut image = vec![0xFF; SECTOR_BYTES];
    for (slot, record) in records.iter().enumerate() {
        image[slot * RECORD_BYTES..][..RECORD_BYTES].copy_from_slice(record);
    }
    let path = std::env::temp_dir().join(format!(
        "depot-edge-settings-{}-{name}.bin",
        std::process::id()
    ));
    std::fs::write(&path, image).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    path
}

/// QEMU arguments that place `file` in flash at `address` before the
/// firmware starts (the generic loader writes into ROM too).
pub fn loader_args(file: &Path, address: u32) -> Vec<String> {
    vec![
        "-device".to_string(),
        format!("loader,file={},addr={address:#010x}", file.display()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn record_layout() {
        let bytes = record(
            1,
            Settings {
                unit_id: 7,
                dedup_window_ms: 1_500,
                scale_poll_ms: 250,
            },
        );
        assert_eq!(&bytes[..4], b"GWST");
        assert_eq!(&bytes[4..8], &[1, 0, 0, 0]);
        assert_eq!(&bytes[8..18], &[1, 0, 0, 0, 7, 0, 0xDC, 0x05, 0xFA, 0]);
        assert!(bytes[18..28].iter().all(|&b| b == 0));
        assert_eq!(&bytes[28..], &0x67FF_04D3u32.to_le_bytes());
    }
}
