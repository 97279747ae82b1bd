//! The gateway's Modbus register map: the one definition the firmware serves
//! and the depot server polls (brief §4).
//!
//! Owns register addresses, value encodings and the event record layout,
//! plus typed decoders for a block of registers read off the wire. It must
//! not know about transports, framing or time: those live in the firmware
//! and in the server's gateway adapter. `REGISTERS.md` is checked against
//! [`INPUT_FIELDS`] and [`HOLDING_FIELDS`] by this crate's tests.
//!
//! The depot server names the gateway's boot ([`holding::BOOT_ID`]), polls
//! [`DrainBlock::START`]..+[`DrainBlock::LEN`] with function 04, decodes it
//! with [`DrainBlock::from_registers`], stores the events idempotently by
//! (boot, `seq`), and writes [`DrainBlock::ack_registers`] of the boot and
//! the last event to [`holding::ACK_BOOT_ID`] with function 16
//! (`REGISTERS.md`, "Draining events").
//!
//! Conventions: registers are 16-bit; a 32-bit value takes two consecutive
//! registers, high word first; signed values are two's complement.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

/// The value of input register 0. Bumped whenever an address gains, loses or
/// changes its meaning; `REGISTERS.md` ("Map versions") lists what each
/// version added. Version 2 gave the formerly reserved input registers 30
/// and 31 their meaning ([`input::SETTINGS_STATE`],
/// [`input::SETTINGS_SAVES_FAILED`]) and added the turnaround registers
/// past the event window, and changed two event fields: `ANTENNA` (the
/// antenna that heard the tag last) and `EPC_WORDS` (up to 31: over 15 the
/// EPC was cut). No address moved, but a master must check the version: a
/// version-1 decoder refuses an event with `EPC_WORDS` over 15. Version 3
/// added the boot id ([`input::BOOT_ID`], [`holding::BOOT_ID`]) and the
/// acknowledgement that names the boot ([`holding::ACK_BOOT_ID`],
/// [`holding::ACK_BOOT_SEQ`]), so a master tells a restart from a repeated
/// read and never frees a new boot's events with an old boot's `seq`.
pub const MAP_VERSION: u16 = 3;

/// Input register addresses (function 04, read-only).
pub mod input {
    /// [`crate::MAP_VERSION`].
    pub const MAP_VERSION: u16 = 0;
    /// Firmware version, major part.
    pub const FIRMWARE_VERSION_MAJOR: u16 = 1;
    /// Firmware version, minor part.
    pub const FIRMWARE_VERSION_MINOR: u16 = 2;
    /// Firmware version, patch part.
    pub const FIRMWARE_VERSION_PATCH: u16 = 3;
    /// Seconds since boot, u32.
    pub const UPTIME_S: u16 = 4;
    /// Modbus frames with a good CRC addressed to this unit (or broadcast), u32.
    pub const FRAMES_OK: u16 = 6;
    /// Modbus frames dropped for a bad CRC or shorter than 4 bytes, u32.
    pub const FRAMES_CRC_ERROR: u16 = 8;
    /// Modbus frames with a good CRC but a body too short or too long for
    /// their function, or longer than the receive buffer, u32.
    pub const FRAMES_MALFORMED: u16 = 10;
    /// Exception replies sent, u32.
    pub const EXCEPTIONS_SENT: u16 = 12;
    /// Raw tag reads received from the reader module, u32.
    pub const READS_SEEN: u16 = 14;
    /// Raw tag reads folded into an earlier read of the same EPC, u32.
    pub const READS_DEDUPED: u16 = 16;
    /// Gate events dropped because the event ring was full, u32.
    pub const EVENTS_OVERFLOWED: u16 = 18;
    /// Reader frames dropped (bad CRC, garbage, error status), u32.
    pub const READER_FRAME_ERRORS: u16 = 20;
    /// Scale lines that did not parse, u32.
    pub const SCALE_LINE_ERRORS: u16 = 22;
    /// [`crate::ReaderStatus`].
    pub const READER_STATUS: u16 = 24;
    /// [`crate::ScaleStatus`].
    pub const SCALE_STATUS: u16 = 25;
    /// Latest weight in grams, i32.
    pub const WEIGHT_GRAMS: u16 = 26;
    /// [`crate::weight_flags`] bits.
    pub const WEIGHT_FLAGS: u16 = 28;
    /// Weight readings taken since boot, wrapping u16: a change means a new reading.
    pub const WEIGHT_READINGS: u16 = 29;
    /// [`crate::SettingsState`]: where the settings in use came from, and
    /// whether the last change reached flash.
    pub const SETTINGS_STATE: u16 = 30;
    /// Settings saves that failed since boot, u16, saturating at 65535.
    pub const SETTINGS_SAVES_FAILED: u16 = 31;
    /// Events waiting in the ring (not yet acknowledged).
    pub const EVENT_COUNT: u16 = 32;
    /// Sequence number of the oldest waiting event, u32; 0 when the ring is empty.
    pub const EVENT_OLDEST_SEQ: u16 = 33;
    /// Sequence number of the newest event ever stored, u32; 0 before the first.
    pub const EVENT_NEWEST_SEQ: u16 = 35;
    /// How many events the ring holds at most.
    pub const EVENT_CAPACITY: u16 = 37;
    /// Registers per event record ([`crate::EVENT_RECORD_REGS`]).
    pub const EVENT_RECORD_REGS: u16 = 38;
    /// Records in the event window ([`crate::EVENT_WINDOW_RECORDS`]).
    pub const EVENT_WINDOW_RECORDS: u16 = 39;
    /// The event window: the oldest waiting events, oldest first, as
    /// [`crate::EventRecord`]s; slots past [`EVENT_COUNT`] read as zeros.
    pub const EVENT_WINDOW: u16 = 40;
    /// First address past the event window.
    pub const EVENT_WINDOW_END: u16 =
        EVENT_WINDOW + crate::EVENT_WINDOW_RECORDS * crate::EVENT_RECORD_REGS;
    /// Microseconds from the last byte of the latest answered request to the
    /// start of its reply, as the gateway's clock measured it; u16,
    /// saturating at 65535. At least the 3.5-character silence.
    pub const MODBUS_TURNAROUND_LAST_US: u16 = EVENT_WINDOW_END;
    /// The longest such turnaround since boot, µs; u16, saturating.
    pub const MODBUS_TURNAROUND_MAX_US: u16 = MODBUS_TURNAROUND_LAST_US + 1;
    /// This boot's id, u32, as a master named it ([`crate::holding::BOOT_ID`]);
    /// 0 from every reset until then.
    pub const BOOT_ID: u16 = MODBUS_TURNAROUND_MAX_US + 1;
    /// Number of input registers; an address at or past it is exception 02.
    pub const LEN: u16 = BOOT_ID + 2;
}

