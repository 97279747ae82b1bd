//! Settings persistence: the holding registers that configure the gateway
//! (unit id, dedup window, scale polling period — not the event
//! acknowledgement) kept across resets in two sectors of NOR flash.
//!
//! Owns the record layout, the log-structured store ([`load`], [`save`])
//! and the rule for when the main loop saves ([`SettingsStore`]). It must
//! not touch a flash controller (the board implements [`NorFlash`]) and
//! must not run in an interrupt: a save may erase a sector, which on the
//! STM32F405 stalls the CPU for up to 2 s.
//!
//! # Record layout (layout version 1)
//! A record is 32 bytes in a 32-byte slot of a sector; multi-byte fields
//! are little-endian (the Cortex-M's word order).
//!
//! | bytes | field |
//! |---|---|
//! | 0..4 | magic, the ASCII bytes `GWST` |
//! | 4..6 | layout version, 1 |
//! | 6..8 | reserved, written 0 |
//! | 8..12 | sequence number: 1 for the first record, then one more than the highest stored |
//! | 12..14 | unit id |
//! | 14..16 | dedup window, ms |
//! | 16..18 | scale polling period, ms |
//! | 18..28 | reserved, written 0 |
//! | 28..32 | CRC-32/ISO-HDLC (zlib's `crc32`) of bytes 0..28 |
//!
//! # The store
//! Saving appends a record after the last used slot of the *active* sector
//! (the one holding the newest valid record), so a sector is erased only
//! once every `sector bytes / 32` saves (4,096 for the STM32F405's 128 KiB
//! sectors). Loading scans every slot of both sectors; the valid record with
//! the highest sequence number wins. A slot that is not all `0xFF` and not a
//! whole record of this layout with a good CRC (a write torn by a power
//! loss, a half-erased sector, QEMU's zero-filled flash) is skipped, and so
//! is a record whose values are outside what a Modbus write accepts; with
//! no valid record the defaults apply.
//!
//! When the active sector is full, the record goes into slot 0 of the other
//! sector, which is erased first unless it is already blank. The old sector
//! keeps its records until it is needed again, so each switch costs one
//! erase. **Invariant:** the sector holding the newest valid record is never
//! erased, and a record is only ever programmed into an erased slot. So a
//! power loss at any instant of a save leaves either the old record or the
//! new one as the newest valid one: the tests cut the power after every
//! word program and erase, with the interrupted operation left undone,
//! half done or done.

use gateway_registers::SettingsState;

use crate::bank::{Config, RegisterBank};
use crate::crc::crc32;

/// Bytes in one record, and in one slot.
pub const RECORD_BYTES: u32 = 32;
/// Words in one record.
const RECORD_WORDS: usize = RECORD_BYTES as usize / 4;
/// The first four bytes of every record.
pub const MAGIC: [u8; 4] = *b"GWST";
/// The record layout this firmware writes and reads.
pub const LAYOUT_VERSION: u16 = 1;
/// Sectors the store alternates between.
pub const SECTORS: u32 = 2;

/// Byte offsets of the record's fields.
mod field {
    use core::ops::Range;
    pub const MAGIC: Range<usize> = 0..4;
    pub const VERSION: Range<usize> = 4..6;
    pub const SEQ: Range<usize> = 8..12;
    pub const UNIT_ID: Range<usize> = 12..14;
    pub const DEDUP_WINDOW_MS: Range<usize> = 14..16;
    pub const SCALE_POLL_MS: Range<usize> = 16..18;
    pub const CRC: Range<usize> = 28..32;
}

/// What went wrong in a flash operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlashError {
    /// The flash controller reported an error; its status bits.
    Device(u32),
    /// The controller was still busy when the board stopped waiting.
    Timeout,
    /// A word to program was not erased (NOR flash only clears bits).
    NotErased,
    /// An offset outside the two sectors, or not word-aligned.
    OutOfRange,
}

/// The two flash sectors the settings live in, as the board provides them:
/// offsets count from the start of the first sector, and sector `s` spans
/// `s * SECTOR_BYTES .. (s + 1) * SECTOR_BYTES`.
pub trait NorFlash {
    /// Bytes per erase sector; a multiple of [`RECORD_BYTES`].
    const SECTOR_BYTES: u32;
    /// Reads `words.len()` words from `offset` (word-aligned, inside the
    /// sectors).
    fn read(&mut self, offset: u32, words: &mut [u32]);
    /// Programs `words` from `offset`, which must be word-aligned. Each word
    /// must be erased (`0xFFFF_FFFF`); programming only clears bits.
    fn program(&mut self, offset: u32, words: &[u32]) -> Result<(), FlashError>;
    /// Erases sector `sector` (0 or 1): every byte reads `0xFF` afterwards.
    fn erase(&mut self, sector: u32) -> Result<(), FlashError>;
}

