//! The firmware's log: the defmt transport of each board, the timestamp in
//! front of each line, and the words for each [`Notice`] of the core. What
//! is news, and how often, is decided in `gateway_firmware::notice`; this
//! module only words it and picks the level.
//!
//! On `board-qemu` the frames go out through semihosting on QEMU's stdout
//! (`hil-tests` decodes them); on `board-f405` into a 1 KiB RTT buffer in
//! RAM that a debug probe reads, never blocking: a frame that does not fit
//! (no probe, or one that reads too slowly) is cut, and the gateway goes on.
//! Levels below `DEFMT_LOG` (default `info`, see `.cargo/config.toml`) are
//! compiled out.

use gateway_firmware::notice::{Notice, ScaleCondition};
use gateway_registers::SettingsState;

#[cfg(all(feature = "board-qemu", feature = "board-f405"))]
compile_error!("one board at a time: board-f405 needs --no-default-features");
#[cfg(not(any(feature = "board-qemu", feature = "board-f405")))]
compile_error!("no board: build with board-qemu (the default) or board-f405");

#[cfg(feature = "board-f405")]
use defmt_rtt as _;
#[cfg(feature = "board-qemu")]
use defmt_semihosting as _;

// Seconds since boot, to the millisecond.
defmt::timestamp!("{=u64:ms}", crate::board::now_us() / 1_000);

/// A four-byte version field of the reader module, shown as the Mercury
/// API shows it (`01.0b.01.02`).
struct Dotted([u8; 4]);

impl defmt::Format for Dotted {
    fn format(&self, f: defmt::Formatter<'_>) {
        let [a, b, c, d] = self.0;
        defmt::write!(f, "{=u8:02x}.{=u8:02x}.{=u8:02x}.{=u8:02x}", a, b, c, d);
    }
}

/// Logs one notice as one line.
pub fn notice(notice: Notice) {
    match notice {
        Notice::ReaderReading {
            version: Some(v),
            restarts,
            baud,
        } => defmt::info!(
            "reader module reading at {=u32} baud: firmware {} hardware {} bootloader {}; {=u32} restarts since boot",
            baud,
            Dotted(v.firmware),
            Dotted(v.hardware),
            Dotted(v.bootloader),
            restarts
        ),
        Notice::ReaderReading {
            version: None,
            restarts,
            baud,
        } => defmt::info!(
            "reader module reading at {=u32} baud (no version answer); {=u32} restarts since boot",
            baud,
            restarts
        ),
        Notice::ReaderFastRateGivenUp { baud } => defmt::warn!(
            "reader module refused or failed the fast line rate: not asked for it again; reading at the rate it answers at ({=u32} baud now)",
            baud
        ),
        Notice::ReaderFault(fault) => defmt::warn!(
            "reader module boot failed ({}): retrying; repeats are counted in READER_FRAME_ERRORS, not logged, until it reads",
            fault
        ),
        Notice::ReaderStalled => {
            defmt::warn!("reader module silent while reading: rebooting it")
        }
        Notice::ReaderRestart { restarts } => {
            defmt::debug!("reader module reboot, {=u32} since boot", restarts)
        }
        Notice::Scale(condition @ ScaleCondition::Online) => {
            defmt::info!("scale {}", condition)
        }
        Notice::Scale(condition) => defmt::warn!("scale {}", condition),
        Notice::Setting(setting) => defmt::info!("setting written: {}", setting),
        Notice::SettingsSave {
            state: SettingsState::SaveFailed,
            failed,
        } => defmt::warn!(
            "settings save to flash failed ({=u16} since boot): the change holds until reset",
            failed
        ),
        Notice::SettingsSave { .. } => defmt::info!("settings saved to flash"),
        Notice::RingOverflow { waiting, dropped } => defmt::warn!(
            "event ring full ({=u16} events wait for acknowledgement): {=u32} gate passes dropped since boot",
            waiting,
            dropped
        ),
    }
}