/// Holding register addresses (functions 03, 06, 16).
pub mod holding {
    /// Acknowledge events, u32: write the sequence number of the last event
    /// consumed; every event with a sequence number up to it is freed. The
    /// write takes effect when the low word (`EVENT_ACK_SEQ + 1`) is written,
    /// so write both words in one function-16 request. A value past the
    /// newest stored event is refused with exception 03; a value at or below
    /// an earlier acknowledgement frees nothing. Reads back the last value.
    pub const EVENT_ACK_SEQ: u16 = 0;
    /// Gate dedup window in milliseconds, 1..=60000 (default 2000);
    /// persisted across resets.
    pub const DEDUP_WINDOW_MS: u16 = 2;
    /// Modbus unit id, 1..=247 (default 1); persisted across resets. The
    /// reply to the write still comes from the old id; the new one applies
    /// to the next request.
    pub const UNIT_ID: u16 = 3;
    /// Scale polling period in milliseconds, 50..=60000 (default 200);
    /// persisted across resets.
    pub const SCALE_POLL_MS: u16 = 4;
    /// Names this boot, u32: a master writes a nonzero id (both words, one
    /// function-16 request) when it reads [`crate::input::BOOT_ID`] as 0. A
    /// boot is named once: writing 0, or any id once the boot has one, is
    /// exception 03 (so a late or second write never renames a boot whose
    /// events were stored under the first name). Not persisted: every reset
    /// sets it to 0. Reads back the id.
    pub const BOOT_ID: u16 = 5;
    /// Acknowledge events of a named boot, u32 then [`ACK_BOOT_SEQ`]: write
    /// the boot id and the seq of the last event consumed, all four
    /// registers in one function-16 request. Refused with exception 03
    /// unless the boot id is this boot's nonzero [`BOOT_ID`] (so an
    /// acknowledgement meant for an earlier boot frees nothing), or when the
    /// seq is past the newest event; otherwise as [`EVENT_ACK_SEQ`]. A write
    /// that covers only part of the four registers is exception 03.
    pub const ACK_BOOT_ID: u16 = 7;
    /// The seq half of the boot-checked acknowledgement, u32 (see [`ACK_BOOT_ID`]).
    pub const ACK_BOOT_SEQ: u16 = 9;
    /// Number of holding registers; an address at or past it is exception 02.
    pub const LEN: u16 = 11;
}

/// Registers per event record in the window.
pub const EVENT_RECORD_REGS: u16 = 24;
/// Records in the event window: header plus window fit one 104-register read.
pub const EVENT_WINDOW_RECORDS: u16 = 4;
// The header and the whole window must fit one read (125 registers at most).
const _: () = assert!(input::EVENT_WINDOW_END - input::EVENT_COUNT <= 125);

/// Longest EPC an event record carries, in 16-bit words (240 bits; every
/// GS1 scheme fits, the longest, GIAI-202, takes 13).
pub const EPC_MAX_WORDS: usize = 15;
/// Longest EPC a Gen2 tag can hold, in words (the PC word's 5-bit length).
pub const TAG_EPC_MAX_WORDS: usize = 31;

/// Offsets inside one event record.
pub mod record {
    /// Sequence number, u32, starts at 1, gapless; 0 marks an empty slot.
    pub const SEQ: usize = 0;
    /// Gateway uptime in milliseconds at the pass's last read, u32.
    pub const TIMESTAMP_MS: usize = 2;
    /// Gate (dock door) index on this gateway, from 0.
    pub const GATE: usize = 4;
    /// [`crate::Direction`].
    pub const DIRECTION: usize = 5;
    /// Antenna port that heard the tag last (heard last by both at once: the
    /// one with the stronger peak RSSI, inside if equal):
    /// the side it ended on, for `unknown` passes too.
    pub const ANTENNA: usize = 6;
    /// Strongest RSSI seen during the pass, dBm, i16.
    pub const RSSI_DBM: usize = 7;
    /// EPC length in words, 0..=15.
    pub const EPC_WORDS: usize = 8;
    /// EPC words, most significant first; unused words are 0.
    pub const EPC: usize = 9;
}

/// Bits of [`input::WEIGHT_FLAGS`].
pub mod weight_flags {
    /// The latest reading was stable (`S S`).
    pub const STABLE: u16 = 1 << 0;
    /// [`crate::input::WEIGHT_GRAMS`] holds a current reading (stable or
    /// dynamic); cleared on overload, underload, errors and timeouts.
    pub const VALID: u16 = 1 << 1;
}

/// Direction of travel through a gate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Both antennas, or only one, saw the tag in an order that tells nothing.
    Unknown = 0,
    /// Outside antenna first, then inside.
    In = 1,
    /// Inside antenna first, then outside.
    Out = 2,
}

impl Direction {
    /// The register value.
    pub const fn to_register(self) -> u16 {
        self as u16
    }
    /// Decodes a register value; `None` for values the map does not define.
    pub const fn from_register(value: u16) -> Option<Self> {
        match value {
            0 => Some(Self::Unknown),
            1 => Some(Self::In),
            2 => Some(Self::Out),
            _ => None,
        }
    }
}

/// State of the link to the reader module.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReaderStatus {
    /// Not yet answered since boot.
    Starting = 0,
    /// Configured and streaming tag reads.
    Reading = 1,
    /// Stopped answering or answered with an error; being restarted.
    Fault = 2,
}

impl ReaderStatus {
    /// The register value.
    pub const fn to_register(self) -> u16 {
        self as u16
    }
    /// Decodes a register value; `None` for values the map does not define.
    pub const fn from_register(value: u16) -> Option<Self> {
        match value {
            0 => Some(Self::Starting),
            1 => Some(Self::Reading),
            2 => Some(Self::Fault),
            _ => None,
        }
    }
}

/// What the scale answered last (MT-SICS `SI`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScaleStatus {
    /// No answer yet since boot.
    Unknown = 0,
    /// `S S`: stable weight.
    Stable = 1,
    /// `S D`: dynamic (moving) weight.
    Dynamic = 2,
    /// `S I`: command not executable now (busy).
    Busy = 3,
    /// `S +`: overload.
    Overload = 4,
    /// `S -`: underload.
    Underload = 5,
    /// `ES`, `ET` or `EL`: the scale refused the command.
    Error = 6,
    /// No answer within one polling period.
    Timeout = 7,
}

impl ScaleStatus {
    /// The register value.
    pub const fn to_register(self) -> u16 {
        self as u16
    }
    /// Decodes a register value; `None` for values the map does not define.
    pub const fn from_register(value: u16) -> Option<Self> {
        match value {
            0 => Some(Self::Unknown),
            1 => Some(Self::Stable),
            2 => Some(Self::Dynamic),
            3 => Some(Self::Busy),
            4 => Some(Self::Overload),
            5 => Some(Self::Underload),
            6 => Some(Self::Error),
            7 => Some(Self::Timeout),
            _ => None,
        }
    }
}

/// Where the settings in use (the persisted holding registers) came from,
/// and whether the last change reached flash ([`input::SETTINGS_STATE`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SettingsState {
    /// No valid settings record in flash at boot: the defaults are in use
    /// and no change has been saved since.
    Defaults = 0,
    /// The settings were loaded from flash at boot; unchanged since.
    Loaded = 1,
    /// The last change was saved to flash.
    Saved = 2,
    /// The last change could not be saved: it applies until the next reset,
    /// which brings back what flash holds ([`input::SETTINGS_SAVES_FAILED`]
    /// counts these).
    SaveFailed = 3,
}