/// Why a save did not store the settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SaveError {
    /// The flash controller refused or failed.
    Flash(FlashError),
    /// Reading back after an erase or a program did not show what was
    /// written (QEMU, whose flash is read-only, always ends here).
    Verify,
    /// The sequence number would pass `u32::MAX` (4 billion saves; flash
    /// wears out long before).
    SequenceExhausted,
}

impl From<FlashError> for SaveError {
    fn from(e: FlashError) -> Self {
        Self::Flash(e)
    }
}

/// What a successful save did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Saved {
    /// A record with this sequence number was written.
    Written {
        /// Its sequence number.
        seq: u32,
    },
    /// The newest valid record already held these settings; nothing written.
    AlreadyStored,
}

/// One settings record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record {
    /// Sequence number: the highest wins.
    pub seq: u32,
    /// The settings.
    pub config: Config,
}

impl Record {
    /// The record's bytes, as they lie in flash.
    pub fn to_bytes(&self) -> [u8; RECORD_BYTES as usize] {
        let mut bytes = [0u8; RECORD_BYTES as usize];
        bytes[field::MAGIC].copy_from_slice(&MAGIC);
        bytes[field::VERSION].copy_from_slice(&LAYOUT_VERSION.to_le_bytes());
        bytes[field::SEQ].copy_from_slice(&self.seq.to_le_bytes());
        bytes[field::UNIT_ID].copy_from_slice(&u16::from(self.config.unit_id).to_le_bytes());
        bytes[field::DEDUP_WINDOW_MS].copy_from_slice(&self.config.dedup_window_ms.to_le_bytes());
        bytes[field::SCALE_POLL_MS].copy_from_slice(&self.config.scale_poll_ms.to_le_bytes());
        let crc = crc32(&bytes[..field::CRC.start]);
        bytes[field::CRC].copy_from_slice(&crc.to_le_bytes());
        bytes
    }

    fn to_words(self) -> [u32; RECORD_WORDS] {
        let bytes = self.to_bytes();
        let mut words = [0u32; RECORD_WORDS];
        for (word, chunk) in words.iter_mut().zip(bytes.chunks_exact(4)) {
            *word = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        }
        words
    }
}

/// What one slot holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    /// Erased: every byte `0xFF`.
    Blank,
    /// A whole record of this layout with a good CRC; `config` is `None`
    /// when a value is out of range.
    Intact { seq: u32, config: Option<Config> },
    /// Anything else: torn, half-erased, another layout, zeros.
    Garbage,
}

fn decode(words: &[u32; RECORD_WORDS]) -> Slot {
    if words.iter().all(|&w| w == u32::MAX) {
        return Slot::Blank;
    }
    let mut bytes = [0u8; RECORD_BYTES as usize];
    for (chunk, word) in bytes.chunks_exact_mut(4).zip(words) {
        chunk.copy_from_slice(&word.to_le_bytes());
    }
    let u16_at =
        |at: core::ops::Range<usize>| u16::from_le_bytes([bytes[at.start], bytes[at.start + 1]]);
    let u32_at = |at: core::ops::Range<usize>| {
        u32::from_le_bytes([
            bytes[at.start],
            bytes[at.start + 1],
            bytes[at.start + 2],
            bytes[at.start + 3],
        ])
    };
    if bytes[field::MAGIC] != MAGIC
        || u16_at(field::VERSION) != LAYOUT_VERSION
        || crc32(&bytes[..field::CRC.start]) != u32_at(field::CRC)
    {
        return Slot::Garbage;
    }
    Slot::Intact {
        seq: u32_at(field::SEQ),
        config: Config::checked(
            u16_at(field::UNIT_ID),
            u16_at(field::DEDUP_WINDOW_MS),
            u16_at(field::SCALE_POLL_MS),
        ),
    }
}

/// What a scan of both sectors found.
#[derive(Clone, Copy, Debug)]
struct Scan {
    /// The newest valid record and its sector.
    newest: Option<(Record, u32)>,
    /// The highest sequence number of any intact record, valid or not.
    max_seq: u32,
    /// Per sector, the slot after the last one that is not blank: 0 for a
    /// blank sector, the slot count for a full one.
    append_at: [u32; SECTORS as usize],
}

