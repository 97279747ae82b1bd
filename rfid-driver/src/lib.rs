//! Everything Depot Edge knows about RFID, without I/O, clocks or allocation.
//!
//! Used by the gateway firmware (Cortex-M4F, `thumbv7em-none-eabihf`) and by the
//! depot server. No `std`, no `unsafe`, no heap: every buffer is inline and
//! bounded, and anything that needs time takes `now_ms` as a parameter.
//!
//! | module | owns |
//! |---|---|
//! | [`epc`] | GS1 EPC Tag Data Standard: binary ⇄ [`epc::Epc`] ⇄ tag / pure-identity URI, GS1 views |
//! | [`gs1`] | GTIN, SSCC, GLN, NSN (AI 7001); element strings and Digital Links a scanner sends |
//! | [`mercury`] | the reader module's serial protocol: frames, CRC, streaming decoder, commands, tag reads |
//! | [`mercury::session`] | [`mercury::session::ReaderSession`]: boots the module, reads continuously, recovers |
//! | [`gate`] | per-door dedup window and direction of travel: raw reads in, [`gate::GatePass`] out |
//! | [`text`] | the inline buffers handed out: [`text::Text`], [`text::EpcBytes`] |
//!
//! **Architecture invariant:** nothing here blocks, allocates, reads a clock or
//! panics on input; every decoder is fuzzed and property-tested for that.
//!
//! # API for the depot server
//! ```
//! use rfid_driver::epc::Epc;
//! // Hex, tag/pure/raw URI, Digital Link (any host), (01)…(21)… element string:
//! let epc = Epc::parse("urn:epc:id:sgtin:0614141.812345.6789")?;
//! assert_eq!(epc.hex()?.to_string(), "3014257BF7194E4000001A85");
//! assert_eq!(epc.tag_uri().to_string(), "urn:epc:tag:sgtin-96:0.0614141.812345.6789");
//! assert_eq!(epc.scheme().name(), "sgtin-96");
//! assert_eq!(epc.gtin().map(|g| g.to_string()).as_deref(), Some("80614141123458"));
//! assert_eq!(epc.serial().map(|s| s.to_string()).as_deref(), Some("6789"));
//! assert_eq!(
//!     epc.element_string().map(|e| e.to_string()).as_deref(),
//!     Some("(01)80614141123458(21)6789")
//! );
//! let decoded = Epc::from_hex("3074257BF7194E4000001A85")?;
//! assert_eq!(decoded.pure_identity_uri().to_string(), epc.pure_identity_uri().to_string());
//! // Errors are small Copy values with a human message.
//! let err = Epc::from_hex("307C257BF7194E4000001A85").unwrap_err();
//! assert_eq!(err.to_string(), "partition 7 is invalid");
//!
//! use rfid_driver::gs1::{self, Nsn};
//! let scan = gs1::parse_scan("https://id.gs1.org/01/80614141123458/21/6789")?;
//! assert_eq!(scan.gtin.map(|g| g.to_string()).as_deref(), Some("80614141123458"));
//! let nsn = Nsn::parse("2510-01-028-8573")?;
//! assert_eq!(nsn.element_string().to_string(), "(7001)2510010288573");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//! A GS1 element string or Digital Link carries no company-prefix length;
//! [`epc::Epc::parse`] assumes 7 digits ([`epc::DEFAULT_COMPANY_PREFIX_DIGITS`]),
//! [`epc::Epc::from_gs1`] takes the real one. Compare items by GTIN + serial
//! when the source may be a scan.
//!
//! # API for the gateway firmware
//! ```
//! use rfid_driver::gate::{Gate, GateConfig};
//! use rfid_driver::mercury::session::{Output, ReaderConfig, ReaderSession};
//!
//! let mut reader = ReaderSession::new(ReaderConfig::default(), 0);
//! let mut gate: Gate<128> = Gate::new(GateConfig::default()); // < 16 KiB
//! let now_ms = 0;
//! // Main loop: when UART bytes arrive, `reader.handle_input(now_ms, bytes)`
//! // (returns how many it took); when the wait is over, `reader.handle_timeout(now_ms)`.
//! loop {
//!     match reader.poll_output() {
//!         Output::Transmit(bytes) => {
//!             let _ = bytes; // write to the reader UART
//!         }
//!         Output::SetLineRate { baud } => {
//!             let _ = baud; // once the bytes before are out, set the UART to it
//!         }
//!         Output::TagRead { at_ms, read } => {
//!             if let Some(pass) = gate.observe(at_ms, read.antenna, read.rssi_dbm, &read.epc) {
//!                 let _ = pass; // closed now (table full, or late): queue it as an event
//!             }
//!         }
//!         Output::Wait { until_ms } => {
//!             let _ = until_ms; // sleep until then or until bytes arrive
//!             break;
//!         }
//!     }
//! }
//! while let Some(pass) = gate.poll(now_ms) {
//!     let _ = (pass.epc, pass.direction, pass.first_seen_ms, pass.last_seen_ms, pass.reads);
//! }
//! let _ = (reader.stats().crc_errors, gate.stats().deduplicated, gate.next_deadline_ms());
//! ```
#![no_std]
#![forbid(unsafe_code)]

#[cfg(test)]
extern crate std;

mod bits;
pub mod epc;
pub mod gate;
pub mod gs1;
pub mod mercury;
pub mod text;
