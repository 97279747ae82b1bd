//! The simulated gateway's register bank: a sans-IO model of what a map
//! version 3 gateway serves (REGISTERS.md), with every address and encoding
//! from `gateway-registers`. It holds the event ring with its window, the
//! overflow counter, the scale weight, the boot id a master names once and
//! the boot-checked acknowledgement. No clock and no I/O: the adapter tells
//! it the uptime and hands it requests.

use std::collections::VecDeque;

use gateway_registers::{
    holding, input, u32_from_registers, u32_to_registers, weight_flags, Direction, EventRecord,
    ReaderStatus, ScaleStatus, SettingsState, EPC_MAX_WORDS, EVENT_RECORD_REGS,
    EVENT_WINDOW_RECORDS, MAP_VERSION,
};

/// The firmware version the simulator reports.
const FIRMWARE_VERSION: (u16, u16, u16) = (0, 0, 0);
/// The settings a simulated gateway serves; they are fixed (a write is refused).
const DEDUP_WINDOW_MS: u16 = 2_000;
const UNIT_ID: u16 = 1;
const SCALE_POLL_MS: u16 = 200;
/// The most registers one read (125) or write (123) may move.
const MAX_READ: u16 = 125;
const MAX_WRITE: usize = 123;

/// Why a request is refused: the Modbus exception it is answered with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Exception 02: the range leaves the table.
    Address,
    /// Exception 03: a bad count or value.
    Value,
}

/// One tag pass as the simulated reader reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pass {
    pub gate: u16,
    pub direction: Direction,
    pub antenna: u16,
    pub rssi_dbm: i16,
    /// The EPC, most significant word first (at most 15 words).
    pub epc: Vec<u16>,
}

/// The registers of one simulated gateway since its (simulated) boot.
#[derive(Debug, Clone)]
pub struct Bank {
    ring: VecDeque<EventRecord>,
    capacity: usize,
    newest_seq: u32,
    last_ack_seq: u32,
    overflowed: u32,
    boot_id: u32,
    weight_grams: Option<i32>,
    weight_readings: u16,
    reads_seen: u32,
    uptime_ms: u64,
}

impl Bank {
    /// A freshly booted gateway: empty ring, no boot id, no weight yet.
    pub fn new(capacity: u16) -> Self {
        Self {
            ring: VecDeque::new(),
            capacity: usize::from(capacity),
            newest_seq: 0,
            last_ack_seq: 0,
            overflowed: 0,
            boot_id: 0,
            weight_grams: None,
            weight_readings: 0,
            reads_seen: 0,
            uptime_ms: 0,
        }
    }

    /// The time since boot, as the adapter's clock says.
    pub fn set_uptime_ms(&mut self, uptime_ms: u64) {
        self.uptime_ms = uptime_ms;
    }

    /// A stable reading of the scale.
    pub fn weigh(&mut self, grams: i32) {
        self.weight_grams = Some(grams);
        self.weight_readings = self.weight_readings.wrapping_add(1);
    }

    /// Stores a pass as the next event; `None` (counted as overflowed, no
    /// seq taken) when the ring is full.
    pub fn push(&mut self, pass: &Pass) -> Option<u32> {
        self.reads_seen = self.reads_seen.wrapping_add(1);
        if self.ring.len() >= self.capacity {
            self.overflowed = self.overflowed.wrapping_add(1);
            return None;
        }
        let words = pass.epc.len().min(EPC_MAX_WORDS);
        let mut epc = [0u16; EPC_MAX_WORDS];
        epc[..words].copy_from_slice(&pass.epc[..words]);
        self.newest_seq += 1;
        self.ring.push_back(EventRecord {
            seq: self.newest_seq,
            timestamp_ms: self.uptime_ms as u32,
            gate: pass.gate,
            direction: pass.direction,
            antenna: pass.antenna,
            rssi_dbm: pass.rssi_dbm,
            epc_words: words as u8,
            epc,
        });
        Some(self.newest_seq)
    }