fn slots<F: NorFlash>() -> u32 {
    F::SECTOR_BYTES / RECORD_BYTES
}

fn slot_offset<F: NorFlash>(sector: u32, slot: u32) -> u32 {
    sector * F::SECTOR_BYTES + slot * RECORD_BYTES
}

fn scan<F: NorFlash>(flash: &mut F) -> Scan {
    let mut found = Scan {
        newest: None,
        max_seq: 0,
        append_at: [0; SECTORS as usize],
    };
    for sector in 0..SECTORS {
        for slot in 0..slots::<F>() {
            let mut words = [0u32; RECORD_WORDS];
            flash.read(slot_offset::<F>(sector, slot), &mut words);
            let decoded = decode(&words);
            if decoded == Slot::Blank {
                continue;
            }
            found.append_at[sector as usize] = slot + 1;
            let Slot::Intact { seq, config } = decoded else {
                continue;
            };
            found.max_seq = found.max_seq.max(seq);
            if let Some(config) = config {
                if found.newest.is_none_or(|(newest, _)| seq > newest.seq) {
                    found.newest = Some((Record { seq, config }, sector));
                }
            }
        }
    }
    found
}

fn sector_is_blank<F: NorFlash>(flash: &mut F, sector: u32) -> bool {
    (0..slots::<F>()).all(|slot| {
        let mut words = [0u32; RECORD_WORDS];
        flash.read(slot_offset::<F>(sector, slot), &mut words);
        words.iter().all(|&w| w == u32::MAX)
    })
}

/// The newest valid settings record, if flash holds one.
pub fn load<F: NorFlash>(flash: &mut F) -> Option<Record> {
    scan(flash).newest.map(|(record, _)| record)
}

/// Stores `config` as the newest record (see the module documentation for
/// the order of operations), reading back what it wrote. Blocks for the
/// whole operation, an erase included.
pub fn save<F: NorFlash>(flash: &mut F, config: Config) -> Result<Saved, SaveError> {
    let found = scan(flash);
    if found
        .newest
        .is_some_and(|(newest, _)| newest.config == config)
    {
        return Ok(Saved::AlreadyStored);
    }
    let seq = found
        .max_seq
        .checked_add(1)
        .ok_or(SaveError::SequenceExhausted)?;
    let active = found.newest.map_or(0, |(_, sector)| sector);
    let (sector, slot) = if found.append_at[active as usize] < slots::<F>() {
        (active, found.append_at[active as usize])
    } else {
        // The active sector is full: continue in the other one. It never
        // holds the newest valid record, so erasing it loses nothing.
        let spare = 1 - active;
        if found.append_at[spare as usize] != 0 {
            flash.erase(spare)?;
            if !sector_is_blank(flash, spare) {
                return Err(SaveError::Verify);
            }
        }
        (spare, 0)
    };
    let words = Record { seq, config }.to_words();
    let offset = slot_offset::<F>(sector, slot);
    flash.program(offset, &words)?;
    let mut back = [0u32; RECORD_WORDS];
    flash.read(offset, &mut back);
    if back != words {
        return Err(SaveError::Verify);
    }
    Ok(Saved::Written { seq })
}

/// The settings store as the main loop uses it: loads once at boot, then
/// saves the bank's configuration whenever it has changed, and keeps the
/// bank's `SETTINGS_STATE` and `SETTINGS_SAVES_FAILED` registers.
#[derive(Debug)]
pub struct SettingsStore<F> {
    flash: F,
    /// The configuration last loaded or last tried to save: a failed save
    /// is not retried until the settings change again, so a broken flash
    /// costs one attempt per write, not one per main-loop turn.
    attempted: Config,
}

impl<F: NorFlash> SettingsStore<F> {
    /// Loads the newest valid record from `flash`: returns the store, the
    /// configuration to start with (the defaults when there is no valid
    /// record) and the state to report.
    pub fn open(mut flash: F) -> (Self, Config, SettingsState) {
        let (config, state) = match load(&mut flash) {
            Some(record) => (record.config, SettingsState::Loaded),
            None => (Config::default(), SettingsState::Defaults),
        };
        let store = Self {
            flash,
            attempted: config,
        };
        (store, config, state)
    }

