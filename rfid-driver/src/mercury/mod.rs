//! The serial protocol of ThingMagic Mercury-class reader modules (M6e, M6e
//! Nano): frame codec, streaming decoder, the commands the gateway sends and the
//! tag-read notifications it receives. [`session`] drives a module with them.
//!
//! # Frames
//! ```text
//! host → module:  FF  LEN  OPCODE            DATA[LEN]  CRC_HI CRC_LO
//! module → host:  FF  LEN  OPCODE  STATUS(2) DATA[LEN]  CRC_HI CRC_LO
//! ```
//! `LEN` counts `DATA` only. The CRC covers `LEN` through the last data byte
//! and is sent big-endian. It is the CRC of the Mercury API (`serial_reader_l3.c`,
//! "ThingMagic-mutated CRC"): polynomial 0x1021, register preset 0xFFFF, the
//! message shifted through the register without the 16 trailing zero bits of
//! the textbook (augmented) form — so it is *not* CRC-16/CCITT-FALSE: the
//! version command is `FF 00 03 1D 0C`, where CCITT-FALSE would give `2D 6C`.
//! A peer that computes CCITT-FALSE will see every frame as a CRC error.
//!
//! # Opcodes used
//! From the Mercury API C source (`serial_reader_imp.h`, `serial_reader_l3.c`)
//! and SparkFun's Simultaneous RFID library (which logged the Universal Reader
//! Assistant's continuous-read command):
//!
//! | opcode | name | data sent |
//! |---|---|---|
//! | `0x03` | version | — |
//! | `0x04` | boot firmware (leave the bootloader) | — |
//! | `0x06` | set baud rate, bits/s big-endian (answered at the old rate; 115200 after power-up) | `b3 b2 b1 b0` |
//! | `0x0C` | get current program (`& 3 == 1`: bootloader) | — |
//! | `0x22` | read tag ID multiple — arrives as the tag-read notification | — |
//! | `0x2F` | multi-protocol tag op: start / stop continuous reading | see [`Command::StartReading`] |
//! | `0x91` | set antenna port (logical antenna list, option `0x02`) | `02 tx rx …` |
//! | `0x92` | set read TX power, centi-dBm, big-endian | `hi lo` |
//! | `0x93` | set tag protocol (Gen2 = `0x0005`) | `00 05` |
//! | `0x97` | set region (EU3 = `0x08`, NA2 = `0x0D`, …) | `code` |
//! | `0x9A` | set reader configuration, key/value (`0x0C` read filter) | `01 key value` |
//!
//! Status words: `0x0000` success; `0x0400` "no tags found", which the module
//! sends as a keep-alive about once a second while reading continuously;
//! `0x0504` temperature throttling. Tag-read notification (opcode `0x22`,
//! status 0): option byte, search flags (2), metadata flags (2), tag count,
//! then per tag the metadata fields in flag order — read count (1), RSSI dBm
//! (1, signed), antenna (1, TX in the high nibble, RX in the low), frequency
//! kHz (3), timestamp ms (4), phase (2), protocol (1), embedded data (bit
//! length (2) + data), GPIO (1), Gen2 Q, LF, target (1 each) — then the tag's
//! bit length (2, covering PC, EPC and the tag CRC), PC word, EPC, tag CRC.

pub mod session;

use core::fmt;
use core::ops::Range;

use crc::{Crc, Table, CRC_16_IBM_3740};

use crate::text::EpcBytes;

/// The start-of-frame byte.
pub const SOH: u8 = 0xFF;
/// The longest data field (`LEN` is one byte).
pub const MAX_DATA: usize = 255;
/// The longest frame on the wire: a response with 255 data bytes.
pub const MAX_FRAME: usize = MAX_DATA + 7;