impl SettingsState {
    /// The register value.
    pub const fn to_register(self) -> u16 {
        self as u16
    }
    /// Decodes a register value; `None` for values the map does not define.
    pub const fn from_register(value: u16) -> Option<Self> {
        match value {
            0 => Some(Self::Defaults),
            1 => Some(Self::Loaded),
            2 => Some(Self::Saved),
            3 => Some(Self::SaveFailed),
            _ => None,
        }
    }
}

/// Splits a u32 into its two registers, high word first.
pub const fn u32_to_registers(value: u32) -> [u16; 2] {
    [(value >> 16) as u16, value as u16]
}

/// Joins two registers, high word first, into a u32.
pub const fn u32_from_registers(high: u16, low: u16) -> u32 {
    ((high as u32) << 16) | low as u32
}

/// Why a block of registers did not decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Fewer registers than the layout needs.
    TooShort,
    /// A field holds a value the map does not define.
    BadValue {
        /// Offset of the field inside the decoded block.
        offset: usize,
    },
}

fn u32_at(regs: &[u16], offset: usize) -> u32 {
    u32_from_registers(regs[offset], regs[offset + 1])
}

/// One gate event: an EPC that passed a gate, as stored in the window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventRecord {
    /// Sequence number, from 1, gapless over stored events.
    pub seq: u32,
    /// Gateway uptime in milliseconds at the pass's last read.
    pub timestamp_ms: u32,
    /// Gate index on this gateway.
    pub gate: u16,
    /// Direction of travel.
    pub direction: Direction,
    /// Antenna port that heard the tag last.
    pub antenna: u16,
    /// Strongest RSSI seen, dBm.
    pub rssi_dbm: i16,
    /// EPC length in words.
    pub epc_words: u8,
    /// EPC words, most significant first; words past `epc_words` are 0. An
    /// EPC longer than [`EPC_MAX_WORDS`] has only its first words here.
    pub epc: [u16; EPC_MAX_WORDS],
}

impl EventRecord {
    /// The EPC as bytes, most significant first, and how many there are
    /// (`epc_words * 2`, at most `EPC_MAX_WORDS * 2`: see [`Self::is_truncated`]).
    pub fn epc_bytes(&self) -> ([u8; EPC_MAX_WORDS * 2], usize) {
        let mut out = [0u8; EPC_MAX_WORDS * 2];
        for (pair, word) in out.chunks_exact_mut(2).zip(self.epc.iter()) {
            pair.copy_from_slice(&word.to_be_bytes());
        }
        (out, usize::from(self.epc_words).min(EPC_MAX_WORDS) * 2)
    }

    /// Whether the tag's EPC was longer than a record holds: only its first
    /// [`EPC_MAX_WORDS`] words are here, so it must not be taken for an item.
    pub fn is_truncated(&self) -> bool {
        usize::from(self.epc_words) > EPC_MAX_WORDS
    }

    /// Encodes the record into its registers.
    pub fn to_registers(&self) -> [u16; EVENT_RECORD_REGS as usize] {
        let mut regs = [0u16; EVENT_RECORD_REGS as usize];
        regs[record::SEQ..record::SEQ + 2].copy_from_slice(&u32_to_registers(self.seq));
        regs[record::TIMESTAMP_MS..record::TIMESTAMP_MS + 2]
            .copy_from_slice(&u32_to_registers(self.timestamp_ms));
        regs[record::GATE] = self.gate;
        regs[record::DIRECTION] = self.direction.to_register();
        regs[record::ANTENNA] = self.antenna;
        regs[record::RSSI_DBM] = self.rssi_dbm as u16;
        regs[record::EPC_WORDS] = u16::from(self.epc_words);
        regs[record::EPC..].copy_from_slice(&self.epc);
        regs
    }

    /// Decodes one record; `Ok(None)` for an empty slot (sequence 0).
    pub fn from_registers(regs: &[u16]) -> Result<Option<Self>, DecodeError> {
        if regs.len() < EVENT_RECORD_REGS as usize {
            return Err(DecodeError::TooShort);
        }
        let seq = u32_at(regs, record::SEQ);
        if seq == 0 {
            return Ok(None);
        }
        let direction =
            Direction::from_register(regs[record::DIRECTION]).ok_or(DecodeError::BadValue {
                offset: record::DIRECTION,
            })?;
        let epc_words = regs[record::EPC_WORDS];
        if usize::from(epc_words) > TAG_EPC_MAX_WORDS {
            return Err(DecodeError::BadValue {
                offset: record::EPC_WORDS,
            });
        }
        let mut epc = [0u16; EPC_MAX_WORDS];
        epc.copy_from_slice(&regs[record::EPC..record::EPC + EPC_MAX_WORDS]);
        Ok(Some(Self {
            seq,
            timestamp_ms: u32_at(regs, record::TIMESTAMP_MS),
            gate: regs[record::GATE],
            direction,
            antenna: regs[record::ANTENNA],
            rssi_dbm: regs[record::RSSI_DBM] as i16,
            epc_words: epc_words as u8,
            epc,
        }))
    }
}

/// The event block header (input registers `EVENT_COUNT..EVENT_WINDOW`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventHeader {
    /// Events waiting.
    pub count: u16,
    /// Oldest waiting sequence number, 0 when none wait.
    pub oldest_seq: u32,
    /// Newest sequence number ever stored, 0 before the first.
    pub newest_seq: u32,
    /// Ring capacity in events.
    pub capacity: u16,
}

impl EventHeader {
    /// Decodes the header from registers starting at [`input::EVENT_COUNT`].
    pub fn from_registers(regs: &[u16]) -> Result<Self, DecodeError> {
        let base = usize::from(input::EVENT_COUNT);
        let len = usize::from(input::EVENT_WINDOW) - base;
        if regs.len() < len {
            return Err(DecodeError::TooShort);
        }
        let at = |addr: u16| usize::from(addr) - base;
        Ok(Self {
            count: regs[at(input::EVENT_COUNT)],
            oldest_seq: u32_at(regs, at(input::EVENT_OLDEST_SEQ)),
            newest_seq: u32_at(regs, at(input::EVENT_NEWEST_SEQ)),
            capacity: regs[at(input::EVENT_CAPACITY)],
        })
    }
}

/// The event block as one poll reads it: input registers
/// [`EventBlock::START`] .. `START + LEN`, the header and the window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventBlock {
    /// Count, oldest and newest sequence numbers, capacity.
    pub header: EventHeader,
    /// The window's slots, oldest event first; `None` past the last event.
    pub records: [Option<EventRecord>; EVENT_WINDOW_RECORDS as usize],
}

impl EventBlock {
    /// First register of the block.
    pub const START: u16 = input::EVENT_COUNT;
    /// Registers in the block (104): one function-04 read.
    pub const LEN: u16 = input::EVENT_WINDOW_END - input::EVENT_COUNT;