    /// Saves the bank's configuration if it differs from the one last loaded
    /// or tried, and reports the outcome in the bank. Returns what it did,
    /// or `None` when nothing had changed. Call from the main loop once the
    /// reply to the write has gone out, never from an interrupt: it may
    /// erase a sector.
    pub fn sync(&mut self, bank: &mut RegisterBank) -> Option<Result<Saved, SaveError>> {
        let config = bank.config();
        if config == self.attempted {
            return None;
        }
        self.attempted = config;
        let result = save(&mut self.flash, config);
        if result.is_ok() {
            bank.settings_state = SettingsState::Saved;
        } else {
            bank.settings_state = SettingsState::SaveFailed;
            bank.settings_saves_failed = bank.settings_saves_failed.saturating_add(1);
        }
        Some(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gateway_registers::holding;

    /// The flash's answer once the simulated power is gone.
    const POWER_GONE: FlashError = FlashError::Device(0xDEAD);

    /// What happens to the operation the power cut interrupts.
    #[derive(Clone, Copy, Debug)]
    enum Tear {
        /// It never started.
        Undone,
        /// A program cleared only the low half of the word's bits; an erase
        /// reached only the first half of the sector.
        Half,
        /// It finished, but the power went before the caller heard back.
        Done,
    }

    /// NOR flash of two sectors of `SECTOR` bytes that enforces the rules
    /// (programming only clears bits and only into erased words, erase sets
    /// 0xFF) and can lose power after a given number of operations.
    #[derive(Clone, Debug)]
    struct SimFlash<const SECTOR: u32> {
        mem: Vec<u8>,
        /// Word programs and erases left before the power goes.
        power_left: Option<usize>,
        tear: Tear,
        powered: bool,
        erases: [u32; 2],
    }

    impl<const SECTOR: u32> SimFlash<SECTOR> {
        fn blank() -> Self {
            Self::filled(0xFF)
        }

        fn filled(byte: u8) -> Self {
            Self {
                mem: vec![byte; 2 * SECTOR as usize],
                power_left: None,
                tear: Tear::Undone,
                powered: true,
                erases: [0; 2],
            }
        }

        fn cut_after(&mut self, ops: usize, tear: Tear) {
            self.power_left = Some(ops);
            self.tear = tear;
        }

        /// Power back on, no cut planned: a reboot.
        fn reboot(&mut self) {
            self.power_left = None;
            self.powered = true;
        }

        fn word(&self, at: usize) -> u32 {
            u32::from_le_bytes(self.mem[at..at + 4].try_into().expect("4 bytes"))
        }

        fn set_word(&mut self, at: usize, value: u32) {
            self.mem[at..at + 4].copy_from_slice(&value.to_le_bytes());
        }

        /// Spends one operation; `Some(tear)` when the power goes during it.
        fn spend(&mut self) -> Result<Option<Tear>, FlashError> {
            if !self.powered {
                return Err(POWER_GONE);
            }
            match self.power_left {
                Some(0) => {
                    self.powered = false;
                    Ok(Some(self.tear))
                }
                Some(ref mut left) => {
                    *left -= 1;
                    Ok(None)
                }
                None => Ok(None),
            }
        }

        fn put_record(&mut self, sector: u32, slot: u32, record: Record) {
            let at = (sector * SECTOR + slot * RECORD_BYTES) as usize;
            self.mem[at..at + RECORD_BYTES as usize].copy_from_slice(&record.to_bytes());
        }
    }

    impl<const SECTOR: u32> NorFlash for SimFlash<SECTOR> {
        const SECTOR_BYTES: u32 = SECTOR;

        fn read(&mut self, offset: u32, words: &mut [u32]) {
            assert_eq!(offset % 4, 0, "unaligned read at {offset}");
            for (i, word) in words.iter_mut().enumerate() {
                *word = self.word(offset as usize + 4 * i);
            }
        }

        fn program(&mut self, offset: u32, words: &[u32]) -> Result<(), FlashError> {
            if offset % 4 != 0 || offset as usize + 4 * words.len() > self.mem.len() {
                return Err(FlashError::OutOfRange);
            }
            for (i, &value) in words.iter().enumerate() {
                let at = offset as usize + 4 * i;
                let old = self.word(at);
                if old != u32::MAX {
                    return Err(FlashError::NotErased);
                }
                match self.spend()? {
                    None => self.set_word(at, value),
                    Some(tear) => {
                        match tear {
                            Tear::Undone => {}
                            Tear::Half => self.set_word(at, old & (value | 0xFFFF_0000)),
                            Tear::Done => self.set_word(at, value),
                        }
                        return Err(POWER_GONE);
                    }
                }
            }
            Ok(())
        }

        fn erase(&mut self, sector: u32) -> Result<(), FlashError> {
            if sector >= SECTORS {
                return Err(FlashError::OutOfRange);
            }
            // The store's invariant, checked on every erase of every test.
            let newest = scan(&mut self.clone()).newest.map(|(_, s)| s);
            assert_ne!(
                newest,
                Some(sector),
                "erasing the sector that holds the newest valid record"
            );
            let start = (sector * SECTOR) as usize;
            let torn = self.spend()?;
            let end = match torn {
                None | Some(Tear::Done) => start + SECTOR as usize,
                Some(Tear::Half) => start + SECTOR as usize / 2,
                Some(Tear::Undone) => start,
            };
            self.mem[start..end].fill(0xFF);
            self.erases[sector as usize] += 1;
            match torn {
                None => Ok(()),
                Some(_) => Err(POWER_GONE),
            }
        }
    }

    /// Flash as QEMU's `netduinoplus2` has it: programs and erases report
    /// success and change nothing.
    struct RomFlash {
        mem: Vec<u8>,
    }

    impl NorFlash for RomFlash {
        const SECTOR_BYTES: u32 = 256;

        fn read(&mut self, offset: u32, words: &mut [u32]) {
            for (i, word) in words.iter_mut().enumerate() {
                let at = offset as usize + 4 * i;
                *word = u32::from_le_bytes(self.mem[at..at + 4].try_into().expect("4 bytes"));
            }
        }

        fn program(&mut self, _offset: u32, _words: &[u32]) -> Result<(), FlashError> {
            Ok(())
        }

        fn erase(&mut self, _sector: u32) -> Result<(), FlashError> {
            Ok(())
        }
    }

    /// Eight slots per sector: the ping-pong comes round quickly.
    type Small = SimFlash<256>;
    const SMALL_SLOTS: u32 = 256 / RECORD_BYTES;

    fn config(unit_id: u8) -> Config {
        Config {
            unit_id,
            dedup_window_ms: 1_000 + u16::from(unit_id),
            scale_poll_ms: 50 + u16::from(unit_id),
        }
    }

    fn loaded<F: NorFlash>(flash: &mut F) -> Option<Config> {
        load(flash).map(|r| r.config)
    }

    #[test]
    fn record_layout_matches_the_documented_bytes() {
        // Cross-checked with Python: zlib.crc32 of the first 28 bytes.
        let record = Record {
            seq: 1,
            config: Config {
                unit_id: 7,
                dedup_window_ms: 1_500,
                scale_poll_ms: 250,
            },
        };
        let want = [
            0x47, 0x57, 0x53, 0x54, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x07, 0x00,
            0xDC, 0x05, 0xFA, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0xD3, 0x04, 0xFF, 0x67,
        ];
        assert_eq!(record.to_bytes(), want);
        let mut flash = Small::blank();
        flash.mem[..32].copy_from_slice(&want);
        assert_eq!(load(&mut flash), Some(record));
    }

    #[test]
    fn blank_or_zeroed_flash_loads_nothing() {
        assert_eq!(load(&mut Small::blank()), None);
        // QEMU's flash outside the firmware image reads as zeros.
        assert_eq!(load(&mut Small::filled(0)), None);
    }

    #[test]
    fn damaged_records_are_skipped_and_the_older_one_wins() {
        let old = Record {
            seq: 4,
            config: config(4),
        };
        let newer = Record {
            seq: 5,
            config: config(5),
        };
        let mut flash = Small::blank();
        flash.put_record(0, 0, old);
        flash.put_record(0, 1, newer);
        assert_eq!(load(&mut flash), Some(newer));
        // Any single flipped bit of the newer record (a torn write, a
        // half-erased slot) makes it invalid.
        for bit in 0..RECORD_BYTES as usize * 8 {
            let mut damaged = flash.clone();
            damaged.mem[32 + bit / 8] ^= 1 << (bit % 8);
            assert_eq!(load(&mut damaged), Some(old), "bit {bit}");
        }
        // Another layout version with a good CRC is skipped too.
        let mut bytes = newer.to_bytes();
        bytes[4] = 2;
        let crc = crc32(&bytes[..28]);
        bytes[28..].copy_from_slice(&crc.to_le_bytes());
        let mut other_layout = flash.clone();
        other_layout.mem[32..64].copy_from_slice(&bytes);
        assert_eq!(load(&mut other_layout), Some(old));
    }

    #[test]
    fn out_of_range_values_are_refused_like_a_modbus_write() {
        let mut bank = RegisterBank::default();
        for (addr, value) in [
            (holding::UNIT_ID, 0u16),
            (holding::UNIT_ID, 248),
            (holding::DEDUP_WINDOW_MS, 0),
            (holding::SCALE_POLL_MS, 49),
        ] {
            // The register bank refuses the write...
            assert!(bank.write_holding(addr, &[value]).is_err());
            // ...and a record carrying the value is skipped on load.
            let mut bytes = Record {
                seq: 9,
                config: config(9),
            }
            .to_bytes();
            let at = match addr {
                holding::UNIT_ID => 12,
                holding::DEDUP_WINDOW_MS => 14,
                _ => 16,
            };
            bytes[at..at + 2].copy_from_slice(&value.to_le_bytes());
            let crc = crc32(&bytes[..28]);
            bytes[28..].copy_from_slice(&crc.to_le_bytes());
            let mut flash = Small::blank();
            flash.put_record(
                0,
                0,
                Record {
                    seq: 3,
                    config: config(3),
                },
            );
            flash.mem[32..64].copy_from_slice(&bytes);
            assert_eq!(loaded(&mut flash), Some(config(3)), "{addr}={value}");
            // Its sequence number still counts: the next record goes past it.
            assert_eq!(save(&mut flash, config(10)), Ok(Saved::Written { seq: 10 }));
            assert_eq!(loaded(&mut flash), Some(config(10)));
        }
    }

    #[test]
    fn the_highest_sequence_wins_whatever_the_sector() {
        let mut flash = Small::blank();
        flash.put_record(
            0,
            0,
            Record {
                seq: 8,
                config: config(8),
            },
        );
        flash.put_record(
            1,
            0,
            Record {
                seq: 7,
                config: config(7),
            },
        );
        flash.put_record(
            1,
            1,
            Record {
                seq: 6,
                config: config(6),
            },
        );
        assert_eq!(loaded(&mut flash), Some(config(8)));
        // Appends go to the sector of the newest record.
        assert_eq!(save(&mut flash, config(9)), Ok(Saved::Written { seq: 9 }));
        assert_eq!(
            decode(
                &Record {
                    seq: 9,
                    config: config(9)
                }
                .to_words()
            ),
            Slot::Intact {
                seq: 9,
                config: Some(config(9))
            }
        );
        let mut words = [0u32; RECORD_WORDS];
        flash.read(RECORD_BYTES, &mut words);
        assert_eq!(
            words,
            Record {
                seq: 9,
                config: config(9)
            }
            .to_words()
        );
    }

    #[test]
    fn saves_append_and_erase_once_per_sector_switch() {
        let mut flash = Small::blank();
        for n in 1..=5 * SMALL_SLOTS {
            let unit = (n % 200 + 1) as u8;
            assert_eq!(
                save(&mut flash, config(unit)),
                Ok(Saved::Written { seq: n })
            );
            assert_eq!(
                load(&mut flash),
                Some(Record {
                    seq: n,
                    config: config(unit)
                })
            );
        }
        // Sector 1 was blank the first time round; after that each switch
        // erased the sector it went to: saves 17 and 33 went to sector 0,
        // save 25 to sector 1 (8 slots each).
        assert_eq!(flash.erases, [2, 1]);
        // Saving what is stored writes nothing.
        let before = flash.mem.clone();
        let stored = loaded(&mut flash).expect("a record");
        assert_eq!(save(&mut flash, stored), Ok(Saved::AlreadyStored));
        assert_eq!(flash.mem, before);
    }

    #[test]
    fn a_128_kib_sector_takes_4096_records_before_a_switch() {
        let mut flash = SimFlash::<{ 128 * 1024 }>::blank();
        for slot in 0..4_096 {
            flash.put_record(
                0,
                slot,
                Record {
                    seq: slot + 1,
                    config: config(1),
                },
            );
        }
        assert_eq!(
            save(&mut flash, config(2)),
            Ok(Saved::Written { seq: 4_097 })
        );
        assert_eq!(flash.erases, [0, 0], "sector 1 was blank");
        let mut words = [0u32; RECORD_WORDS];
        flash.read(128 * 1024, &mut words);
        assert_eq!(
            words,
            Record {
                seq: 4_097,
                config: config(2)
            }
            .to_words()
        );
    }

    #[test]
    fn zeroed_or_garbage_sectors_are_erased_before_use() {
        // Both sectors hold garbage (zeros, like QEMU's unwritten flash).
        let mut flash = Small::filled(0);
        assert_eq!(save(&mut flash, config(3)), Ok(Saved::Written { seq: 1 }));
        assert_eq!(flash.erases, [0, 1]);
        assert_eq!(loaded(&mut flash), Some(config(3)));
        // A blank tail after garbage is used without an erase.
        let mut flash = Small::blank();
        flash.mem[..40].fill(0x5A);
        assert_eq!(save(&mut flash, config(4)), Ok(Saved::Written { seq: 1 }));
        assert_eq!(flash.erases, [0, 0]);
        let mut words = [0u32; RECORD_WORDS];
        flash.read(2 * RECORD_BYTES, &mut words);
        assert_eq!(
            words,
            Record {
                seq: 1,
                config: config(4)
            }
            .to_words()
        );
    }

    #[test]
    fn a_sequence_at_its_end_refuses_to_wrap() {
        let mut flash = Small::blank();
        flash.put_record(
            0,
            0,
            Record {
                seq: u32::MAX,
                config: config(1),
            },
        );
        assert_eq!(
            save(&mut flash, config(2)),
            Err(SaveError::SequenceExhausted)
        );
        assert_eq!(loaded(&mut flash), Some(config(1)));
    }

    #[test]
    fn flash_errors_are_reported() {
        let mut flash = Small::blank();
        flash.cut_after(0, Tear::Undone);
        assert_eq!(
            save(&mut flash, config(2)),
            Err(SaveError::Flash(POWER_GONE))
        );
        assert_eq!(
            Small::blank().program(2, &[0]),
            Err(FlashError::OutOfRange),
            "the simulator itself refuses unaligned programs"
        );
        let mut used = Small::blank();
        used.program(0, &[0x1234_5678]).expect("erased word");
        assert_eq!(used.program(0, &[0x1234_5678]), Err(FlashError::NotErased));
        assert_eq!(used.erase(2), Err(FlashError::OutOfRange));
    }

    /// Saves `next` onto `before`, cutting the power after every operation
    /// in turn with each kind of tear; after each cut the flash must load
    /// the old settings or the new ones, and a save after the reboot must
    /// work. Returns how many operations the uninterrupted save took.
    fn power_loss_everywhere(before: &Small, next: Config) -> usize {
        let old = loaded(&mut before.clone());
        let mut ops = 0;
        for tear in [Tear::Undone, Tear::Half, Tear::Done] {
            for cut in 0.. {
                assert!(cut < 64, "the save never finished");
                let mut flash = before.clone();
                flash.cut_after(cut, tear);
                let result = save(&mut flash, next);
                let interrupted = !flash.powered;
                flash.reboot();
                let now = loaded(&mut flash);
                if !interrupted {
                    assert!(result.is_ok(), "{result:?}");
                    assert_eq!(now, Some(next));
                    ops = cut;
                    break;
                }
                assert_eq!(result, Err(SaveError::Flash(POWER_GONE)));
                assert!(
                    now == old || now == Some(next),
                    "cut after {cut} ops ({tear:?}): loaded {now:?}, old {old:?}, new {next:?}"
                );
                // The gateway comes back and saves again: that must work
                // whatever the cut left behind.
                let again = config(next.unit_id % 200 + 1);
                assert!(
                    save(&mut flash, again).is_ok(),
                    "after cut {cut} ({tear:?})"
                );
                assert_eq!(
                    loaded(&mut flash),
                    Some(again),
                    "after cut {cut} ({tear:?})"
                );
            }
        }
        ops
    }

    #[test]
    fn power_loss_at_every_step_leaves_old_or_new() {
        // Every position of the log over two and a half rounds: first
        // record, appends, the switch to a blank sector, and switches that
        // erase a sector full of older records.
        let mut flash = Small::blank();
        let mut switch_ops = Vec::new();
        for n in 0..=5 * SMALL_SLOTS / 2 {
            let next = config((n % 200 + 1) as u8);
            let ops = power_loss_everywhere(&flash, next);
            // A record is eight word programs, plus an erase when the save
            // switches to a used sector.
            assert!(ops == 8 || ops == 9, "{ops} operations");
            if ops == 9 {
                switch_ops.push(n);
            }
            save(&mut flash, next).expect("uninterrupted save");
        }
        assert_eq!(switch_ops, [16]);
    }

    #[test]
    fn random_saves_and_power_cuts_never_lose_the_last_good_settings() {
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        let mut random = move |below: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % below
        };
        let mut flash = Small::blank();
        for round in 0..3_000 {
            let old = loaded(&mut flash);
            let next = config(random(247) as u8 + 1);
            if random(3) == 0 {
                let tear = [Tear::Undone, Tear::Half, Tear::Done][random(3) as usize];
                flash.cut_after(random(10) as usize, tear);
            }
            let result = save(&mut flash, next);
            flash.reboot();
            let now = loaded(&mut flash);
            if result.is_ok() {
                assert_eq!(now, Some(next), "round {round}");
            } else {
                assert!(now == old || now == Some(next), "round {round}: {now:?}");
            }
        }
        assert!(flash.erases.iter().sum::<u32>() > 100, "{:?}", flash.erases);
    }

    #[test]
    fn store_reports_loaded_defaults_saved_and_failed() {
        // A valid record: loaded.
        let mut flash = Small::blank();
        flash.put_record(
            1,
            0,
            Record {
                seq: 2,
                config: config(7),
            },
        );
        let (mut store, start, state) = SettingsStore::open(flash);
        assert_eq!((start, state), (config(7), SettingsState::Loaded));
        let mut bank = RegisterBank::new(start);
        assert_eq!(store.sync(&mut bank), None, "nothing changed");
        bank.write_holding(holding::UNIT_ID, &[9]).expect("valid");
        assert_eq!(store.sync(&mut bank), Some(Ok(Saved::Written { seq: 3 })));
        assert_eq!(bank.settings_state, SettingsState::Saved);
        assert_eq!(store.sync(&mut bank), None);
        let (_, reopened, _) = SettingsStore::open(store.flash.clone());
        assert_eq!(reopened.unit_id, 9);
        // A write of the value already stored saves nothing new.
        bank.write_holding(holding::UNIT_ID, &[9]).expect("valid");
        assert_eq!(store.sync(&mut bank), None);

        // Nothing valid: the defaults.
        let (_, start, state) = SettingsStore::open(Small::filled(0));
        assert_eq!((start, state), (Config::default(), SettingsState::Defaults));
    }

    #[test]
    fn read_only_flash_fails_each_change_once_and_keeps_working() {
        // As on QEMU: a record placed in the image loads, saves cannot stick.
        let mut mem = vec![0u8; 512];
        mem[256..288].copy_from_slice(
            &Record {
                seq: 1,
                config: config(7),
            }
            .to_bytes(),
        );
        let (mut store, start, state) = SettingsStore::open(RomFlash { mem });
        assert_eq!((start.unit_id, state), (7, SettingsState::Loaded));
        let mut bank = RegisterBank::new(start);
        bank.write_holding(holding::UNIT_ID, &[5]).expect("valid");
        assert_eq!(store.sync(&mut bank), Some(Err(SaveError::Verify)));
        assert_eq!(
            (bank.settings_state, bank.settings_saves_failed),
            (SettingsState::SaveFailed, 1)
        );
        // The new unit id applies until reset; the failure is not retried
        // every turn of the main loop.
        assert_eq!(bank.config().unit_id, 5);
        assert_eq!(store.sync(&mut bank), None);
        assert_eq!(bank.settings_saves_failed, 1);
        // The next change is tried (and fails) again.
        bank.write_holding(holding::SCALE_POLL_MS, &[500])
            .expect("valid");
        assert_eq!(store.sync(&mut bank), Some(Err(SaveError::Verify)));
        assert_eq!(bank.settings_saves_failed, 2);
        // Going back to what flash holds is a success: flash matches again.
        bank.write_holding(holding::UNIT_ID, &[7]).expect("valid");
        bank.write_holding(holding::SCALE_POLL_MS, &[config(7).scale_poll_ms])
            .expect("valid");
        bank.write_holding(holding::DEDUP_WINDOW_MS, &[config(7).dedup_window_ms])
            .expect("valid");
        assert_eq!(store.sync(&mut bank), Some(Ok(Saved::AlreadyStored)));
        assert_eq!(bank.settings_state, SettingsState::Saved);
        // With zeros everywhere the erase-verify fails the same way.
        let (mut store, start, state) = SettingsStore::open(RomFlash { mem: vec![0; 512] });
        assert_eq!((start, state), (Config::default(), SettingsState::Defaults));
        let mut bank = RegisterBank::new(start);
        bank.write_holding(holding::UNIT_ID, &[2]).expect("valid");
        assert_eq!(store.sync(&mut bank), Some(Err(SaveError::Verify)));
    }

    #[test]
    fn failed_saves_saturate() {
        let (mut store, start, _) = SettingsStore::open(RomFlash { mem: vec![0; 512] });
        let mut bank = RegisterBank::new(start);
        bank.settings_saves_failed = u16::MAX - 1;
        for unit in [2u16, 3, 4] {
            bank.write_holding(holding::UNIT_ID, &[unit])
                .expect("valid");
            assert!(store.sync(&mut bank).is_some_and(|r| r.is_err()));
        }
        assert_eq!(bank.settings_saves_failed, u16::MAX);
    }
}