/// Opcodes this crate sends or understands (see the module docs for sources).
pub mod opcode {
    pub const VERSION: u8 = 0x03;
    pub const BOOT_FIRMWARE: u8 = 0x04;
    pub const SET_BAUD_RATE: u8 = 0x06;
    pub const GET_CURRENT_PROGRAM: u8 = 0x0C;
    pub const READ_TAG_ID_MULTIPLE: u8 = 0x22;
    pub const MULTI_PROTOCOL_TAG_OP: u8 = 0x2F;
    pub const SET_ANTENNA_PORT: u8 = 0x91;
    pub const SET_READ_TX_POWER: u8 = 0x92;
    pub const SET_TAG_PROTOCOL: u8 = 0x93;
    pub const SET_REGION: u8 = 0x97;
    pub const SET_READER_OPTIONAL_PARAMS: u8 = 0x9A;
}

/// Status words this crate interprets.
pub mod status {
    pub const SUCCESS: u16 = 0x0000;
    /// "No tags found": the keep-alive of continuous reading.
    pub const NO_TAGS_FOUND: u16 = 0x0400;
    /// The module throttles its duty cycle because it is hot.
    pub const TEMPERATURE_THROTTLE: u16 = 0x0504;
}

/// The MSB-first table of the polynomial 0x1021 (entry `i` is `i·x¹⁶ mod P`),
/// taken from the `crc` crate's CRC-16/IBM-3740 (CCITT-FALSE), which shares
/// polynomial and bit order; 512 B, built at compile time.
static POLY_1021: Crc<u16, Table<1>> = Crc::<u16, Table<1>>::new(&CRC_16_IBM_3740);

/// The Mercury frame CRC over `bytes` (see the module docs for how it differs
/// from CRC-16/CCITT-FALSE). Byte at a time: each byte shifts into the low
/// end of the register while the byte leaving the top is reduced through
/// the table — the textbook bitwise loop without augmentation, 8 bits at once
/// (8 Thumb instructions a byte instead of ~110).
pub fn crc16(bytes: &[u8]) -> u16 {
    let [table] = POLY_1021.table();
    bytes.iter().fold(0xFFFF, |crc, &byte| {
        ((crc << 8) | u16::from(byte)) ^ table[usize::from(crc >> 8)]
    })
}

/// Which way a frame travels; responses carry a status word, commands do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Host → module: a command.
    ToModule,
    /// Module → host: a response or notification.
    FromModule,
}

impl Direction {
    /// Bytes around the data: SOH, LEN, OPCODE, [STATUS], CRC.
    const fn overhead(self) -> usize {
        match self {
            Direction::ToModule => 5,
            Direction::FromModule => 7,
        }
    }
}

/// Byte ranges of a frame (smoltcp style).
mod field {
    use core::ops::Range;
    pub const SOH: usize = 0;
    pub const LEN: usize = 1;
    pub const OPCODE: usize = 2;
    pub const STATUS: Range<usize> = 3..5;
}

/// Why a frame was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// Fewer bytes than the header's length promises.
    Truncated,
    /// The first byte is not 0xFF.
    NoStart,
    /// The CRC does not match.
    Crc { expected: u16, found: u16 },
    /// More data than one frame can carry, or an output buffer too small.
    TooLong,
}

impl core::error::Error for FrameError {}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::Truncated => f.write_str("frame is truncated"),
            FrameError::NoStart => f.write_str("frame does not start with 0xFF"),
            FrameError::Crc { expected, found } => {
                write!(f, "frame CRC is {found:04X}, expected {expected:04X}")
            }
            FrameError::TooLong => f.write_str("frame is too long"),
        }
    }
}

/// A checked view of one frame over a byte buffer.
#[derive(Debug, Clone, Copy)]
pub struct Frame<T: AsRef<[u8]>> {
    buffer: T,
    direction: Direction,
}

impl<T: AsRef<[u8]>> Frame<T> {
    /// Wraps `buffer` without checks; accessors may then see short data but never panic.
    pub fn new_unchecked(buffer: T, direction: Direction) -> Self {
        Self { buffer, direction }
    }

    /// Wraps `buffer` after checking start byte, length and CRC. Bytes after
    /// the frame's end are ignored.
    pub fn new_checked(buffer: T, direction: Direction) -> Result<Self, FrameError> {
        let frame = Self::new_unchecked(buffer, direction);
        frame.check()?;
        Ok(frame)
    }