    /// Decodes a block read from [`Self::START`].
    pub fn from_registers(regs: &[u16]) -> Result<Self, DecodeError> {
        if regs.len() < usize::from(Self::LEN) {
            return Err(DecodeError::TooShort);
        }
        let header = EventHeader::from_registers(regs)?;
        let window = &regs[usize::from(input::EVENT_WINDOW - Self::START)..];
        let mut records = [None; EVENT_WINDOW_RECORDS as usize];
        for (slot, regs) in records
            .iter_mut()
            .zip(window.chunks(usize::from(EVENT_RECORD_REGS)))
        {
            *slot = EventRecord::from_registers(regs)?;
        }
        Ok(Self { header, records })
    }

    /// The waiting events in the window, oldest first.
    pub fn events(&self) -> impl Iterator<Item = &EventRecord> {
        self.records.iter().flatten()
    }

    /// What to write to [`holding::EVENT_ACK_SEQ`] (function 16, both
    /// registers) after storing every event up to `seq`.
    pub const fn ack_registers(seq: u32) -> [u16; 2] {
        u32_to_registers(seq)
    }
}

/// What a master reads on each drain poll: input registers
/// [`DrainBlock::START`] .. `START + LEN` (122, one function-04 read): the
/// loss counter, reader and scale state, the latest weight, the event block
/// and the boot id, all from the same instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DrainBlock {
    /// [`input::EVENTS_OVERFLOWED`]: events lost to a full ring since boot.
    pub events_overflowed: u32,
    /// Reader link state.
    pub reader_status: ReaderStatus,
    /// Scale state.
    pub scale_status: ScaleStatus,
    /// Latest weight in grams, if the scale holds a current reading.
    pub weight_grams: Option<i32>,
    /// Header and window.
    pub events: EventBlock,
    /// This boot's id, 0 until a master names it.
    pub boot_id: u32,
}

impl DrainBlock {
    /// First register of the block.
    pub const START: u16 = input::EVENTS_OVERFLOWED;
    /// Registers in the block.
    pub const LEN: u16 = input::LEN - input::EVENTS_OVERFLOWED;

    /// Decodes a block read from [`Self::START`].
    pub fn from_registers(regs: &[u16]) -> Result<Self, DecodeError> {
        if regs.len() < usize::from(Self::LEN) {
            return Err(DecodeError::TooShort);
        }
        let at = |addr: u16| usize::from(addr - Self::START);
        let bad = |addr: u16| DecodeError::BadValue { offset: at(addr) };
        let flags = regs[at(input::WEIGHT_FLAGS)];
        // A bad event field is reported as the event decoders do: by its
        // offset inside the record.
        let events = EventBlock::from_registers(&regs[at(EventBlock::START)..])?;
        Ok(Self {
            events_overflowed: u32_at(regs, at(input::EVENTS_OVERFLOWED)),
            reader_status: ReaderStatus::from_register(regs[at(input::READER_STATUS)])
                .ok_or(bad(input::READER_STATUS))?,
            scale_status: ScaleStatus::from_register(regs[at(input::SCALE_STATUS)])
                .ok_or(bad(input::SCALE_STATUS))?,
            weight_grams: (flags & weight_flags::VALID != 0)
                .then(|| u32_at(regs, at(input::WEIGHT_GRAMS)) as i32),
            events,
            boot_id: u32_at(regs, at(input::BOOT_ID)),
        })
    }

    /// What to write to [`holding::ACK_BOOT_ID`] (function 16, four
    /// registers) after storing every event of boot `boot_id` up to `seq`.
    pub const fn ack_registers(boot_id: u32, seq: u32) -> [u16; 4] {
        let [boot_high, boot_low] = u32_to_registers(boot_id);
        let [seq_high, seq_low] = u32_to_registers(seq);
        [boot_high, boot_low, seq_high, seq_low]
    }
}

// The drain block must fit one read (125 registers at most).
const _: () = assert!(DrainBlock::LEN <= 125);

/// The status block (input registers `0..EVENT_COUNT`), decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GatewayStatus {
    /// Map version the gateway serves.
    pub map_version: u16,
    /// Firmware version (major, minor, patch).
    pub firmware_version: (u16, u16, u16),
    /// Seconds since boot.
    pub uptime_s: u32,
    /// Counters in map order.
    pub counters: Counters,
    /// Reader link state.
    pub reader_status: ReaderStatus,
    /// Scale state.
    pub scale_status: ScaleStatus,
    /// Latest weight in grams.
    pub weight_grams: i32,
    /// Latest reading was stable.
    pub weight_stable: bool,
    /// `weight_grams` holds a current reading.
    pub weight_valid: bool,
    /// Readings since boot, wrapping.
    pub weight_readings: u16,
    /// Where the settings came from, whether the last change was saved.
    pub settings_state: SettingsState,
    /// Failed settings saves since boot, saturating.
    pub settings_saves_failed: u16,
}

/// The u32 counters of the status block.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// See [`input::FRAMES_OK`].
    pub frames_ok: u32,
    /// See [`input::FRAMES_CRC_ERROR`].
    pub frames_crc_error: u32,
    /// See [`input::FRAMES_MALFORMED`].
    pub frames_malformed: u32,
    /// See [`input::EXCEPTIONS_SENT`].
    pub exceptions_sent: u32,
    /// See [`input::READS_SEEN`].
    pub reads_seen: u32,
    /// See [`input::READS_DEDUPED`].
    pub reads_deduped: u32,
    /// See [`input::EVENTS_OVERFLOWED`].
    pub events_overflowed: u32,
    /// See [`input::READER_FRAME_ERRORS`].
    pub reader_frame_errors: u32,
    /// See [`input::SCALE_LINE_ERRORS`].
    pub scale_line_errors: u32,
}

impl GatewayStatus {
    /// Decodes registers `0..EVENT_COUNT`.
    pub fn from_registers(regs: &[u16]) -> Result<Self, DecodeError> {
        if regs.len() < usize::from(input::EVENT_COUNT) {
            return Err(DecodeError::TooShort);
        }
        let reg = |addr: u16| regs[usize::from(addr)];
        let long = |addr: u16| u32_at(regs, usize::from(addr));
        let flags = reg(input::WEIGHT_FLAGS);
        Ok(Self {
            map_version: reg(input::MAP_VERSION),
            firmware_version: (
                reg(input::FIRMWARE_VERSION_MAJOR),
                reg(input::FIRMWARE_VERSION_MINOR),
                reg(input::FIRMWARE_VERSION_PATCH),
            ),
            uptime_s: long(input::UPTIME_S),
            counters: Counters {
                frames_ok: long(input::FRAMES_OK),
                frames_crc_error: long(input::FRAMES_CRC_ERROR),
                frames_malformed: long(input::FRAMES_MALFORMED),
                exceptions_sent: long(input::EXCEPTIONS_SENT),
                reads_seen: long(input::READS_SEEN),
                reads_deduped: long(input::READS_DEDUPED),
                events_overflowed: long(input::EVENTS_OVERFLOWED),
                reader_frame_errors: long(input::READER_FRAME_ERRORS),
                scale_line_errors: long(input::SCALE_LINE_ERRORS),
            },
            reader_status: ReaderStatus::from_register(reg(input::READER_STATUS)).ok_or(
                DecodeError::BadValue {
                    offset: usize::from(input::READER_STATUS),
                },
            )?,
            scale_status: ScaleStatus::from_register(reg(input::SCALE_STATUS)).ok_or(
                DecodeError::BadValue {
                    offset: usize::from(input::SCALE_STATUS),
                },
            )?,
            weight_grams: long(input::WEIGHT_GRAMS) as i32,
            weight_stable: flags & weight_flags::STABLE != 0,
            weight_valid: flags & weight_flags::VALID != 0,
            weight_readings: reg(input::WEIGHT_READINGS),
            settings_state: SettingsState::from_register(reg(input::SETTINGS_STATE)).ok_or(
                DecodeError::BadValue {
                    offset: usize::from(input::SETTINGS_STATE),
                },
            )?,
            settings_saves_failed: reg(input::SETTINGS_SAVES_FAILED),
        })
    }
}

