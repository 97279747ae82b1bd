//! The register bank: every value the Modbus map serves, and the rules for
//! writing holding registers.
//!
//! Owns counters, configuration (unit id, dedup window, scale period) and
//! its value ranges, the latest weight, reader and scale status, the
//! settings storage state and the [`EventRing`]. Addresses and encodings
//! come from `gateway-registers`; this module must not know about frames or
//! function codes (that is [`crate::modbus`]) nor about flash (that is
//! [`crate::settings`]).

use core::ops::RangeInclusive;

use gateway_registers::{
    holding, input, u32_from_registers, u32_to_registers, weight_flags, Counters, EventRecord,
    ReaderStatus, ScaleStatus, SettingsState, EVENT_RECORD_REGS, EVENT_WINDOW_RECORDS, MAP_VERSION,
};

use crate::ring::EventRing;
use crate::FIRMWARE_VERSION;

/// Why a register access was refused; maps onto a Modbus exception.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccessError {
    /// An address outside the map (exception 02).
    IllegalAddress,
    /// A value outside the register's range (exception 03).
    IllegalValue,
}

/// Holding-register configuration: the settings the gateway persists
/// ([`crate::settings`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Modbus unit id, 1..=247.
    pub unit_id: u8,
    /// Gate dedup window, ms.
    pub dedup_window_ms: u16,
    /// Scale polling period, ms.
    pub scale_poll_ms: u16,
}

impl Config {
    /// Unit ids a write may set.
    pub const UNIT_IDS: RangeInclusive<u16> = 1..=247;
    /// Dedup windows a write may set, ms.
    pub const DEDUP_WINDOWS_MS: RangeInclusive<u16> = 1..=60_000;
    /// Scale polling periods a write may set, ms.
    pub const SCALE_POLLS_MS: RangeInclusive<u16> = 50..=60_000;

    /// A configuration from register values, or `None` if any is outside
    /// its range. Both a Modbus write and a settings record loaded from
    /// flash go through here, so flash can never hold the gateway to a
    /// value a write would have refused.
    pub fn checked(unit_id: u16, dedup_window_ms: u16, scale_poll_ms: u16) -> Option<Self> {
        let in_range = Self::UNIT_IDS.contains(&unit_id)
            && Self::DEDUP_WINDOWS_MS.contains(&dedup_window_ms)
            && Self::SCALE_POLLS_MS.contains(&scale_poll_ms);
        Some(Self {
            unit_id: u8::try_from(unit_id).ok()?,
            dedup_window_ms,
            scale_poll_ms,
        })
        .filter(|_| in_range)
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            unit_id: 1,
            dedup_window_ms: 2_000,
            scale_poll_ms: 200,
        }
    }
}

/// The scale's latest answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScaleState {
    /// What the scale said last.
    pub status: ScaleStatus,
    /// Latest weight, grams (kept when the status turns invalid).
    pub weight_grams: i32,
    /// Readings since boot, wrapping.
    pub readings: u16,
}

/// Everything the map serves.
#[derive(Debug)]
pub struct RegisterBank {
    /// Counters, in map order.
    pub counters: Counters,
    /// Milliseconds since boot, set by the board.
    pub uptime_ms: u64,
    /// Reader link state.
    pub reader_status: ReaderStatus,
    /// Scale state.
    pub scale: ScaleState,
    /// Events waiting for acknowledgement.
    pub ring: EventRing,
    /// Where the settings came from, whether the last change was saved
    /// (kept by [`crate::settings::SettingsStore`]).
    pub settings_state: SettingsState,
    /// Failed settings saves since boot, saturating.
    pub settings_saves_failed: u16,
    /// Last and longest Modbus turnaround since boot, µs (see
    /// [`Self::note_turnaround`]).
    pub turnaround_us: (u32, u32),
    config: Config,
    ack_high_word: u16,
    last_ack_seq: u32,
    /// This boot's id as a master named it; 0 until then (REGISTERS.md "Boots").
    boot_id: u32,
}

impl Default for RegisterBank {
    fn default() -> Self {
        Self::new(Config::default())
    }
}

