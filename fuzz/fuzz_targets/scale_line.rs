//! The MT-SICS line parser and the scale client never panic on any bytes;
//! a weight parsed from a line is the one it states.
#![no_main]

use gateway_firmware::bank::RegisterBank;
use gateway_firmware::scale::{parse_line, ScaleAnswer, ScaleClient};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(ScaleAnswer::Weight { grams, stable }) = parse_line(data) {
        // Written back in grams, the weight parses to itself.
        let kind = if stable { "S" } else { "D" };
        let line = format!("S {kind} {grams} g");
        assert_eq!(
            parse_line(line.as_bytes()),
            Ok(ScaleAnswer::Weight { grams, stable })
        );
    }
    let mut bank = RegisterBank::default();
    let mut client = ScaleClient::new();
    for &b in data {
        client.push(b, &mut bank);
    }
});