/// One row of the documented map: what `REGISTERS.md` lists.
#[derive(Clone, Copy, Debug)]
pub struct Field {
    /// First register.
    pub address: u16,
    /// Registers taken.
    pub regs: u16,
    /// Name, as the constant.
    pub name: &'static str,
    /// Encoding: `u16`, `u32`, `i32`, `enum`, `bits`, `records`.
    pub kind: &'static str,
    /// One-line meaning, with the unit.
    pub meaning: &'static str,
}

const fn field(
    address: u16,
    regs: u16,
    name: &'static str,
    kind: &'static str,
    meaning: &'static str,
) -> Field {
    Field {
        address,
        regs,
        name,
        kind,
        meaning,
    }
}

/// Every input register field, in address order; unlisted addresses below
/// [`input::LEN`] are reserved and read as 0.
pub const INPUT_FIELDS: &[Field] = &[
    field(
        input::MAP_VERSION,
        1,
        "MAP_VERSION",
        "u16",
        "register map version (3)",
    ),
    field(
        input::FIRMWARE_VERSION_MAJOR,
        1,
        "FIRMWARE_VERSION_MAJOR",
        "u16",
        "firmware version, major",
    ),
    field(
        input::FIRMWARE_VERSION_MINOR,
        1,
        "FIRMWARE_VERSION_MINOR",
        "u16",
        "firmware version, minor",
    ),
    field(
        input::FIRMWARE_VERSION_PATCH,
        1,
        "FIRMWARE_VERSION_PATCH",
        "u16",
        "firmware version, patch",
    ),
    field(input::UPTIME_S, 2, "UPTIME_S", "u32", "seconds since boot"),
    field(
        input::FRAMES_OK,
        2,
        "FRAMES_OK",
        "u32",
        "Modbus frames with good CRC for this unit or broadcast",
    ),
    field(
        input::FRAMES_CRC_ERROR,
        2,
        "FRAMES_CRC_ERROR",
        "u32",
        "Modbus frames dropped: bad CRC or under 4 bytes",
    ),
    field(
        input::FRAMES_MALFORMED,
        2,
        "FRAMES_MALFORMED",
        "u32",
        "Modbus frames dropped: good CRC, wrong length for the function, or over 256 bytes",
    ),
    field(
        input::EXCEPTIONS_SENT,
        2,
        "EXCEPTIONS_SENT",
        "u32",
        "exception replies sent",
    ),
    field(
        input::READS_SEEN,
        2,
        "READS_SEEN",
        "u32",
        "raw tag reads from the reader",
    ),
    field(
        input::READS_DEDUPED,
        2,
        "READS_DEDUPED",
        "u32",
        "raw tag reads folded into an open pass of the same EPC",
    ),
    field(
        input::EVENTS_OVERFLOWED,
        2,
        "EVENTS_OVERFLOWED",
        "u32",
        "gate events dropped because the ring was full (they get no seq)",
    ),
    field(
        input::READER_FRAME_ERRORS,
        2,
        "READER_FRAME_ERRORS",
        "u32",
        "reader frames dropped: bad CRC, garbage, error status",
    ),
    field(
        input::SCALE_LINE_ERRORS,
        2,
        "SCALE_LINE_ERRORS",
        "u32",
        "scale lines that did not parse",
    ),
    field(
        input::READER_STATUS,
        1,
        "READER_STATUS",
        "enum",
        "0 starting, 1 reading, 2 fault",
    ),
    field(
        input::SCALE_STATUS,
        1,
        "SCALE_STATUS",
        "enum",
        "0 unknown, 1 stable, 2 dynamic, 3 busy, 4 overload, 5 underload, 6 error, 7 timeout",
    ),
    field(
        input::WEIGHT_GRAMS,
        2,
        "WEIGHT_GRAMS",
        "i32",
        "latest weight, grams",
    ),
    field(
        input::WEIGHT_FLAGS,
        1,
        "WEIGHT_FLAGS",
        "bits",
        "bit 0 stable, bit 1 valid",
    ),
    field(
        input::WEIGHT_READINGS,
        1,
        "WEIGHT_READINGS",
        "u16",
        "weight readings since boot, wrapping",
    ),
    field(
        input::SETTINGS_STATE,
        1,
        "SETTINGS_STATE",
        "enum",
        "settings storage: 0 defaults (no valid record at boot), 1 loaded from flash, 2 last change saved, 3 last save failed",
    ),
    field(
        input::SETTINGS_SAVES_FAILED,
        1,
        "SETTINGS_SAVES_FAILED",
        "u16",
        "settings saves that failed since boot, saturating",
    ),
    field(
        input::EVENT_COUNT,
        1,
        "EVENT_COUNT",
        "u16",
        "events waiting for acknowledgement",
    ),
    field(
        input::EVENT_OLDEST_SEQ,
        2,
        "EVENT_OLDEST_SEQ",
        "u32",
        "seq of the oldest waiting event, 0 if none",
    ),
    field(
        input::EVENT_NEWEST_SEQ,
        2,
        "EVENT_NEWEST_SEQ",
        "u32",
        "seq of the newest event ever stored, 0 if none",
    ),
    field(
        input::EVENT_CAPACITY,
        1,
        "EVENT_CAPACITY",
        "u16",
        "ring capacity, events",
    ),
    field(
        input::EVENT_RECORD_REGS,
        1,
        "EVENT_RECORD_REGS",
        "u16",
        "registers per event record (24)",
    ),
    field(
        input::EVENT_WINDOW_RECORDS,
        1,
        "EVENT_WINDOW_RECORDS",
        "u16",
        "records in the window (4)",
    ),
    field(
        input::EVENT_WINDOW,
        EVENT_WINDOW_RECORDS * EVENT_RECORD_REGS,
        "EVENT_WINDOW",
        "records",
        "the oldest waiting events, oldest first; empty slots are 0",
    ),
    field(
        input::MODBUS_TURNAROUND_LAST_US,
        1,
        "MODBUS_TURNAROUND_LAST_US",
        "u16",
        "µs from the last byte of the latest answered request to its reply, gateway clock, saturating",
    ),
    field(
        input::MODBUS_TURNAROUND_MAX_US,
        1,
        "MODBUS_TURNAROUND_MAX_US",
        "u16",
        "the longest such turnaround since boot, µs, saturating",
    ),
    field(
        input::BOOT_ID,
        2,
        "BOOT_ID",
        "u32",
        "this boot's id as a master named it (holding `BOOT_ID`); 0 from every reset until named",
    ),
];