impl RegisterBank {
    /// A bank with zeroed counters and `config`.
    pub const fn new(config: Config) -> Self {
        Self {
            counters: Counters {
                frames_ok: 0,
                frames_crc_error: 0,
                frames_malformed: 0,
                exceptions_sent: 0,
                reads_seen: 0,
                reads_deduped: 0,
                events_overflowed: 0,
                reader_frame_errors: 0,
                scale_line_errors: 0,
            },
            uptime_ms: 0,
            reader_status: ReaderStatus::Starting,
            scale: ScaleState {
                status: ScaleStatus::Unknown,
                weight_grams: 0,
                readings: 0,
            },
            ring: EventRing::new(),
            settings_state: SettingsState::Defaults,
            settings_saves_failed: 0,
            turnaround_us: (0, 0),
            config,
            ack_high_word: 0,
            last_ack_seq: 0,
            boot_id: 0,
        }
    }

    /// The configuration as last written.
    pub fn config(&self) -> Config {
        self.config
    }

    /// A reply goes out `us` after the last byte of its request.
    pub fn note_turnaround(&mut self, us: u64) {
        let us = u32::try_from(us).unwrap_or(u32::MAX);
        self.turnaround_us = (us, self.turnaround_us.1.max(us));
    }

    /// Stores a gate event, or counts it as overflowed when the ring is full.
    pub fn push_event(&mut self, event: EventRecord) -> Option<u32> {
        let seq = self.ring.push(event);
        if seq.is_none() {
            self.counters.events_overflowed = self.counters.events_overflowed.wrapping_add(1);
        }
        seq
    }

    fn head_registers(&self) -> [u16; input::EVENT_WINDOW as usize] {
        let mut regs = [0u16; input::EVENT_WINDOW as usize];
        let mut put = |addr: u16, value: u16| regs[usize::from(addr)] = value;
        let c = &self.counters;
        put(input::MAP_VERSION, MAP_VERSION);
        put(input::FIRMWARE_VERSION_MAJOR, FIRMWARE_VERSION.0);
        put(input::FIRMWARE_VERSION_MINOR, FIRMWARE_VERSION.1);
        put(input::FIRMWARE_VERSION_PATCH, FIRMWARE_VERSION.2);
        let longs = [
            (input::UPTIME_S, (self.uptime_ms / 1_000) as u32),
            (input::FRAMES_OK, c.frames_ok),
            (input::FRAMES_CRC_ERROR, c.frames_crc_error),
            (input::FRAMES_MALFORMED, c.frames_malformed),
            (input::EXCEPTIONS_SENT, c.exceptions_sent),
            (input::READS_SEEN, c.reads_seen),
            (input::READS_DEDUPED, c.reads_deduped),
            (input::EVENTS_OVERFLOWED, c.events_overflowed),
            (input::READER_FRAME_ERRORS, c.reader_frame_errors),
            (input::SCALE_LINE_ERRORS, c.scale_line_errors),
            (input::WEIGHT_GRAMS, self.scale.weight_grams as u32),
            (input::EVENT_OLDEST_SEQ, self.ring.oldest_seq()),
            (input::EVENT_NEWEST_SEQ, self.ring.newest_seq()),
        ];
        for (addr, value) in longs {
            let [high, low] = u32_to_registers(value);
            put(addr, high);
            put(addr + 1, low);
        }
        put(input::READER_STATUS, self.reader_status.to_register());
        put(input::SCALE_STATUS, self.scale.status.to_register());
        let flags = match self.scale.status {
            ScaleStatus::Stable => weight_flags::STABLE | weight_flags::VALID,
            ScaleStatus::Dynamic => weight_flags::VALID,
            _ => 0,
        };
        put(input::WEIGHT_FLAGS, flags);
        put(input::WEIGHT_READINGS, self.scale.readings);
        put(input::SETTINGS_STATE, self.settings_state.to_register());
        put(input::SETTINGS_SAVES_FAILED, self.settings_saves_failed);
        put(input::EVENT_COUNT, self.ring.len() as u16);
        put(input::EVENT_CAPACITY, crate::ring::EVENT_CAPACITY as u16);
        put(input::EVENT_RECORD_REGS, EVENT_RECORD_REGS);
        put(input::EVENT_WINDOW_RECORDS, EVENT_WINDOW_RECORDS);
        regs
    }