    fn check(&self) -> Result<(), FrameError> {
        let b = self.buffer.as_ref();
        match b.first() {
            None => return Err(FrameError::Truncated),
            Some(&SOH) => {}
            Some(_) => return Err(FrameError::NoStart),
        }
        let total = self.total_len().ok_or(FrameError::Truncated)?;
        if b.len() < total {
            return Err(FrameError::Truncated);
        }
        let expected = crc16(&b[field::LEN..total - 2]);
        let found = u16::from_be_bytes([b[total - 2], b[total - 1]]);
        if expected != found {
            return Err(FrameError::Crc { expected, found });
        }
        Ok(())
    }

    /// The whole frame's length from its header, if the header is there.
    pub fn total_len(&self) -> Option<usize> {
        let len = *self.buffer.as_ref().get(field::LEN)?;
        Some(usize::from(len) + self.direction.overhead())
    }

    fn data_range(&self) -> Range<usize> {
        let start = match self.direction {
            Direction::ToModule => field::OPCODE + 1,
            Direction::FromModule => field::STATUS.end,
        };
        let len = self.buffer.as_ref().get(field::LEN).copied().unwrap_or(0);
        start..start + usize::from(len)
    }

    /// The opcode (0 if missing).
    pub fn opcode(&self) -> u8 {
        self.buffer
            .as_ref()
            .get(field::OPCODE)
            .copied()
            .unwrap_or(0)
    }

    /// The status word of a response; `None` for a command or a short buffer.
    pub fn status(&self) -> Option<u16> {
        if self.direction == Direction::ToModule {
            return None;
        }
        let s = self.buffer.as_ref().get(field::STATUS)?;
        Some(u16::from_be_bytes([s[0], s[1]]))
    }

    /// The data bytes (empty if the buffer is short).
    pub fn data(&self) -> &[u8] {
        self.buffer.as_ref().get(self.data_range()).unwrap_or(&[])
    }

    /// The raw frame bytes.
    pub fn as_bytes(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        let end = self.total_len().unwrap_or(0).min(b.len());
        &b[..end]
    }
}

/// Writes one frame into `out`; returns its length. `status` is `Some` for a
/// module → host frame (a simulator or test double), `None` for a command.
pub fn emit(
    opcode: u8,
    status: Option<u16>,
    data: &[u8],
    out: &mut [u8],
) -> Result<usize, FrameError> {
    if data.len() > MAX_DATA {
        return Err(FrameError::TooLong);
    }
    let head = if status.is_some() { 5 } else { 3 };
    let total = head + data.len() + 2;
    let out = out.get_mut(..total).ok_or(FrameError::TooLong)?;
    out[field::SOH] = SOH;
    // Checked ≤ 255 above.
    out[field::LEN] = data.len() as u8;
    out[field::OPCODE] = opcode;
    if let Some(s) = status {
        out[field::STATUS].copy_from_slice(&s.to_be_bytes());
    }
    out[head..head + data.len()].copy_from_slice(data);
    let crc = crc16(&out[field::LEN..head + data.len()]);
    out[total - 2..].copy_from_slice(&crc.to_be_bytes());
    Ok(total)
}

/// Streaming frame decoder: [`FrameDecoder::push`] bytes as they arrive,
/// then [`FrameDecoder::poll`] whole frames out. Bytes before a start byte are
/// counted as garbage and dropped; after a CRC error the decoder resyncs at the
/// next 0xFF after the bad frame's start, so a frame hidden in garbage is still
/// found. An incomplete frame is simply kept until more bytes come.
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    buf: [u8; Self::CAPACITY],
    len: usize,
    /// Bytes of the frame handed out by the last `poll`, dropped on the next.
    consumed: usize,
    direction: Direction,
    garbage_bytes: u32,
    crc_errors: u32,
}

impl FrameDecoder {
    /// Buffer size: two of the longest frames, so resyncing never loses one.
    pub const CAPACITY: usize = 2 * MAX_FRAME;

    /// A decoder for frames travelling in `direction`.
    pub fn new(direction: Direction) -> Self {
        Self {
            buf: [0; Self::CAPACITY],
            len: 0,
            consumed: 0,
            direction,
            garbage_bytes: 0,
            crc_errors: 0,
        }
    }