/// Every holding register field, in address order.
pub const HOLDING_FIELDS: &[Field] = &[
    field(
        holding::EVENT_ACK_SEQ,
        2,
        "EVENT_ACK_SEQ",
        "u32",
        "write the seq of the last event consumed; events up to it are freed",
    ),
    field(
        holding::DEDUP_WINDOW_MS,
        1,
        "DEDUP_WINDOW_MS",
        "u16",
        "gate dedup window, ms, 1..=60000, default 2000, persisted",
    ),
    field(
        holding::UNIT_ID,
        1,
        "UNIT_ID",
        "u16",
        "Modbus unit id, 1..=247, default 1, persisted",
    ),
    field(
        holding::SCALE_POLL_MS,
        1,
        "SCALE_POLL_MS",
        "u16",
        "scale polling period, ms, 50..=60000, default 200, persisted",
    ),
    field(
        holding::BOOT_ID,
        2,
        "BOOT_ID",
        "u32",
        "name this boot, once: a nonzero id, both words in one request; 0 after every reset, not persisted; 0 or a second name is refused (03)",
    ),
    field(
        holding::ACK_BOOT_ID,
        2,
        "ACK_BOOT_ID",
        "u32",
        "boot-checked acknowledgement, with `ACK_BOOT_SEQ` in one four-register request: the boot id the events came from",
    ),
    field(
        holding::ACK_BOOT_SEQ,
        2,
        "ACK_BOOT_SEQ",
        "u32",
        "the seq of the last event consumed; refused (03) unless `ACK_BOOT_ID` is this boot's `BOOT_ID`",
    ),
];