    /// Events waiting for acknowledgement.
    pub fn waiting(&self) -> usize {
        self.ring.len()
    }

    /// Function 04.
    pub fn read_input(&self, start: u16, count: u16) -> Result<Vec<u16>, Refusal> {
        let table = self.input_table();
        slice(&table, start, count)
    }

    /// Function 03.
    pub fn read_holding(&self, start: u16, count: u16) -> Result<Vec<u16>, Refusal> {
        let [ack_high, ack_low] = u32_to_registers(self.last_ack_seq);
        let [boot_high, boot_low] = u32_to_registers(self.boot_id);
        let table = [
            ack_high,
            ack_low,
            DEDUP_WINDOW_MS,
            UNIT_ID,
            SCALE_POLL_MS,
            boot_high,
            boot_low,
            boot_high,
            boot_low,
            ack_high,
            ack_low,
        ];
        slice(&table, start, count)
    }

    /// Functions 06 and 16: checked whole before anything changes. Names
    /// the boot (once, nonzero, both words), takes the boot-checked
    /// acknowledgement (all four registers, this boot's id) and the map
    /// version 2 acknowledgement (both words); the settings are fixed.
    pub fn write_holding(&mut self, start: u16, values: &[u16]) -> Result<(), Refusal> {
        let end = usize::from(start) + values.len();
        if end > usize::from(holding::LEN) {
            return Err(Refusal::Address);
        }
        if values.is_empty() || values.len() > MAX_WRITE {
            return Err(Refusal::Value);
        }
        let at = |addr: u16| {
            let addr = usize::from(addr);
            (addr >= usize::from(start) && addr < end).then(|| values[addr - usize::from(start)])
        };
        let pair = |addr: u16| match (at(addr), at(addr + 1)) {
            (None, None) => Ok(None),
            (Some(high), Some(low)) => Ok(Some(u32_from_registers(high, low))),
            _ => Err(Refusal::Value),
        };
        if [
            holding::DEDUP_WINDOW_MS,
            holding::UNIT_ID,
            holding::SCALE_POLL_MS,
        ]
        .into_iter()
        .any(|addr| at(addr).is_some())
        {
            return Err(Refusal::Value);
        }
        let legacy_ack = pair(holding::EVENT_ACK_SEQ)?;
        let boot_ack = match (pair(holding::ACK_BOOT_ID)?, pair(holding::ACK_BOOT_SEQ)?) {
            (None, None) => None,
            (Some(boot), Some(seq)) if boot != 0 && boot == self.boot_id => Some(seq),
            _ => return Err(Refusal::Value),
        };
        let name = match pair(holding::BOOT_ID)? {
            None => None,
            Some(id) if id != 0 && self.boot_id == 0 => Some(id),
            Some(_) => return Err(Refusal::Value),
        };
        let ack = legacy_ack.max(boot_ack);
        if ack.is_some_and(|seq| seq > self.newest_seq) {
            return Err(Refusal::Value);
        }
        if let Some(id) = name {
            self.boot_id = id;
        }
        if let Some(seq) = ack {
            while self.ring.front().is_some_and(|e| e.seq <= seq) {
                self.ring.pop_front();
            }
            self.last_ack_seq = self.last_ack_seq.max(seq);
        }
        Ok(())
    }