    /// Takes as many of `bytes` as fit and returns how many; give the rest
    /// after draining [`FrameDecoder::poll`].
    pub fn push(&mut self, bytes: &[u8]) -> usize {
        // The frame last returned by `poll` stays readable until the next `poll`.
        let n = bytes.len().min(Self::CAPACITY - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&bytes[..n]);
        self.len += n;
        n
    }

    fn discard_consumed(&mut self) {
        if self.consumed > 0 {
            self.drop_front(self.consumed);
            self.consumed = 0;
        }
    }

    fn drop_front(&mut self, n: usize) {
        let n = n.min(self.len);
        self.buf.copy_within(n..self.len, 0);
        self.len -= n;
    }

    /// The next whole frame, a CRC error (the decoder has already resynced), or
    /// `None` when the buffered bytes do not hold a whole frame yet.
    pub fn poll(&mut self) -> Option<Result<Frame<&[u8]>, FrameError>> {
        self.discard_consumed();
        let Some(start) = self.buf[..self.len].iter().position(|&b| b == SOH) else {
            self.garbage_bytes = self.garbage_bytes.saturating_add(self.len as u32);
            self.len = 0;
            return None;
        };
        if start > 0 {
            self.garbage_bytes = self.garbage_bytes.saturating_add(start as u32);
            self.drop_front(start);
        }
        let frame = Frame::new_unchecked(&self.buf[..self.len], self.direction);
        let total = frame.total_len()?;
        if self.len < total {
            return None;
        }
        match frame.check() {
            Ok(()) => {
                self.consumed = total;
                Some(Ok(Frame::new_unchecked(&self.buf[..total], self.direction)))
            }
            Err(e) => {
                self.crc_errors = self.crc_errors.saturating_add(1);
                // Resync after this start byte; the byte itself was garbage.
                self.garbage_bytes = self.garbage_bytes.saturating_add(1);
                self.drop_front(1);
                Some(Err(e))
            }
        }
    }

    /// The frame the last [`FrameDecoder::poll`] returned, until the next
    /// `poll` or `push`.
    pub fn current(&self) -> Option<Frame<&[u8]>> {
        (self.consumed > 0)
            .then(|| Frame::new_unchecked(&self.buf[..self.consumed], self.direction))
    }

    /// Whether bytes of an unfinished frame are buffered.
    pub fn has_partial(&self) -> bool {
        self.len > self.consumed
    }

    /// The line has been quiet with an unfinished frame buffered, so that
    /// frame's start byte was noise (a module sends each frame in one go):
    /// drop it and look for the next start in what is buffered. Call after the
    /// line was idle for longer than the module's inter-byte gap; then
    /// [`FrameDecoder::poll`] again.
    pub fn line_idle(&mut self) {
        self.discard_consumed();
        while self.len > 0 {
            let start = self.buf[..self.len]
                .iter()
                .position(|&b| b == SOH)
                .unwrap_or(self.len);
            if start == 0 {
                let head = Frame::new_unchecked(&self.buf[..self.len], self.direction);
                if head.total_len().is_some_and(|t| t <= self.len) {
                    // A whole frame (valid or not) is buffered: `poll` decides.
                    return;
                }
            }
            let next = self.buf[1..self.len]
                .iter()
                .position(|&b| b == SOH)
                .map_or(self.len, |p| p + 1);
            let drop = if start == 0 { next } else { start };
            self.garbage_bytes = self.garbage_bytes.saturating_add(drop as u32);
            self.drop_front(drop);
        }
    }

    /// Bytes dropped because they were not part of any valid frame.
    pub fn garbage_bytes(&self) -> u32 {
        self.garbage_bytes
    }

    /// Frames whose CRC did not match.
    pub fn crc_errors(&self) -> u32 {
        self.crc_errors
    }

    /// Drops everything buffered (e.g. after the module was reset).
    pub fn clear(&mut self) {
        self.len = 0;
        self.consumed = 0;
    }
}

/// Regions of `SET_REGION` (codes from the Mercury API's `TMR_Region`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Region {
    /// North America (NA2), 902–928 MHz.
    NorthAmerica,
    /// Europe (EU3), 865.6–867.6 MHz — the default for German depots.
    Europe,
    India,
    Japan,
    China,
    Korea,
    Australia,
    NewZealand,
    /// Unrestricted (lab use only).
    Open,
}

