//! `gateway-registers`' decoders never panic on any registers, and a
//! record that decodes encodes back to the registers it came from.
//!
//! Input: big-endian 16-bit registers, as a Modbus reply carries them.
#![no_main]

use gateway_registers::{EventBlock, EventHeader, EventRecord, GatewayStatus, EVENT_RECORD_REGS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let regs: Vec<u16> = data
        .chunks_exact(2)
        .map(|p| u16::from_be_bytes([p[0], p[1]]))
        .collect();
    if let Ok(Some(record)) = EventRecord::from_registers(&regs) {
        assert_eq!(
            record.to_registers()[..],
            regs[..usize::from(EVENT_RECORD_REGS)]
        );
        let _ = record.epc_bytes();
    }
    if let Ok(block) = EventBlock::from_registers(&regs) {
        assert_eq!(EventHeader::from_registers(&regs), Ok(block.header));
        block.events().for_each(drop);
    }
    let _ = GatewayStatus::from_registers(&regs);
});
