//! The EPC decoder and every text parser behind `Epc::parse` never panic, and
//! whatever decodes encodes back to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rfid_driver::epc::Epc;

fuzz_target!(|data: &[u8]| {
    if let Ok(epc) = Epc::decode(data) {
        let bytes = epc.to_bytes().expect("a decoded EPC encodes");
        assert_eq!(Epc::decode(bytes.as_bytes()), Ok(epc));
        let _ = (epc.tag_uri().to_string(), epc.pure_identity_uri().to_string());
        let _ = epc.element_string().map(|e| e.to_string());
        let _ = epc.digital_link().map(|d| d.to_string());
    }
    if let Ok(text) = core::str::from_utf8(data) {
        if let Ok(epc) = Epc::parse(text) {
            let _ = epc.to_bytes();
            let _ = epc.tag_uri().to_string();
        }
    }
});