impl Region {
    /// The one-byte region code.
    pub fn code(self) -> u8 {
        match self {
            Region::India => 0x04,
            Region::Japan => 0x05,
            Region::China => 0x06,
            Region::Europe => 0x08,
            Region::Korea => 0x09,
            Region::Australia => 0x0B,
            Region::NewZealand => 0x0C,
            Region::NorthAmerica => 0x0D,
            Region::Open => 0xFF,
        }
    }
}

/// Metadata the gateway asks for with each read: read count, RSSI, antenna,
/// frequency, timestamp, phase, protocol, embedded data and GPIO (0x01FF, the
/// set the Universal Reader Assistant requests).
pub const METADATA_FLAGS: u16 = 0x01FF;

/// A module's serial line rate after power-up or reset (8N1).
pub const MODULE_DEFAULT_BAUD: u32 = 115_200;

/// The commands the gateway sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command<'a> {
    Version,
    GetCurrentProgram,
    BootFirmware,
    /// Switch the module's serial line to this rate (9600 to 921600); the
    /// module answers at the old rate, then listens at the new one.
    SetBaudRate(u32),
    SetRegion(Region),
    /// Gen2.
    SetTagProtocolGen2,
    /// Read TX power in centi-dBm (2700 = 27.00 dBm).
    SetReadTxPower {
        centi_dbm: u16,
    },
    /// Logical antenna list: each port transmits and receives on itself.
    SetAntennas(&'a [u8]),
    /// Reader configuration key 0x0C (unique-by-EPC read filter): off, so the
    /// module reports every read and the gate does the deduplication.
    DisableReadFilter,
    /// Continuous Gen2 inventory with [`METADATA_FLAGS`].
    StartReading,
    StopReading,
}

impl Command<'_> {
    /// The opcode this command is sent with (and answered with).
    pub fn opcode(&self) -> u8 {
        match self {
            Command::Version => opcode::VERSION,
            Command::GetCurrentProgram => opcode::GET_CURRENT_PROGRAM,
            Command::BootFirmware => opcode::BOOT_FIRMWARE,
            Command::SetBaudRate(_) => opcode::SET_BAUD_RATE,
            Command::SetRegion(_) => opcode::SET_REGION,
            Command::SetTagProtocolGen2 => opcode::SET_TAG_PROTOCOL,
            Command::SetReadTxPower { .. } => opcode::SET_READ_TX_POWER,
            Command::SetAntennas(_) => opcode::SET_ANTENNA_PORT,
            Command::DisableReadFilter => opcode::SET_READER_OPTIONAL_PARAMS,
            Command::StartReading | Command::StopReading => opcode::MULTI_PROTOCOL_TAG_OP,
        }
    }

    /// Writes the command frame into `out`; returns its length.
    pub fn emit(&self, out: &mut [u8]) -> Result<usize, FrameError> {
        let mut data = [0u8; 16];
        let n = match *self {
            Command::Version | Command::GetCurrentProgram | Command::BootFirmware => 0,
            Command::SetBaudRate(baud) => {
                data[..4].copy_from_slice(&baud.to_be_bytes());
                4
            }
            Command::SetRegion(region) => {
                data[0] = region.code();
                1
            }
            Command::SetTagProtocolGen2 => {
                data[..2].copy_from_slice(&[0x00, 0x05]);
                2
            }
            Command::SetReadTxPower { centi_dbm } => {
                data[..2].copy_from_slice(&centi_dbm.to_be_bytes());
                2
            }
            Command::SetAntennas(ports) => {
                if ports.len() > 7 {
                    return Err(FrameError::TooLong);
                }
                data[0] = 0x02;
                for (i, &p) in ports.iter().enumerate() {
                    data[1 + 2 * i] = p;
                    data[2 + 2 * i] = p;
                }
                1 + 2 * ports.len()
            }
            Command::DisableReadFilter => {
                data[..3].copy_from_slice(&[0x01, 0x0C, 0x00]);
                3
            }
            Command::StartReading => {
                let [m_hi, m_lo] = METADATA_FLAGS.to_be_bytes();
                data = [
                    0x00,
                    0x00,                         // timeout: none, read until stopped
                    0x01,                         // option: continuous reading
                    opcode::READ_TAG_ID_MULTIPLE, // embedded command
                    0x00,
                    0x00, // search flags
                    0x05, // protocol: Gen2
                    0x07, // embedded command length
                    opcode::READ_TAG_ID_MULTIPLE,
                    0x10, // option: report metadata
                    0x00,
                    0x1B, // search flags as the Universal Reader Assistant sends them
                    0x03,
                    0xE8, // search cycle 1000 ms
                    m_hi,
                    m_lo,
                ];
                16
            }
            Command::StopReading => {
                data[..3].copy_from_slice(&[0x00, 0x00, 0x02]);
                3
            }
        };
        emit(self.opcode(), None, &data[..n], out)
    }
}