    fn input_table(&self) -> Vec<u16> {
        let mut table = vec![0u16; usize::from(input::LEN)];
        let mut put = |addr: u16, value: u16| table[usize::from(addr)] = value;
        put(input::MAP_VERSION, MAP_VERSION);
        put(input::FIRMWARE_VERSION_MAJOR, FIRMWARE_VERSION.0);
        put(input::FIRMWARE_VERSION_MINOR, FIRMWARE_VERSION.1);
        put(input::FIRMWARE_VERSION_PATCH, FIRMWARE_VERSION.2);
        let (scale, flags) = match self.weight_grams {
            Some(_) => (
                ScaleStatus::Stable,
                weight_flags::STABLE | weight_flags::VALID,
            ),
            None => (ScaleStatus::Unknown, 0),
        };
        put(input::READER_STATUS, ReaderStatus::Reading.to_register());
        put(input::SCALE_STATUS, scale.to_register());
        put(input::WEIGHT_FLAGS, flags);
        put(input::WEIGHT_READINGS, self.weight_readings);
        put(input::SETTINGS_STATE, SettingsState::Defaults.to_register());
        put(input::EVENT_COUNT, self.ring.len() as u16);
        put(input::EVENT_CAPACITY, self.capacity as u16);
        put(input::EVENT_RECORD_REGS, EVENT_RECORD_REGS);
        put(input::EVENT_WINDOW_RECORDS, EVENT_WINDOW_RECORDS);
        let longs = [
            (input::UPTIME_S, (self.uptime_ms / 1_000) as u32),
            (input::READS_SEEN, self.reads_seen),
            (input::EVENTS_OVERFLOWED, self.overflowed),
            (input::WEIGHT_GRAMS, self.weight_grams.unwrap_or(0) as u32),
            (
                input::EVENT_OLDEST_SEQ,
                self.ring.front().map_or(0, |e| e.seq),
            ),
            (input::EVENT_NEWEST_SEQ, self.newest_seq),
            (input::BOOT_ID, self.boot_id),
        ];
        for (addr, value) in longs {
            let [high, low] = u32_to_registers(value);
            put(addr, high);
            put(addr + 1, low);
        }
        let window = self.ring.iter().take(usize::from(EVENT_WINDOW_RECORDS));
        for (k, event) in window.enumerate() {
            let from = usize::from(input::EVENT_WINDOW) + k * usize::from(EVENT_RECORD_REGS);
            table[from..from + usize::from(EVENT_RECORD_REGS)]
                .copy_from_slice(&event.to_registers());
        }
        table
    }
}

