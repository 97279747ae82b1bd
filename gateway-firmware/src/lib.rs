//! The gateway's portable core: everything the firmware decides, with no
//! registers, pins, interrupts or clocks (brief §4).
//!
//! Owns the Modbus RTU slave ([`modbus`]), the RTU framer ([`rtu`]), the
//! register bank ([`bank`]) with its event ring ([`ring`]), the receive
//! queues between the UART interrupts and the main loop ([`rx`]), the MT-SICS
//! scale client ([`scale`]), the dock door ([`reader`]: the reader
//! module's session and the gate logic, both from `rfid-driver`), the
//! settings store ([`settings`]: the configuration kept in flash across
//! resets, behind a NOR-flash trait the board implements), and the changes
//! worth a log line ([`notice`], as values: the binary logs them with
//! defmt), and the RS-485 transmit sequence ([`rs485`], over an
//! `embedded-hal` output pin). Time comes in as arguments (`now_us`, `now_ms`),
//! bytes come in and go out as slices; the board layer (`src/board.rs`,
//! `src/bin/gateway.rs`) only moves them. Nothing here may allocate or panic
//! on any input, nor block, except a settings save that must erase a flash
//! sector (once every 4,096 saves; see [`settings`]).
//!
//! Built `no_std` for the target; its tests run on the host with
//! `cargo test-host` (an alias for `cargo test --lib --target x86_64-unknown-linux-gnu`).
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

pub mod bank;
pub mod crc;
pub mod modbus;
pub mod notice;
pub mod reader;
pub mod ring;
pub mod rs485;
pub mod rtu;
pub mod rx;
pub mod scale;
pub mod settings;

/// Firmware version as served in the input registers.
pub const FIRMWARE_VERSION: (u16, u16, u16) = (
    parse_version(env!("CARGO_PKG_VERSION_MAJOR")),
    parse_version(env!("CARGO_PKG_VERSION_MINOR")),
    parse_version(env!("CARGO_PKG_VERSION_PATCH")),
);

const fn parse_version(text: &str) -> u16 {
    let bytes = text.as_bytes();
    let mut value = 0u16;
    let mut i = 0;
    while i < bytes.len() {
        value = value * 10 + (bytes[i] - b'0') as u16;
        i += 1;
    }
    value
}