/// One tag read as the module reported it. Metadata the module did not send
/// is 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TagRead {
    /// Receiving antenna port (low nibble of the antenna byte).
    pub antenna: u8,
    /// Received signal strength, dBm.
    pub rssi_dbm: i8,
    /// Carrier frequency, kHz.
    pub frequency_khz: u32,
    /// The module's timestamp, ms (relative to its last keep-alive).
    pub module_timestamp_ms: u32,
    /// Backscatter phase, degrees (0–180).
    pub phase_deg: u16,
    /// How often the module saw the tag in this report.
    pub read_count: u8,
    /// The Gen2 PC word (EPC length in its top 5 bits).
    pub pc: u16,
    /// The EPC as read.
    pub epc: EpcBytes,
}

/// Why a notification's payload could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotificationError {
    /// The data ended inside a record.
    Truncated,
    /// The tag's bit length is not whole bytes, or too short for PC and CRC,
    /// or the EPC is longer than 62 bytes.
    BadEpcLength(u16),
}

impl core::error::Error for NotificationError {}

impl fmt::Display for NotificationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotificationError::Truncated => f.write_str("tag-read notification is truncated"),
            NotificationError::BadEpcLength(bits) => {
                write!(f, "tag-read notification has an EPC of {bits} bits")
            }
        }
    }
}

/// Iterator over the tag records of a `0x22` notification's data.
#[derive(Debug, Clone)]
pub struct TagReads<'a> {
    data: &'a [u8],
    pos: usize,
    remaining: u8,
    metadata: u16,
}

/// Reads the header of a tag-read notification (`0x22`, status 0).
pub fn tag_reads(data: &[u8]) -> Result<TagReads<'_>, NotificationError> {
    // option (1), search flags (2), metadata flags (2), tag count (1)
    let header = data.get(..6).ok_or(NotificationError::Truncated)?;
    Ok(TagReads {
        data,
        pos: 6,
        remaining: header[5],
        metadata: u16::from_be_bytes([header[3], header[4]]),
    })
}

/// Where a [`TagReads`] iteration stands, to resume it over the same data later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TagReadsCursor {
    pos: usize,
    remaining: u8,
    metadata: u16,
}

impl<'a> TagReads<'a> {
    /// Where this iteration stands.
    pub fn cursor(&self) -> TagReadsCursor {
        TagReadsCursor {
            pos: self.pos,
            remaining: self.remaining,
            metadata: self.metadata,
        }
    }

    /// Resumes an iteration over the same `data` it was started on.
    pub fn resume(data: &'a [u8], cursor: TagReadsCursor) -> Self {
        Self {
            data,
            pos: cursor.pos,
            remaining: cursor.remaining,
            metadata: cursor.metadata,
        }
    }
}

