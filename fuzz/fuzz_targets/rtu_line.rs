//! The RTU framer and the Modbus slave behind it never panic on any bytes
//! at any times, and every reply carries a good CRC.
//!
//! Input: pairs of (byte, gap): the byte arrives `gap` × 100 µs after the
//! one before (gap 255: a jump of hours), so frames are cut by the 3.5
//! character silence wherever the fuzzer puts one.
#![no_main]

use gateway_firmware::bank::RegisterBank;
use gateway_firmware::crc::crc16;
use gateway_firmware::modbus::RtuSlave;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut bank = RegisterBank::default();
    let mut slave = RtuSlave::new(1_750);
    let mut now_us = 0u64;
    let check = |reply: &[u8]| {
        let (body, crc) = reply.split_at(reply.len() - 2);
        assert_eq!(crc16(body).to_le_bytes(), crc, "reply CRC");
    };
    for pair in data.chunks_exact(2) {
        let gap_us = match pair[1] {
            255 => 3_600_000_000,
            gap => u64::from(gap) * 100,
        };
        now_us = now_us.saturating_add(gap_us);
        slave.on_byte(pair[0], now_us, &mut bank, check);
    }
    if let Some(deadline) = slave.deadline_us() {
        slave.on_time(deadline, &mut bank, check);
    }
});