    /// Reads `count` input registers from `start`, handing each to `emit`.
    /// Nothing is emitted when the range leaves the map.
    pub fn read_input(
        &self,
        start: u16,
        count: u16,
        mut emit: impl FnMut(u16),
    ) -> Result<(), AccessError> {
        let end = u32::from(start) + u32::from(count);
        if end > u32::from(input::LEN) {
            return Err(AccessError::IllegalAddress);
        }
        let head = self.head_registers();
        let mut record: Option<(usize, [u16; EVENT_RECORD_REGS as usize])> = None;
        let saturated = |us: u32| u16::try_from(us).unwrap_or(u16::MAX);
        for addr in start..end as u16 {
            if addr < input::EVENT_WINDOW {
                emit(head[usize::from(addr)]);
                continue;
            }
            if addr == input::MODBUS_TURNAROUND_LAST_US {
                emit(saturated(self.turnaround_us.0));
                continue;
            }
            if addr == input::MODBUS_TURNAROUND_MAX_US {
                emit(saturated(self.turnaround_us.1));
                continue;
            }
            if addr >= input::BOOT_ID {
                emit(u32_to_registers(self.boot_id)[usize::from(addr - input::BOOT_ID)]);
                continue;
            }
            let offset = usize::from(addr - input::EVENT_WINDOW);
            let (index, field) = (
                offset / usize::from(EVENT_RECORD_REGS),
                offset % usize::from(EVENT_RECORD_REGS),
            );
            let regs = match record {
                Some((cached, regs)) if cached == index => regs,
                _ => {
                    let regs = self
                        .ring
                        .get(index)
                        .map_or([0; EVENT_RECORD_REGS as usize], EventRecord::to_registers);
                    record = Some((index, regs));
                    regs
                }
            };
            emit(regs[field]);
        }
        Ok(())
    }

    /// Reads `count` holding registers from `start`.
    pub fn read_holding(
        &self,
        start: u16,
        count: u16,
        mut emit: impl FnMut(u16),
    ) -> Result<(), AccessError> {
        let end = u32::from(start) + u32::from(count);
        if end > u32::from(holding::LEN) {
            return Err(AccessError::IllegalAddress);
        }
        let [ack_high, ack_low] = u32_to_registers(self.last_ack_seq);
        let [boot_high, boot_low] = u32_to_registers(self.boot_id);
        let regs = [
            ack_high,
            ack_low,
            self.config.dedup_window_ms,
            u16::from(self.config.unit_id),
            self.config.scale_poll_ms,
            boot_high,
            boot_low,
            boot_high,
            boot_low,
            ack_high,
            ack_low,
        ];
        regs[usize::from(start)..end as usize]
            .iter()
            .for_each(|&r| emit(r));
        Ok(())
    }