/// Fields of one event record, offsets relative to the record's start.
pub const RECORD_FIELDS: &[Field] = &[
    field(
        record::SEQ as u16,
        2,
        "SEQ",
        "u32",
        "sequence number from 1, gapless; 0 marks an empty slot",
    ),
    field(
        record::TIMESTAMP_MS as u16,
        2,
        "TIMESTAMP_MS",
        "u32",
        "gateway uptime at the pass's last read, ms",
    ),
    field(
        record::GATE as u16,
        1,
        "GATE",
        "u16",
        "gate (dock door) index on this gateway, from 0",
    ),
    field(
        record::DIRECTION as u16,
        1,
        "DIRECTION",
        "enum",
        "0 unknown, 1 in, 2 out",
    ),
    field(
        record::ANTENNA as u16,
        1,
        "ANTENNA",
        "u16",
        "antenna that heard the tag last (both at once: the stronger peak, inside if equal): the side it ended on, also for unknown passes",
    ),
    field(
        record::RSSI_DBM as u16,
        1,
        "RSSI_DBM",
        "i16",
        "strongest RSSI during the pass, dBm",
    ),
    field(
        record::EPC_WORDS as u16,
        1,
        "EPC_WORDS",
        "u16",
        "the tag's EPC length in 16-bit words, 0..=31; over 15 the EPC was longer than a record holds and only its first 15 words are here (not an item identity)",
    ),
    field(
        record::EPC as u16,
        EPC_MAX_WORDS as u16,
        "EPC",
        "u16[15]",
        "EPC, most significant word first; unused words 0",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    /// Fields must be sorted, must not overlap, and must end inside the map.
    fn check_layout(fields: &[Field], len: u16) {
        let mut next = 0u16;
        for f in fields {
            assert!(f.address >= next, "{} overlaps the field before it", f.name);
            next = f.address + f.regs;
        }
        assert_eq!(next, len, "the last field must end at LEN");
    }

    #[test]
    fn layouts_are_sorted_disjoint_and_complete() {
        check_layout(INPUT_FIELDS, input::LEN);
        check_layout(HOLDING_FIELDS, holding::LEN);
        check_layout(RECORD_FIELDS, EVENT_RECORD_REGS);
    }

    #[test]
    fn event_record_round_trips() {
        let mut epc = [0u16; EPC_MAX_WORDS];
        epc[..6].copy_from_slice(&[0x3074, 0x257B, 0xF719, 0x4E40, 0x0000, 0x1A85]);
        let event = EventRecord {
            seq: 0x0001_0002,
            timestamp_ms: 123_456_789,
            gate: 1,
            direction: Direction::Out,
            antenna: 2,
            rssi_dbm: -61,
            epc_words: 6,
            epc,
        };
        let regs = event.to_registers();
        assert_eq!(regs[record::SEQ], 1);
        assert_eq!(regs[record::SEQ + 1], 2);
        assert_eq!(EventRecord::from_registers(&regs), Ok(Some(event)));
        let (bytes, len) = event.epc_bytes();
        assert_eq!(
            &bytes[..len],
            &[0x30, 0x74, 0x25, 0x7B, 0xF7, 0x19, 0x4E, 0x40, 0, 0, 0x1A, 0x85]
        );
    }

    #[test]
    fn bad_records_are_refused() {
        let mut regs = [0u16; EVENT_RECORD_REGS as usize];
        assert_eq!(EventRecord::from_registers(&regs), Ok(None));
        regs[record::SEQ + 1] = 1;
        regs[record::DIRECTION] = 3;
        assert_eq!(
            EventRecord::from_registers(&regs),
            Err(DecodeError::BadValue {
                offset: record::DIRECTION
            })
        );
        regs[record::DIRECTION] = 1;
        regs[record::EPC_WORDS] = 20;
        let long = EventRecord::from_registers(&regs)
            .expect("a long EPC decodes")
            .expect("a record");
        assert!(long.is_truncated());
        assert_eq!(long.epc_bytes().1, 30, "only the words that are there");
        regs[record::EPC_WORDS] = 32;
        assert_eq!(
            EventRecord::from_registers(&regs),
            Err(DecodeError::BadValue {
                offset: record::EPC_WORDS
            })
        );
        assert_eq!(
            EventRecord::from_registers(&regs[..23]),
            Err(DecodeError::TooShort)
        );
    }

    #[test]
    fn event_block_decodes_header_and_window() {
        let mut regs = [0u16; EventBlock::LEN as usize];
        regs[0] = 2;
        regs[2] = 7; // oldest seq 7
        regs[4] = 8; // newest seq 8
        regs[5] = 256;
        let window = usize::from(input::EVENT_WINDOW - EventBlock::START);
        for (i, seq) in [7u16, 8].into_iter().enumerate() {
            let at = window + i * usize::from(EVENT_RECORD_REGS);
            regs[at + record::SEQ + 1] = seq;
            regs[at + record::DIRECTION] = Direction::Out.to_register();
        }
        let block = EventBlock::from_registers(&regs).expect("decodes");
        assert_eq!(
            (
                block.header.count,
                block.header.oldest_seq,
                block.header.newest_seq
            ),
            (2, 7, 8)
        );
        let seqs: Vec<u32> = block.events().map(|e| e.seq).collect();
        assert_eq!(seqs, [7, 8]);
        assert_eq!(EventBlock::ack_registers(0x0001_0008), [1, 8]);
        assert_eq!(
            EventBlock::from_registers(&regs[..103]),
            Err(DecodeError::TooShort)
        );
    }

    #[test]
    fn drain_block_decodes_loss_weight_events_and_boot() {
        let mut regs = [0u16; DrainBlock::LEN as usize];
        let at = |addr: u16| usize::from(addr - DrainBlock::START);
        regs[at(input::EVENTS_OVERFLOWED) + 1] = 3;
        regs[at(input::READER_STATUS)] = ReaderStatus::Reading.to_register();
        regs[at(input::SCALE_STATUS)] = ScaleStatus::Stable.to_register();
        regs[at(input::WEIGHT_GRAMS)..at(input::WEIGHT_GRAMS) + 2]
            .copy_from_slice(&u32_to_registers(12_345));
        regs[at(input::EVENT_COUNT)] = 1;
        regs[at(input::EVENT_WINDOW) + record::SEQ + 1] = 9;
        regs[at(input::EVENT_WINDOW) + record::DIRECTION] = Direction::In.to_register();
        regs[at(input::BOOT_ID)..at(input::BOOT_ID) + 2]
            .copy_from_slice(&u32_to_registers(0xDEAD_BEEF));
        let block = DrainBlock::from_registers(&regs).expect("decodes");
        assert_eq!(block.events_overflowed, 3);
        assert_eq!(block.weight_grams, None, "not valid without the flag");
        assert_eq!(block.boot_id, 0xDEAD_BEEF);
        assert_eq!(
            block.events.events().map(|e| e.seq).collect::<Vec<_>>(),
            [9]
        );
        regs[at(input::WEIGHT_FLAGS)] = weight_flags::VALID | weight_flags::STABLE;
        let block = DrainBlock::from_registers(&regs).expect("decodes");
        assert_eq!(block.weight_grams, Some(12_345));
        regs[at(input::EVENT_WINDOW) + record::DIRECTION] = 7;
        assert_eq!(
            DrainBlock::from_registers(&regs),
            Err(DecodeError::BadValue {
                offset: record::DIRECTION
            })
        );
        assert_eq!(
            DrainBlock::from_registers(&regs[..121]),
            Err(DecodeError::TooShort)
        );
        assert_eq!(
            DrainBlock::ack_registers(0x0001_0002, 0x0003_0004),
            [1, 2, 3, 4]
        );
    }

    #[test]
    fn status_decodes_signed_weight_and_flags() {
        let mut regs = [0u16; input::EVENT_COUNT as usize];
        regs[input::MAP_VERSION as usize] = MAP_VERSION;
        let w = u32_to_registers((-1500i32) as u32);
        regs[input::WEIGHT_GRAMS as usize] = w[0];
        regs[input::WEIGHT_GRAMS as usize + 1] = w[1];
        regs[input::WEIGHT_FLAGS as usize] = weight_flags::VALID;
        regs[input::SCALE_STATUS as usize] = ScaleStatus::Dynamic.to_register();
        regs[input::FRAMES_OK as usize + 1] = 7;
        regs[input::SETTINGS_STATE as usize] = SettingsState::SaveFailed.to_register();
        regs[input::SETTINGS_SAVES_FAILED as usize] = 4;
        let status = GatewayStatus::from_registers(&regs).expect("valid block");
        assert_eq!(status.map_version, 3);
        assert_eq!(status.settings_state, SettingsState::SaveFailed);
        assert_eq!(status.settings_saves_failed, 4);
        assert_eq!(status.weight_grams, -1500);
        assert!(status.weight_valid && !status.weight_stable);
        assert_eq!(status.scale_status, ScaleStatus::Dynamic);
        assert_eq!(status.counters.frames_ok, 7);
        regs[input::SETTINGS_STATE as usize] = 4;
        assert_eq!(
            GatewayStatus::from_registers(&regs),
            Err(DecodeError::BadValue {
                offset: usize::from(input::SETTINGS_STATE)
            })
        );
        regs[input::SETTINGS_STATE as usize] = 0;
        regs[input::READER_STATUS as usize] = 9;
        assert!(GatewayStatus::from_registers(&regs).is_err());
    }

    #[test]
    fn enums_round_trip() {
        for v in 0..10u16 {
            if let Some(d) = Direction::from_register(v) {
                assert_eq!(d.to_register(), v);
            }
            if let Some(s) = ScaleStatus::from_register(v) {
                assert_eq!(s.to_register(), v);
            }
            if let Some(r) = ReaderStatus::from_register(v) {
                assert_eq!(r.to_register(), v);
            }
            if let Some(s) = SettingsState::from_register(v) {
                assert_eq!(s.to_register(), v);
            }
        }
        assert_eq!(ScaleStatus::from_register(8), None);
        assert_eq!(SettingsState::from_register(4), None);
    }

    fn table(fields: &[Field]) -> String {
        let mut out =
            String::from("| address | regs | name | type | meaning |\n|---:|---:|---|---|---|\n");
        for f in fields {
            out.push_str(&format!(
                "| {} | {} | `{}` | {} | {} |\n",
                f.address, f.regs, f.name, f.kind, f.meaning
            ));
        }
        out
    }

    /// REGISTERS.md holds each table between `<!-- BEGIN name -->` and
    /// `<!-- END name -->`; they must equal what this crate defines. Run with
    /// `UPDATE_REGISTERS=1` to rewrite them after changing the map.
    #[test]
    fn registers_md_agrees_with_the_map() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../REGISTERS.md");
        let mut doc = std::fs::read_to_string(path).expect("REGISTERS.md at the repository root");
        let sections = [
            ("input", table(INPUT_FIELDS)),
            ("holding", table(HOLDING_FIELDS)),
            ("record", table(RECORD_FIELDS)),
        ];
        let update = std::env::var_os("UPDATE_REGISTERS").is_some();
        for (name, want) in sections {
            let begin = format!("<!-- BEGIN {name} -->\n");
            let end = format!("<!-- END {name} -->");
            let start = doc.find(&begin).expect("BEGIN marker") + begin.len();
            let stop = doc[start..].find(&end).expect("END marker") + start;
            if update {
                doc.replace_range(start..stop, &want);
            } else {
                assert_eq!(doc[start..stop], want, "REGISTERS.md table '{name}' is stale: run UPDATE_REGISTERS=1 cargo test -p gateway-registers");
            }
        }
        if update {
            std::fs::write(path, doc).expect("write REGISTERS.md");
        }
    }
}