/// `count` registers of `table` from `start`, or the exception a gateway answers.
fn slice(table: &[u16], start: u16, count: u16) -> Result<Vec<u16>, Refusal> {
    let end = usize::from(start) + usize::from(count);
    if end > table.len() {
        return Err(Refusal::Address);
    }
    if count == 0 || count > MAX_READ {
        return Err(Refusal::Value);
    }
    Ok(table[usize::from(start)..end].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use gateway_registers::{DrainBlock, GatewayStatus};

    fn pass(gate: u16, word: u16) -> Pass {
        Pass {
            gate,
            direction: Direction::In,
            antenna: 2,
            rssi_dbm: -51,
            epc: vec![0x3074, word, 0, 0, 0, 1],
        }
    }

    fn drain(bank: &Bank) -> DrainBlock {
        DrainBlock::from_registers(&bank.read_input(DrainBlock::START, DrainBlock::LEN).unwrap())
            .unwrap()
    }

    #[test]
    fn the_status_block_decodes_with_the_shared_map() {
        let mut bank = Bank::new(8);
        bank.set_uptime_ms(7_500);
        let regs = bank.read_input(0, input::EVENT_COUNT).unwrap();
        let status = GatewayStatus::from_registers(&regs).unwrap();
        assert_eq!(status.map_version, MAP_VERSION);
        assert_eq!(status.uptime_s, 7);
        assert!(!status.weight_valid);
        bank.weigh(1_550);
        let block = drain(&bank);
        assert_eq!(block.weight_grams, Some(1_550));
        assert_eq!(block.scale_status, ScaleStatus::Stable);
    }

    #[test]
    fn the_window_shows_the_oldest_four_and_the_header_counts_all() {
        let mut bank = Bank::new(8);
        for word in 1..=6 {
            assert_eq!(bank.push(&pass(1, word)), Some(u32::from(word)));
        }
        let block = drain(&bank);
        let seqs: Vec<u32> = block.events.events().map(|e| e.seq).collect();
        assert_eq!(seqs, [1, 2, 3, 4]);
        assert_eq!(block.events.header.count, 6);
        assert_eq!(block.events.header.oldest_seq, 1);
        assert_eq!(block.events.header.newest_seq, 6);
        let first = block.events.events().next().unwrap();
        assert_eq!((first.gate, first.epc_words, first.epc[1]), (1, 6, 1));
    }

    #[test]
    fn a_boot_is_named_once_and_only_its_acknowledgement_frees_events() {
        let mut bank = Bank::new(8);
        bank.push(&pass(0, 1));
        bank.push(&pass(0, 2));
        assert_eq!(drain(&bank).boot_id, 0);
        let ack = DrainBlock::ack_registers(0, 1);
        assert_eq!(
            bank.write_holding(holding::ACK_BOOT_ID, &ack),
            Err(Refusal::Value),
            "no acknowledgement before the boot is named"
        );
        assert_eq!(
            bank.write_holding(holding::BOOT_ID, &[0, 0]),
            Err(Refusal::Value)
        );
        assert_eq!(
            bank.write_holding(holding::BOOT_ID, &[0]),
            Err(Refusal::Value),
            "both words in one request"
        );
        bank.write_holding(holding::BOOT_ID, &u32_to_registers(77))
            .unwrap();
        assert_eq!(
            bank.write_holding(holding::BOOT_ID, &u32_to_registers(78)),
            Err(Refusal::Value),
            "a boot is named once"
        );
        assert_eq!(drain(&bank).boot_id, 77);
        let other = DrainBlock::ack_registers(78, 1);
        assert_eq!(
            bank.write_holding(holding::ACK_BOOT_ID, &other),
            Err(Refusal::Value)
        );
        let future = DrainBlock::ack_registers(77, 3);
        assert_eq!(
            bank.write_holding(holding::ACK_BOOT_ID, &future),
            Err(Refusal::Value)
        );
        bank.write_holding(holding::ACK_BOOT_ID, &DrainBlock::ack_registers(77, 1))
            .unwrap();
        assert_eq!(bank.waiting(), 1);
        // An acknowledgement at or below an earlier one frees nothing.
        bank.write_holding(holding::ACK_BOOT_ID, &DrainBlock::ack_registers(77, 1))
            .unwrap();
        assert_eq!(drain(&bank).events.header.oldest_seq, 2);
        assert_eq!(bank.read_holding(holding::ACK_BOOT_SEQ, 2).unwrap(), [0, 1]);
    }

    #[test]
    fn a_full_ring_counts_overflow_and_takes_no_seq() {
        let mut bank = Bank::new(2);
        bank.push(&pass(0, 1));
        bank.push(&pass(0, 2));
        assert_eq!(bank.push(&pass(0, 3)), None);
        let block = drain(&bank);
        assert_eq!(block.events_overflowed, 1);
        assert_eq!(block.events.header.newest_seq, 2);
    }

    #[test]
    fn requests_outside_the_map_or_its_rules_are_refused() {
        let mut bank = Bank::new(2);
        assert_eq!(bank.read_input(input::LEN - 1, 2), Err(Refusal::Address));
        assert_eq!(bank.read_input(0, 0), Err(Refusal::Value));
        assert_eq!(bank.read_holding(holding::LEN, 1), Err(Refusal::Address));
        assert_eq!(
            bank.write_holding(holding::LEN - 1, &[0, 0]),
            Err(Refusal::Address)
        );
        assert_eq!(
            bank.write_holding(holding::UNIT_ID, &[5]),
            Err(Refusal::Value)
        );
        assert_eq!(
            bank.write_holding(holding::ACK_BOOT_ID, &[0, 1]),
            Err(Refusal::Value)
        );
    }
}