    /// Writes `values` to consecutive holding registers from `start`. The
    /// whole write is checked before any register changes.
    pub fn write_holding(&mut self, start: u16, values: &[u16]) -> Result<(), AccessError> {
        let end = u32::from(start) + values.len() as u32;
        if values.is_empty() || end > u32::from(holding::LEN) {
            return Err(AccessError::IllegalAddress);
        }
        let value_at = |addr: u16| {
            (addr >= start && u32::from(addr) < end).then(|| values[usize::from(addr - start)])
        };
        let mut ack_high = self.ack_high_word;
        if let Some(v) = value_at(holding::EVENT_ACK_SEQ) {
            ack_high = v;
        }
        let mut ack =
            value_at(holding::EVENT_ACK_SEQ + 1).map(|low| u32_from_registers(ack_high, low));
        // The boot-checked acknowledgement: all four registers or none, for
        // this boot's nonzero id only.
        let boot_ack: [Option<u16>; 4] =
            core::array::from_fn(|i| value_at(holding::ACK_BOOT_ID + i as u16));
        match boot_ack {
            [None, None, None, None] => {}
            [Some(boot_high), Some(boot_low), Some(seq_high), Some(seq_low)] => {
                let boot = u32_from_registers(boot_high, boot_low);
                if self.boot_id == 0 || boot != self.boot_id {
                    return Err(AccessError::IllegalValue);
                }
                let seq = u32_from_registers(seq_high, seq_low);
                ack = Some(ack.map_or(seq, |other| other.max(seq)));
            }
            _ => return Err(AccessError::IllegalValue),
        }
        if ack.is_some_and(|seq| seq > self.ring.newest_seq()) {
            return Err(AccessError::IllegalValue);
        }
        let boot_id = match (value_at(holding::BOOT_ID), value_at(holding::BOOT_ID + 1)) {
            (None, None) => None,
            (Some(high), Some(low)) if u32_from_registers(high, low) != 0 && self.boot_id == 0 => {
                Some(u32_from_registers(high, low))
            }
            _ => return Err(AccessError::IllegalValue),
        };
        let current = self.config;
        self.config = Config::checked(
            value_at(holding::UNIT_ID).unwrap_or(u16::from(current.unit_id)),
            value_at(holding::DEDUP_WINDOW_MS).unwrap_or(current.dedup_window_ms),
            value_at(holding::SCALE_POLL_MS).unwrap_or(current.scale_poll_ms),
        )
        .ok_or(AccessError::IllegalValue)?;
        self.ack_high_word = ack_high;
        if let Some(id) = boot_id {
            self.boot_id = id;
        }
        if let Some(seq) = ack {
            // Cannot fail: `seq` was checked against the newest above.
            let _ = self.ring.acknowledge(seq);
            self.last_ack_seq = self.last_ack_seq.max(seq);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ring::tests::event;
    use gateway_registers::{DrainBlock, EventBlock};

    fn read_input(bank: &RegisterBank, start: u16, count: u16) -> Result<Vec<u16>, AccessError> {
        let mut out = Vec::new();
        bank.read_input(start, count, |r| out.push(r)).map(|()| out)
    }

    #[test]
    fn status_block_decodes_with_the_shared_map() {
        let mut bank = RegisterBank {
            uptime_ms: 61_500,
            scale: ScaleState {
                status: ScaleStatus::Stable,
                weight_grams: -250,
                readings: 3,
            },
            ..RegisterBank::default()
        };
        bank.counters.frames_ok = 70_000;
        let regs = read_input(&bank, 0, input::EVENT_COUNT).expect("in map");
        let status = gateway_registers::GatewayStatus::from_registers(&regs).expect("decodes");
        assert_eq!(status.map_version, MAP_VERSION);
        assert_eq!(status.firmware_version, FIRMWARE_VERSION);
        assert_eq!(status.uptime_s, 61);
        assert_eq!(status.counters.frames_ok, 70_000);
        assert_eq!(status.weight_grams, -250);
        assert!(status.weight_stable && status.weight_valid);
        assert_eq!(status.weight_readings, 3);
        assert_eq!(status.settings_state, SettingsState::Defaults);
        assert_eq!(status.settings_saves_failed, 0);
    }

    #[test]
    fn settings_state_and_failed_saves_are_served() {
        let mut bank = RegisterBank {
            settings_state: SettingsState::SaveFailed,
            settings_saves_failed: 3,
            ..RegisterBank::default()
        };
        let regs = read_input(&bank, input::SETTINGS_STATE, 2).expect("in map");
        assert_eq!(regs, [3, 3]);
        bank.settings_state = SettingsState::Loaded;
        let regs = read_input(&bank, 0, input::EVENT_COUNT).expect("in map");
        let status = gateway_registers::GatewayStatus::from_registers(&regs).expect("decodes");
        assert_eq!(status.settings_state, SettingsState::Loaded);
        assert_eq!(status.settings_saves_failed, 3);
    }

    #[test]
    fn checked_config_takes_exactly_the_writable_ranges() {
        assert_eq!(Config::checked(1, 2_000, 200), Some(Config::default()));
        assert!(Config::checked(247, 1, 50).is_some());
        assert!(Config::checked(1, 60_000, 60_000).is_some());
        for (unit, dedup, scale) in [
            (0, 2_000, 200),
            (248, 2_000, 200),
            (0x0101, 2_000, 200),
            (1, 0, 200),
            (1, 60_001, 200),
            (1, 2_000, 49),
            (1, 2_000, 60_001),
        ] {
            assert_eq!(
                Config::checked(unit, dedup, scale),
                None,
                "{unit} {dedup} {scale}"
            );
        }
    }

    #[test]
    fn window_shows_the_oldest_events_and_zeros_past_them() {
        let mut bank = RegisterBank::default();
        for tag in 1..=5 {
            bank.push_event(event(tag));
        }
        let regs = read_input(&bank, EventBlock::START, EventBlock::LEN)
            .expect("header and window are in the map");
        let header = gateway_registers::EventHeader::from_registers(&regs).expect("header");
        assert_eq!(
            (header.count, header.oldest_seq, header.newest_seq),
            (5, 1, 5)
        );
        let window = &regs[usize::from(input::EVENT_WINDOW - input::EVENT_COUNT)..];
        let seqs: Vec<u32> = window
            .chunks(EVENT_RECORD_REGS as usize)
            .map(|r| {
                EventRecord::from_registers(r)
                    .expect("record")
                    .map_or(0, |e| e.seq)
            })
            .collect();
        assert_eq!(seqs, [1, 2, 3, 4]);
        bank.write_holding(holding::EVENT_ACK_SEQ, &[0, 4])
            .expect("ack");
        let regs = read_input(&bank, input::EVENT_WINDOW, 2 * EVENT_RECORD_REGS).expect("window");
        assert_eq!(
            EventRecord::from_registers(&regs)
                .expect("record")
                .map(|e| e.seq),
            Some(5)
        );
        assert_eq!(EventRecord::from_registers(&regs[24..]), Ok(None));
    }

    #[test]
    fn reads_past_the_map_are_refused() {
        let bank = RegisterBank::default();
        assert!(read_input(&bank, input::LEN - 1, 1).is_ok());
        assert_eq!(
            read_input(&bank, input::LEN - 1, 2),
            Err(AccessError::IllegalAddress)
        );
        assert_eq!(
            read_input(&bank, u16::MAX, 2),
            Err(AccessError::IllegalAddress)
        );
        assert_eq!(
            bank.read_holding(holding::LEN, 1, |_| ()),
            Err(AccessError::IllegalAddress)
        );
    }

    #[test]
    fn holding_writes_are_checked_whole_before_applying() {
        let mut bank = RegisterBank::default();
        // A good dedup window with a bad unit id changes nothing.
        assert_eq!(
            bank.write_holding(holding::DEDUP_WINDOW_MS, &[500, 0]),
            Err(AccessError::IllegalValue)
        );
        assert_eq!(bank.config(), Config::default());
        bank.write_holding(holding::DEDUP_WINDOW_MS, &[500, 9, 1_000])
            .expect("valid");
        let mut regs = Vec::new();
        bank.read_holding(0, holding::LEN, |r| regs.push(r))
            .expect("in map");
        assert_eq!(regs, [0, 0, 500, 9, 1_000, 0, 0, 0, 0, 0, 0]);
        for (addr, bad) in [
            (holding::UNIT_ID, 248),
            (holding::UNIT_ID, 0),
            (holding::UNIT_ID, 0x0101),
            (holding::SCALE_POLL_MS, 49),
            (holding::SCALE_POLL_MS, 60_001),
            (holding::DEDUP_WINDOW_MS, 0),
            (holding::DEDUP_WINDOW_MS, 60_001),
        ] {
            assert_eq!(
                bank.write_holding(addr, &[bad]),
                Err(AccessError::IllegalValue)
            );
        }
    }

    #[test]
    fn ack_applies_on_the_low_word_and_refuses_the_future() {
        let mut bank = RegisterBank::default();
        for tag in 1..=3 {
            bank.push_event(event(tag));
        }
        assert_eq!(
            bank.write_holding(holding::EVENT_ACK_SEQ, &[0, 4]),
            Err(AccessError::IllegalValue)
        );
        assert_eq!(bank.ring.len(), 3);
        // A high word alone frees nothing.
        bank.write_holding(holding::EVENT_ACK_SEQ, &[0])
            .expect("high word");
        assert_eq!(bank.ring.len(), 3);
        bank.write_holding(holding::EVENT_ACK_SEQ + 1, &[2])
            .expect("low word");
        assert_eq!(bank.ring.len(), 1);
        // An older acknowledgement is accepted and frees nothing.
        bank.write_holding(holding::EVENT_ACK_SEQ, &[0, 1])
            .expect("older");
        assert_eq!(bank.ring.len(), 1);
        let mut regs = Vec::new();
        bank.read_holding(holding::EVENT_ACK_SEQ, 2, |r| regs.push(r))
            .expect("in map");
        assert_eq!(regs, [0, 2]);
    }

    #[test]
    fn a_boot_is_named_and_only_its_acknowledgement_frees_events() {
        let mut bank = RegisterBank::default();
        for tag in 1..=3 {
            bank.push_event(event(tag));
        }
        let boot = |bank: &RegisterBank| read_input(bank, input::BOOT_ID, 2).expect("in map");
        assert_eq!(boot(&bank), [0, 0], "unnamed after reset");
        // Before the boot is named, no boot-checked acknowledgement is taken.
        assert_eq!(
            bank.write_holding(holding::ACK_BOOT_ID, &[0, 0, 0, 2]),
            Err(AccessError::IllegalValue)
        );
        assert_eq!(
            bank.write_holding(holding::BOOT_ID, &[0, 0]),
            Err(AccessError::IllegalValue),
            "0 is no name"
        );
        assert_eq!(
            bank.write_holding(holding::BOOT_ID, &[0x1234]),
            Err(AccessError::IllegalValue),
            "one word is half a name"
        );
        bank.write_holding(holding::BOOT_ID, &[0x1234, 0x5678])
            .expect("named");
        assert_eq!(boot(&bank), [0x1234, 0x5678]);
        assert_eq!(
            bank.write_holding(holding::BOOT_ID, &[0x9999, 0x9999]),
            Err(AccessError::IllegalValue),
            "a boot is named once"
        );
        assert_eq!(boot(&bank), [0x1234, 0x5678]);
        // Another boot's id, a part of the four registers, or a seq past the
        // newest: refused, nothing freed.
        for (start, values) in [
            (holding::ACK_BOOT_ID, &[0x1234, 0x5679, 0, 2][..]),
            (holding::ACK_BOOT_ID, &[0x1234, 0x5678, 0][..]),
            (holding::ACK_BOOT_ID + 2, &[0, 2][..]),
            (holding::ACK_BOOT_ID, &[0x1234, 0x5678, 0, 4][..]),
        ] {
            assert_eq!(
                bank.write_holding(start, values),
                Err(AccessError::IllegalValue),
                "{values:?} at {start}"
            );
            assert_eq!(bank.ring.len(), 3);
        }
        bank.write_holding(holding::ACK_BOOT_ID, &[0x1234, 0x5678, 0, 2])
            .expect("this boot's acknowledgement");
        assert_eq!(bank.ring.len(), 1);
        let mut regs = Vec::new();
        bank.read_holding(holding::BOOT_ID, 6, |r| regs.push(r))
            .expect("in map");
        assert_eq!(regs, [0x1234, 0x5678, 0x1234, 0x5678, 0, 2]);
        let drain = read_input(&bank, DrainBlock::START, DrainBlock::LEN).expect("one read");
        let block = DrainBlock::from_registers(&drain).expect("decodes");
        assert_eq!(block.boot_id, 0x1234_5678);
        assert_eq!(
            block.events.events().map(|e| e.seq).collect::<Vec<_>>(),
            [3]
        );
    }

    #[test]
    fn full_ring_counts_overflow() {
        let mut bank = RegisterBank::default();
        for i in 0..crate::ring::EVENT_CAPACITY + 3 {
            bank.push_event(event(i as u16));
        }
        assert_eq!(bank.counters.events_overflowed, 3);
        let regs = read_input(&bank, input::EVENTS_OVERFLOWED, 2).expect("in map");
        assert_eq!(regs, [0, 3]);
    }
}

/// Property tests: what the bank serves, `gateway-registers` decodes back
/// to the bank's state (the firmware encodes, the server decodes).
#[cfg(test)]
mod properties {
    use super::*;
    use gateway_registers::{Direction, EventBlock, GatewayStatus, EPC_MAX_WORDS};
    use proptest::prelude::*;

    fn read_input(bank: &RegisterBank, start: u16, count: u16) -> Vec<u16> {
        let mut out = Vec::new();
        bank.read_input(start, count, |r| out.push(r))
            .expect("inside the map");
        out
    }

    fn scale_status() -> impl Strategy<Value = ScaleStatus> {
        (0u16..8).prop_map(|v| ScaleStatus::from_register(v).expect("defined"))
    }

    fn settings_state() -> impl Strategy<Value = SettingsState> {
        (0u16..4).prop_map(|v| SettingsState::from_register(v).expect("defined"))
    }

    fn reader_status() -> impl Strategy<Value = ReaderStatus> {
        (0u16..3).prop_map(|v| ReaderStatus::from_register(v).expect("defined"))
    }

    prop_compose! {
        fn new_event()(
            timestamp_ms in any::<u32>(),
            gate in any::<u16>(),
            direction in (0u16..3).prop_map(|v| Direction::from_register(v).expect("defined")),
            antenna in any::<u16>(),
            rssi_dbm in any::<i16>(),
            epc_words in 0u8..=31,
            epc in any::<[u16; EPC_MAX_WORDS]>(),
        ) -> EventRecord {
            EventRecord { seq: 0, timestamp_ms, gate, direction, antenna, rssi_dbm, epc_words, epc }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        #[test]
        fn the_status_block_decodes_to_the_banks_state(
            counters in any::<[u32; 9]>(),
            uptime_ms in any::<u64>(),
            reader_status in reader_status(),
            status in scale_status(),
            weight_grams in any::<i32>(),
            readings in any::<u16>(),
            settings_state in settings_state(),
            settings_saves_failed in any::<u16>(),
        ) {
            let [a, b, c, d, e, f, g, h, i] = counters;
            let bank = RegisterBank {
                counters: Counters {
                    frames_ok: a,
                    frames_crc_error: b,
                    frames_malformed: c,
                    exceptions_sent: d,
                    reads_seen: e,
                    reads_deduped: f,
                    events_overflowed: g,
                    reader_frame_errors: h,
                    scale_line_errors: i,
                },
                uptime_ms,
                reader_status,
                scale: ScaleState { status, weight_grams, readings },
                settings_state,
                settings_saves_failed,
                ..RegisterBank::default()
            };
            let regs = read_input(&bank, 0, input::EVENT_COUNT);
            let decoded = GatewayStatus::from_registers(&regs).expect("a valid status block");
            prop_assert_eq!(decoded.counters, bank.counters);
            prop_assert_eq!(decoded.uptime_s, (uptime_ms / 1_000) as u32);
            prop_assert_eq!(decoded.reader_status, reader_status);
            prop_assert_eq!(decoded.scale_status, status);
            prop_assert_eq!(decoded.weight_grams, weight_grams);
            prop_assert_eq!(decoded.weight_stable, status == ScaleStatus::Stable);
            prop_assert_eq!(
                decoded.weight_valid,
                matches!(status, ScaleStatus::Stable | ScaleStatus::Dynamic)
            );
            prop_assert_eq!(decoded.weight_readings, readings);
            prop_assert_eq!(decoded.settings_state, settings_state);
            prop_assert_eq!(decoded.settings_saves_failed, settings_saves_failed);
            prop_assert_eq!(decoded.firmware_version, FIRMWARE_VERSION);
        }

        #[test]
        fn the_event_block_decodes_to_the_waiting_events(
            events in proptest::collection::vec(new_event(), 0..8),
            acked in 0usize..8,
        ) {
            let mut bank = RegisterBank::default();
            for e in &events {
                bank.push_event(*e);
            }
            let acked = acked.min(events.len()) as u32;
            bank.ring.acknowledge(acked).expect("not past the newest");
            let regs = read_input(&bank, EventBlock::START, EventBlock::LEN);
            let block = EventBlock::from_registers(&regs).expect("a valid block");
            prop_assert_eq!(usize::from(block.header.count), events.len() - acked as usize);
            prop_assert_eq!(block.header.newest_seq, events.len() as u32);
            let expected = events
                .iter()
                .enumerate()
                .skip(acked as usize)
                .take(usize::from(EVENT_WINDOW_RECORDS))
                .map(|(i, e)| EventRecord { seq: i as u32 + 1, ..*e });
            prop_assert!(block.events().copied().eq(expected));
        }
    }
}
