//! Everything Depot Edge knows about RFID, without I/O, clocks or allocation.
//!
//! Used by the gateway firmware (Cortex-M4F, `thumbv7em-none-eabihf`) and by the
//! depot server. `#![no_std]`, no `unsafe`, no heap: every buffer is inline and
//! bounded, and anything that needs time takes `now_ms` as a parameter.
//!
//! | module | owns |
//! |---|---|
//! | [`epc`] | GS1 EPC Tag Data Standard: binary ⇄ [`epc::Epc`] ⇄ tag / pure-identity URI, GS1 views |
//! | [`gs1`] | GTIN, SSCC, GLN, NSN (AI 7001); element strings and Digital Links a scanner sends |
//! | [`text`] | the inline buffers handed out: [`text::Text`], [`text::EpcBytes`] |
//!
//! # API for the depot server
//! ```
//! use rfid_driver::epc::Epc;
//! let epc = Epc::parse("urn:epc:id:sgtin:0614141.812345.6789")?; // hex, tag/pure/raw URI, Digital Link, (01)…(21)…
//! assert_eq!(epc.hex()?.to_string(), "3014257BF7194E4000001A85");
//! assert_eq!(epc.tag_uri().to_string(), "urn:epc:tag:sgtin-96:0.0614141.812345.6789");
//! assert_eq!(epc.scheme().name(), "sgtin-96");
//! assert_eq!(epc.gtin().map(|g| g.to_string()).as_deref(), Some("80614141123458"));
//! assert_eq!(epc.serial().map(|s| s.to_string()).as_deref(), Some("6789"));
//! let decoded = Epc::from_hex("3074257BF7194E4000001A85")?;
//! assert_eq!(decoded.pure_identity_uri().to_string(), epc.pure_identity_uri().to_string());
//! # Ok::<(), rfid_driver::epc::EpcError>(())
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