/// Property tests: every decoder takes any registers without panicking,
/// and what encodes decodes back to itself.
#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    fn direction() -> impl Strategy<Value = Direction> {
        prop_oneof![
            Just(Direction::Unknown),
            Just(Direction::In),
            Just(Direction::Out)
        ]
    }

    prop_compose! {
        /// Any record a gateway can store: sequence numbers from 1, EPC
        /// lengths up to a Gen2 tag's 31 words.
        fn event_record()(
            seq in 1..=u32::MAX,
            timestamp_ms in any::<u32>(),
            gate in any::<u16>(),
            direction in direction(),
            antenna in any::<u16>(),
            rssi_dbm in any::<i16>(),
            epc_words in 0..=TAG_EPC_MAX_WORDS as u8,
            epc in any::<[u16; EPC_MAX_WORDS]>(),
        ) -> EventRecord {
            EventRecord { seq, timestamp_ms, gate, direction, antenna, rssi_dbm, epc_words, epc }
        }
    }

    /// Registers that are mostly valid: each value drawn near the ones the
    /// map defines, so decoders get past their first check.
    fn registers(len: std::ops::Range<usize>) -> impl Strategy<Value = Vec<u16>> {
        proptest::collection::vec(prop_oneof![3 => 0u16..40, 1 => any::<u16>()], len)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        #[test]
        fn event_record_decodes_what_it_encodes(record in event_record()) {
            prop_assert_eq!(EventRecord::from_registers(&record.to_registers()), Ok(Some(record)));
            let (bytes, len) = record.epc_bytes();
            prop_assert_eq!(len, usize::from(record.epc_words).min(EPC_MAX_WORDS) * 2);
            prop_assert_eq!(record.is_truncated(), usize::from(record.epc_words) > EPC_MAX_WORDS);
            for (pair, word) in bytes.chunks_exact(2).zip(record.epc) {
                prop_assert_eq!(u16::from_be_bytes([pair[0], pair[1]]), word);
            }
        }

        /// Any registers: no panic; a record that decodes encodes back to
        /// exactly the registers it came from.
        #[test]
        fn event_record_decoder_takes_any_registers(regs in registers(0..60)) {
            match EventRecord::from_registers(&regs) {
                Ok(Some(record)) => {
                    prop_assert_eq!(&record.to_registers()[..], &regs[..usize::from(EVENT_RECORD_REGS)]);
                    let _ = record.epc_bytes();
                }
                Ok(None) => prop_assert_eq!(u32_from_registers(regs[0], regs[1]), 0),
                Err(DecodeError::TooShort) => {
                    prop_assert!(regs.len() < usize::from(EVENT_RECORD_REGS));
                }
                Err(DecodeError::BadValue { offset }) => {
                    prop_assert!(offset == record::DIRECTION || offset == record::EPC_WORDS);
                }
            }
        }

        /// Any registers: the block, header and status decoders never panic,
        /// and refuse only what is too short or holds an undefined value.
        #[test]
        fn block_and_status_decoders_take_any_registers(regs in registers(0..130)) {
            match EventBlock::from_registers(&regs) {
                Ok(block) => {
                    prop_assert!(regs.len() >= usize::from(EventBlock::LEN));
                    prop_assert_eq!(Ok(block.header), EventHeader::from_registers(&regs));
                    prop_assert!(block.events().count() <= usize::from(EVENT_WINDOW_RECORDS));
                }
                Err(DecodeError::TooShort) => {
                    prop_assert!(regs.len() < usize::from(EventBlock::LEN));
                }
                Err(DecodeError::BadValue { .. }) => {}
            }
            let _ = EventHeader::from_registers(&regs);
            match GatewayStatus::from_registers(&regs) {
                Ok(status) => {
                    prop_assert_eq!(status.map_version, regs[usize::from(input::MAP_VERSION)]);
                    let weight = u32_from_registers(
                        regs[usize::from(input::WEIGHT_GRAMS)],
                        regs[usize::from(input::WEIGHT_GRAMS) + 1],
                    );
                    prop_assert_eq!(status.weight_grams, weight as i32);
                }
                Err(DecodeError::TooShort) => {
                    prop_assert!(regs.len() < usize::from(input::EVENT_COUNT));
                }
                Err(DecodeError::BadValue { offset }) => {
                    prop_assert!([
                        usize::from(input::READER_STATUS),
                        usize::from(input::SCALE_STATUS),
                        usize::from(input::SETTINGS_STATE),
                    ]
                    .contains(&offset));
                }
            }
        }

        /// Any registers: the drain block decoder never panics, and agrees
        /// with the event block decoder on the events.
        #[test]
        fn drain_block_decoder_takes_any_registers(regs in registers(0..130)) {
            match DrainBlock::from_registers(&regs) {
                Ok(block) => {
                    let events = &regs[usize::from(EventBlock::START - DrainBlock::START)..];
                    prop_assert_eq!(Ok(block.events), EventBlock::from_registers(events));
                }
                Err(DecodeError::TooShort) => {
                    prop_assert!(regs.len() < usize::from(DrainBlock::LEN));
                }
                Err(DecodeError::BadValue { .. }) => {}
            }
        }

        /// A block built from records decodes to those records.
        #[test]
        fn event_block_decodes_the_records_it_holds(
            records in proptest::collection::vec(event_record(), 0..=EVENT_WINDOW_RECORDS as usize),
            count in any::<u16>(),
            oldest in any::<u32>(),
            newest in any::<u32>(),
        ) {
            let mut regs = vec![0u16; usize::from(EventBlock::LEN)];
            regs[0] = count;
            regs[1..3].copy_from_slice(&u32_to_registers(oldest));
            regs[3..5].copy_from_slice(&u32_to_registers(newest));
            let window = usize::from(input::EVENT_WINDOW - EventBlock::START);
            for (i, record) in records.iter().enumerate() {
                let at = window + i * usize::from(EVENT_RECORD_REGS);
                regs[at..at + usize::from(EVENT_RECORD_REGS)].copy_from_slice(&record.to_registers());
            }
            let block = EventBlock::from_registers(&regs).expect("a valid block");
            prop_assert_eq!((block.header.count, block.header.oldest_seq, block.header.newest_seq),
                (count, oldest, newest));
            prop_assert!(block.events().copied().eq(records.iter().copied()));
        }

        #[test]
        fn u32_and_enums_round_trip(value in any::<u32>(), register in any::<u16>()) {
            let [high, low] = u32_to_registers(value);
            prop_assert_eq!(u32_from_registers(high, low), value);
            prop_assert_eq!(EventBlock::ack_registers(value), [high, low]);
            if let Some(d) = Direction::from_register(register) {
                prop_assert_eq!(d.to_register(), register);
            }
            if let Some(s) = ReaderStatus::from_register(register) {
                prop_assert_eq!(s.to_register(), register);
            }
            if let Some(s) = ScaleStatus::from_register(register) {
                prop_assert_eq!(s.to_register(), register);
            }
            if let Some(s) = SettingsState::from_register(register) {
                prop_assert_eq!(s.to_register(), register);
            }
        }
    }
}
