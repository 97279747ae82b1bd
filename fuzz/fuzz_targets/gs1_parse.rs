//! GS1 element strings, Digital Links, GTIN and NSN parsing never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rfid_driver::epc::Epc;
use rfid_driver::gs1;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = core::str::from_utf8(data) else {
        return;
    };
    if let Ok(scan) = gs1::parse_scan(text) {
        for digits in 6..=12 {
            let _ = Epc::from_gs1(&scan, digits);
        }
    }
    let _ = gs1::parse_element_string(text);
    let _ = gs1::parse_digital_link(text);
    let _ = gs1::Gtin::parse(text);
    let _ = gs1::Nsn::parse(text).map(|n| n.to_string());
});