impl TagReads<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], NotificationError> {
        let s = self
            .data
            .get(self.pos..self.pos + n)
            .ok_or(NotificationError::Truncated)?;
        self.pos += n;
        Ok(s)
    }

    fn uint(&mut self, n: usize) -> Result<u32, NotificationError> {
        Ok(self
            .take(n)?
            .iter()
            .fold(0u32, |v, &b| (v << 8) | u32::from(b)))
    }

    fn record(&mut self) -> Result<TagRead, NotificationError> {
        let m = self.metadata;
        let has = |flag: u16| m & flag != 0;
        let mut read = TagRead {
            antenna: 0,
            rssi_dbm: 0,
            frequency_khz: 0,
            module_timestamp_ms: 0,
            phase_deg: 0,
            read_count: 0,
            pc: 0,
            epc: EpcBytes::default(),
        };
        // Field widths per the Mercury API's metadata parser; each `uint(n)`
        // fits its target type.
        if has(0x0001) {
            read.read_count = self.uint(1)? as u8;
        }
        if has(0x0002) {
            read.rssi_dbm = self.uint(1)? as u8 as i8;
        }
        if has(0x0004) {
            read.antenna = (self.uint(1)? & 0x0F) as u8;
        }
        if has(0x0008) {
            read.frequency_khz = self.uint(3)?;
        }
        if has(0x0010) {
            read.module_timestamp_ms = self.uint(4)?;
        }
        if has(0x0020) {
            read.phase_deg = self.uint(2)? as u16;
        }
        if has(0x0040) {
            self.take(1)?;
        }
        if has(0x0080) {
            let bits = self.uint(2)? as usize;
            self.take(bits.div_ceil(8))?;
        }
        // GPIO status, Gen2 Q, LF, target: one byte each.
        for flag in [0x0100, 0x0200, 0x0400, 0x0800] {
            if has(flag) {
                self.take(1)?;
            }
        }
        let bits = self.uint(2)? as u16;
        if bits % 8 != 0 || bits < 32 {
            return Err(NotificationError::BadEpcLength(bits));
        }
        let bytes = self.take(usize::from(bits / 8))?;
        read.pc = u16::from_be_bytes([bytes[0], bytes[1]]);
        // An XPC_W1 word follows the PC when its bit 0x0200 is set.
        let epc_start = if read.pc & 0x0200 != 0 { 4 } else { 2 };
        let epc = bytes
            .get(epc_start..bytes.len() - 2)
            .ok_or(NotificationError::BadEpcLength(bits))?;
        read.epc = EpcBytes::new(epc).ok_or(NotificationError::BadEpcLength(bits))?;
        Ok(read)
    }
}

impl Iterator for TagReads<'_> {
    type Item = Result<TagRead, NotificationError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let r = self.record();
        if r.is_err() {
            // A broken record ends the notification: later offsets are unknown.
            self.remaining = 0;
        }
        Some(r)
    }
}

/// Writes the data of a tag-read notification carrying `read`, with the
/// metadata of [`METADATA_FLAGS`]; for simulators, test doubles and benches.
pub fn emit_tag_read(read: &TagRead, out: &mut [u8]) -> Result<usize, FrameError> {
    let mut data = [0u8; MAX_DATA];
    let epc = read.epc.as_bytes();
    let mut n = 0;
    let mut put = |bytes: &[u8]| -> Result<(), FrameError> {
        let dst = data
            .get_mut(n..n + bytes.len())
            .ok_or(FrameError::TooLong)?;
        dst.copy_from_slice(bytes);
        n += bytes.len();
        Ok(())
    };
    put(&[0x10, 0x00, 0x1B])?;
    put(&METADATA_FLAGS.to_be_bytes())?;
    put(&[
        1,
        read.read_count,
        read.rssi_dbm as u8,
        (read.antenna << 4) | (read.antenna & 0x0F),
    ])?;
    put(&read.frequency_khz.to_be_bytes()[1..])?;
    put(&read.module_timestamp_ms.to_be_bytes())?;
    put(&read.phase_deg.to_be_bytes())?;
    put(&[0x05, 0x00, 0x00, 0x00])?; // protocol Gen2, no embedded data, GPIO 0
                                     // PC + EPC + tag CRC, in bits; the EPC is at most 62 bytes.
    let bits = ((epc.len() + 4) * 8) as u16;
    put(&bits.to_be_bytes())?;
    put(&read.pc.to_be_bytes())?;
    put(epc)?;
    put(&crc16(epc).to_be_bytes())?;
    emit(
        opcode::READ_TAG_ID_MULTIPLE,
        Some(status::SUCCESS),
        &data[..n],
        out,
    )
}

#[cfg(test)]
mod tests;
