//! Checksums: CRC-16/MODBUS (reflected poly 0xA001, init 0xFFFF, sent low
//! byte first) for Modbus frames, and CRC-32/ISO-HDLC (the zlib/Ethernet
//! CRC: reflected poly 0xEDB88320, init and final xor 0xFFFFFFFF) for
//! settings records in flash. Owns only the checksums; framing and
//! validation live in [`crate::modbus`] and [`crate::settings`].

const TABLE: [u16; 256] = {
    let mut table = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u16;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xA001
            } else {
                crc >> 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

/// CRC-16/MODBUS of `bytes`.
pub fn crc16(bytes: &[u8]) -> u16 {
    bytes.iter().fold(0xFFFF, |crc, &b| {
        (crc >> 8) ^ TABLE[usize::from((crc as u8) ^ b)]
    })
}

const TABLE32: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

/// CRC-32/ISO-HDLC of `bytes`.
pub fn crc32(bytes: &[u8]) -> u32 {
    !bytes.iter().fold(0xFFFF_FFFF, |crc, &b| {
        (crc >> 8) ^ TABLE32[usize::from((crc as u8) ^ b)]
    })
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
}
