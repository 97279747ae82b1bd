//! The gateway's Modbus request handler never panics, whatever the frame;
//! a reply always carries a good CRC, comes from the unit asked, and an
//! exception uses code 01, 02 or 03 only; a frame with a bad CRC is never
//! answered.
//!
//! Input: the first byte picks the unit id (1..=247), the second whether
//! the rest gets a correct CRC appended (even) or is taken as is (odd), so
//! the fuzzer reaches the request rules behind the CRC check.
#![no_main]

use gateway_firmware::bank::{Config, RegisterBank};
use gateway_firmware::crc::crc16;
use gateway_firmware::modbus::{handle_request, Reply};
use heapless::Vec;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [unit, mode, rest @ ..] = data else {
        return;
    };
    let unit_id = unit % 247 + 1;
    let mut frame = rest.to_vec();
    if mode % 2 == 0 {
        let crc = crc16(rest);
        frame.extend_from_slice(&crc.to_le_bytes());
    }
    let mut bank = RegisterBank::new(Config {
        unit_id,
        ..Config::default()
    });
    let mut out = Vec::new();
    let good_crc = frame.len() >= 4 && {
        let (body, crc) = frame.split_at(frame.len() - 2);
        crc16(body).to_le_bytes() == crc
    };
    match handle_request(&frame, &mut bank, &mut out) {
        Reply::Silent => assert!(out.is_empty()),
        Reply::Send => {
            assert!(good_crc, "a frame with a bad CRC was answered");
            let (body, crc) = out.split_at(out.len() - 2);
            assert_eq!(crc16(body).to_le_bytes(), crc, "reply CRC");
            assert_eq!(body[0], unit_id, "reply from another unit");
            if body[1] & 0x80 != 0 {
                assert_eq!(body.len(), 3);
                assert!((1..=3).contains(&body[2]), "exception {}", body[2]);
            }
        }
    }
});
