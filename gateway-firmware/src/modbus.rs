//! The Modbus RTU slave: one whole frame in, at most one reply out.
//!
//! Owns the request rules of `REGISTERS.md` (functions 03, 04, 06, 16;
//! exceptions 01/02/03; silence for bad CRC, truncated frames and other
//! units; broadcast writes applied, not answered) and the frame counters.
//! It follows parse → process → finalize, and must not touch time, UARTs or
//! the framer: [`crate::rtu`] decides where a frame ends.

use heapless::Vec;

use crate::bank::{AccessError, RegisterBank};
use crate::crc::crc16;
use crate::rtu::{Received, RtuFramer, MAX_FRAME_LEN};

/// The broadcast unit id.
pub const BROADCAST: u8 = 0;
/// Most registers one read may ask for.
pub const MAX_READ_REGS: u16 = 125;
/// Most registers one function-16 write may carry.
pub const MAX_WRITE_REGS: u16 = 123;

/// Function codes the slave serves.
pub mod function {
    /// Read holding registers.
    pub const READ_HOLDING: u8 = 0x03;
    /// Read input registers.
    pub const READ_INPUT: u8 = 0x04;
    /// Write one holding register.
    pub const WRITE_SINGLE: u8 = 0x06;
    /// Write several holding registers.
    pub const WRITE_MULTIPLE: u8 = 0x10;
}

/// Modbus exception codes the slave sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exception {
    /// 01: function not supported.
    IllegalFunction = 1,
    /// 02: address outside the map.
    IllegalDataAddress = 2,
    /// 03: bad count, byte count or value.
    IllegalDataValue = 3,
}

impl From<AccessError> for Exception {
    fn from(e: AccessError) -> Self {
        match e {
            AccessError::IllegalAddress => Self::IllegalDataAddress,
            AccessError::IllegalValue => Self::IllegalDataValue,
        }
    }
}

/// What to do after a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply {
    /// Send the bytes now in `out` (a whole frame, CRC included).
    Send,
    /// Send nothing.
    Silent,
}

/// A request the slave understood well enough to act on.
enum Request<'a> {
    Read {
        function: u8,
        start: u16,
        count: u16,
    },
    WriteSingle {
        addr: u16,
        value: u16,
    },
    WriteMultiple {
        start: u16,
        count: u16,
        data: &'a [u8],
    },
    Unsupported {
        function: u8,
    },
}

fn be16(bytes: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([bytes[at], bytes[at + 1]])
}

/// Parses a PDU (function code onwards); `None` when it is too short or too
/// long for its function.
fn parse(pdu: &[u8]) -> Option<Request<'_>> {
    let (&function, body) = pdu.split_first()?;
    match function {
        function::READ_HOLDING | function::READ_INPUT => (body.len() == 4).then(|| Request::Read {
            function,
            start: be16(body, 0),
            count: be16(body, 2),
        }),
        function::WRITE_SINGLE => (body.len() == 4).then(|| Request::WriteSingle {
            addr: be16(body, 0),
            value: be16(body, 2),
        }),
        function::WRITE_MULTIPLE => {
            let (&byte_count, data) = body.get(4..)?.split_first()?;
            (data.len() == usize::from(byte_count)).then(|| Request::WriteMultiple {
                start: be16(body, 0),
                count: be16(body, 2),
                data,
            })
        }
        _ => Some(Request::Unsupported { function }),
    }
}

/// Builds the reply PDU for `request` into `out` (after the unit id), or the
/// exception to send instead.
fn process(
    request: Request<'_>,
    bank: &mut RegisterBank,
    out: &mut Vec<u8, MAX_FRAME_LEN>,
) -> Result<(), (u8, Exception)> {
    match request {
        Request::Read {
            function,
            start,
            count,
        } => {
            if count == 0 || count > MAX_READ_REGS {
                return Err((function, Exception::IllegalDataValue));
            }
            // Fits: 125 registers are 250 bytes plus 5 bytes of framing.
            let _ = out.extend_from_slice(&[function, (count * 2) as u8]);
            let mut emit = |r: u16| {
                let _ = out.extend_from_slice(&r.to_be_bytes());
            };
            let result = if function == function::READ_INPUT {
                bank.read_input(start, count, &mut emit)
            } else {
                bank.read_holding(start, count, &mut emit)
            };
            result.map_err(|e| (function, e.into()))
        }
        Request::WriteSingle { addr, value } => {
            bank.write_holding(addr, &[value])
                .map_err(|e| (function::WRITE_SINGLE, e.into()))?;
            let _ = out.push(function::WRITE_SINGLE);
            let _ = out.extend_from_slice(&addr.to_be_bytes());
            let _ = out.extend_from_slice(&value.to_be_bytes());
            Ok(())
        }
        Request::WriteMultiple { start, count, data } => {
            let f = function::WRITE_MULTIPLE;
            if count == 0 || count > MAX_WRITE_REGS || data.len() != usize::from(count) * 2 {
                return Err((f, Exception::IllegalDataValue));
            }
            let mut values = [0u16; MAX_WRITE_REGS as usize];
            for (value, pair) in values.iter_mut().zip(data.chunks_exact(2)) {
                *value = be16(pair, 0);
            }
            bank.write_holding(start, &values[..usize::from(count)])
                .map_err(|e| (f, e.into()))?;
            let _ = out.push(f);
            let _ = out.extend_from_slice(&start.to_be_bytes());
            let _ = out.extend_from_slice(&count.to_be_bytes());
            Ok(())
        }
        Request::Unsupported { function } => Err((function, Exception::IllegalFunction)),
    }
}

/// Handles one RTU frame (unit id, PDU, CRC) against `bank`. On
/// [`Reply::Send`] `out` holds the whole reply frame.
pub fn handle_request(
    frame: &[u8],
    bank: &mut RegisterBank,
    out: &mut Vec<u8, MAX_FRAME_LEN>,
) -> Reply {
    out.clear();
    let unit_id = bank.config().unit_id;
    let counters = &mut bank.counters;
    let Some((body, crc)) = frame.split_last_chunk::<2>().filter(|_| frame.len() >= 4) else {
        counters.frames_crc_error = counters.frames_crc_error.wrapping_add(1);
        return Reply::Silent;
    };
    if crc16(body) != u16::from_le_bytes(*crc) {
        counters.frames_crc_error = counters.frames_crc_error.wrapping_add(1);
        return Reply::Silent;
    }
    let (unit, pdu) = (body[0], &body[1..]);
    if unit != BROADCAST && unit != unit_id {
        return Reply::Silent;
    }
    let Some(request) = parse(pdu) else {
        counters.frames_malformed = counters.frames_malformed.wrapping_add(1);
        return Reply::Silent;
    };
    counters.frames_ok = counters.frames_ok.wrapping_add(1);
    if unit == BROADCAST {
        // Broadcast reads and unsupported functions are ignored; writes apply.
        if let Request::WriteSingle { .. } | Request::WriteMultiple { .. } = request {
            let _ = process(request, bank, out);
        }
        out.clear();
        return Reply::Silent;
    }
    let _ = out.push(unit);
    if let Err((function, exception)) = process(request, bank, out) {
        out.clear();
        let _ = out.extend_from_slice(&[unit, function | 0x80, exception as u8]);
        bank.counters.exceptions_sent = bank.counters.exceptions_sent.wrapping_add(1);
    }
    let crc = crc16(out).to_le_bytes();
    let _ = out.extend_from_slice(&crc);
    Reply::Send
}

/// A Modbus RTU slave on one serial line: the framer feeding
/// [`handle_request`], with the reply buffer. The board hands it timestamped
/// bytes and the time, and sends what it gives back.
#[derive(Debug)]
pub struct RtuSlave {
    framer: RtuFramer,
    out: Vec<u8, MAX_FRAME_LEN>,
}

impl RtuSlave {
    /// A slave on a line whose 3.5-character time is `t35_us`.
    pub const fn new(t35_us: u32) -> Self {
        Self {
            framer: RtuFramer::new(t35_us),
            out: Vec::new(),
        }
    }

    /// Takes one byte that arrived at `at_us`; a frame that ended before it
    /// is answered first.
    pub fn on_byte(
        &mut self,
        byte: u8,
        at_us: u64,
        bank: &mut RegisterBank,
        send: impl FnMut(&[u8]),
    ) {
        self.on_time(at_us, bank, send);
        self.framer.push(byte, at_us);
    }

    /// Answers the pending frame if the line has been silent long enough.
    pub fn on_time(&mut self, now_us: u64, bank: &mut RegisterBank, mut send: impl FnMut(&[u8])) {
        match self.framer.poll(now_us) {
            Some(Received::Frame(frame))
                if handle_request(frame, bank, &mut self.out) == Reply::Send =>
            {
                bank.note_turnaround(now_us.saturating_sub(self.framer.last_byte_us()));
                send(&self.out);
            }
            Some(Received::Overrun) => {
                bank.counters.frames_malformed = bank.counters.frames_malformed.wrapping_add(1);
            }
            Some(Received::Frame(_)) | None => {}
        }
    }

    /// When [`Self::on_time`] should next be called, if a frame is pending.
    pub fn deadline_us(&self) -> Option<u64> {
        self.framer.deadline_us()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gateway_registers::{holding, input, MAP_VERSION};

    fn frame(bytes: &[u8]) -> std::vec::Vec<u8> {
        let mut f = bytes.to_vec();
        f.extend_from_slice(&crc16(bytes).to_le_bytes());
        f
    }

    fn call(bank: &mut RegisterBank, bytes: &[u8]) -> Option<std::vec::Vec<u8>> {
        let mut out = Vec::new();
        match handle_request(bytes, bank, &mut out) {
            Reply::Send => {
                let (body, crc) = out.split_last_chunk::<2>().expect("reply has a CRC");
                assert_eq!(crc16(body).to_le_bytes(), *crc, "reply CRC");
                Some(body.to_vec())
            }
            Reply::Silent => {
                assert!(out.is_empty());
                None
            }
        }
    }

    #[test]
    fn read_input_map_version() {
        let mut bank = RegisterBank::default();
        let reply = call(&mut bank, &frame(&[1, 4, 0, 0, 0, 1]));
        assert_eq!(reply, Some(vec![1, 4, 2, 0, MAP_VERSION as u8]));
        assert_eq!(bank.counters.frames_ok, 1);
    }

    #[test]
    fn read_holding_defaults() {
        let mut bank = RegisterBank::default();
        let reply = call(&mut bank, &frame(&[1, 3, 0, 2, 0, 3]));
        assert_eq!(reply, Some(vec![1, 3, 6, 0x07, 0xD0, 0, 1, 0, 200]));
    }

    #[test]
    fn largest_read_fits_and_one_more_is_exception_03() {
        let mut bank = RegisterBank::default();
        let reply = call(&mut bank, &frame(&[1, 4, 0, 0, 0, 125])).expect("reply");
        assert_eq!(reply.len(), 3 + 250);
        assert_eq!(
            call(&mut bank, &frame(&[1, 4, 0, 0, 0, 126])),
            Some(vec![1, 0x84, 3])
        );
        assert_eq!(
            call(&mut bank, &frame(&[1, 3, 0, 0, 0, 0])),
            Some(vec![1, 0x83, 3])
        );
        assert_eq!(bank.counters.exceptions_sent, 2);
    }

    #[test]
    fn out_of_map_is_exception_02() {
        let mut bank = RegisterBank::default();
        let [hi, lo] = input::LEN.to_be_bytes();
        assert_eq!(
            call(&mut bank, &frame(&[1, 4, hi, lo, 0, 1])),
            Some(vec![1, 0x84, 2])
        );
        let last = holding::LEN as u8 - 1;
        assert_eq!(
            call(&mut bank, &frame(&[1, 3, 0, last, 0, 2])),
            Some(vec![1, 0x83, 2])
        );
        assert_eq!(
            call(&mut bank, &frame(&[1, 6, 0, last + 1, 0, 1])),
            Some(vec![1, 0x86, 2])
        );
        assert_eq!(
            call(
                &mut bank,
                &frame(&[1, 0x10, 0, last, 0, 2, 4, 0, 100, 0, 100])
            ),
            Some(vec![1, 0x90, 2])
        );
    }

    #[test]
    fn unsupported_function_is_exception_01() {
        let mut bank = RegisterBank::default();
        for f in [1u8, 2, 5, 0x0F, 0x17, 0x2B, 0x7F] {
            assert_eq!(
                call(&mut bank, &frame(&[1, f, 0, 0, 0, 1])),
                Some(vec![1, f | 0x80, 1])
            );
        }
        assert_eq!(bank.counters.exceptions_sent, 7);
    }

    #[test]
    fn write_single_echoes_and_bad_value_is_exception_03() {
        let mut bank = RegisterBank::default();
        let request = frame(&[1, 6, 0, holding::SCALE_POLL_MS as u8, 0x03, 0xE8]);
        assert_eq!(call(&mut bank, &request), Some(request[..6].to_vec()));
        assert_eq!(bank.config().scale_poll_ms, 1_000);
        assert_eq!(
            call(&mut bank, &frame(&[1, 6, 0, 3, 1, 0])),
            Some(vec![1, 0x86, 3])
        );
    }

    #[test]
    fn write_multiple_replies_with_start_and_count() {
        let mut bank = RegisterBank::default();
        let reply = call(
            &mut bank,
            &frame(&[1, 0x10, 0, 2, 0, 2, 4, 0x01, 0xF4, 0, 7]),
        );
        assert_eq!(reply, Some(vec![1, 0x10, 0, 2, 0, 2]));
        assert_eq!(
            (bank.config().dedup_window_ms, bank.config().unit_id),
            (500, 7)
        );
        // The new unit id answers; the old one is now another unit.
        assert_eq!(call(&mut bank, &frame(&[1, 4, 0, 0, 0, 1])), None);
        assert!(call(&mut bank, &frame(&[7, 4, 0, 0, 0, 1])).is_some());
    }

    #[test]
    fn writing_the_unit_id_is_answered_from_the_old_id() {
        let mut bank = RegisterBank::default();
        let request = frame(&[1, 6, 0, holding::UNIT_ID as u8, 0, 9]);
        assert_eq!(call(&mut bank, &request), Some(request[..6].to_vec()));
        assert_eq!(bank.config().unit_id, 9);
        assert_eq!(call(&mut bank, &frame(&[1, 4, 0, 0, 0, 1])), None);
        assert_eq!(
            call(&mut bank, &frame(&[9, 3, 0, holding::UNIT_ID as u8, 0, 1])),
            Some(vec![9, 3, 2, 0, 9])
        );
    }

    #[test]
    fn write_multiple_count_mismatch_is_exception_03() {
        let mut bank = RegisterBank::default();
        // Count 2 but 2 data bytes.
        assert_eq!(
            call(&mut bank, &frame(&[1, 0x10, 0, 2, 0, 2, 2, 0, 9])),
            Some(vec![1, 0x90, 3])
        );
        assert_eq!(
            call(&mut bank, &frame(&[1, 0x10, 0, 2, 0, 0, 0])),
            Some(vec![1, 0x90, 3])
        );
    }

    #[test]
    fn bad_crc_and_short_frames_are_silent_and_counted() {
        let mut bank = RegisterBank::default();
        let mut bad = frame(&[1, 4, 0, 0, 0, 1]);
        bad[7] ^= 1;
        assert_eq!(call(&mut bank, &bad), None);
        assert_eq!(call(&mut bank, &[1, 4, 0]), None);
        assert_eq!(call(&mut bank, &[]), None);
        assert_eq!(bank.counters.frames_crc_error, 3);
        assert_eq!(bank.counters.frames_ok, 0);
    }

    #[test]
    fn truncated_frames_with_good_crc_are_silent_and_counted() {
        let mut bank = RegisterBank::default();
        for body in [
            &[1u8, 4, 0, 0, 0][..],
            &[1, 6, 0, 2, 1, 2, 3],
            &[1, 0x10, 0, 2, 0, 1, 2, 0],
            &[1],
        ] {
            assert_eq!(call(&mut bank, &frame(body)), None, "{body:?}");
        }
        assert_eq!(bank.counters.frames_malformed, 3);
        // `[1]` plus CRC is 3 bytes: too short to be a frame at all.
        assert_eq!(bank.counters.frames_crc_error, 1);
    }

    #[test]
    fn other_units_are_silent() {
        let mut bank = RegisterBank::default();
        assert_eq!(call(&mut bank, &frame(&[2, 4, 0, 0, 0, 1])), None);
        assert_eq!(call(&mut bank, &frame(&[2, 0x2B, 0x0E])), None);
        assert_eq!(bank.counters.frames_ok, 0);
        assert_eq!(bank.counters.exceptions_sent, 0);
    }

    #[test]
    fn broadcast_writes_apply_silently_and_reads_are_ignored() {
        let mut bank = RegisterBank::default();
        assert_eq!(call(&mut bank, &frame(&[0, 6, 0, 2, 0x01, 0x2C])), None);
        assert_eq!(bank.config().dedup_window_ms, 300);
        assert_eq!(
            call(&mut bank, &frame(&[0, 0x10, 0, 4, 0, 1, 2, 0x01, 0xF4])),
            None
        );
        assert_eq!(bank.config().scale_poll_ms, 500);
        assert_eq!(call(&mut bank, &frame(&[0, 4, 0, 0, 0, 1])), None);
        // A broadcast exception is not sent either.
        assert_eq!(call(&mut bank, &frame(&[0, 6, 0, 3, 1, 0])), None);
        assert_eq!(call(&mut bank, &frame(&[0, 0x2B, 0x0E])), None);
        assert_eq!(bank.counters.exceptions_sent, 0);
        assert_eq!(bank.config().unit_id, 1);
    }

    #[test]
    fn ack_through_function_16_frees_events() {
        let mut bank = RegisterBank::default();
        for tag in 1..=3 {
            bank.push_event(crate::ring::tests::event(tag));
        }
        assert_eq!(
            call(&mut bank, &frame(&[1, 0x10, 0, 0, 0, 2, 4, 0, 0, 0, 2])),
            Some(vec![1, 0x10, 0, 0, 0, 2])
        );
        assert_eq!(bank.ring.len(), 1);
        assert_eq!(
            call(&mut bank, &frame(&[1, 0x10, 0, 0, 0, 2, 4, 0, 0, 0, 9])),
            Some(vec![1, 0x90, 3])
        );
    }

    #[test]
    fn slave_answers_after_silence_and_counts_overruns() {
        let mut bank = RegisterBank::default();
        let mut slave = RtuSlave::new(1_750);
        let mut replies = std::vec::Vec::new();
        for (i, &b) in frame(&[1, 4, 0, 0, 0, 1]).iter().enumerate() {
            slave.on_byte(b, i as u64 * 90, &mut bank, |r| replies.push(r.to_vec()));
        }
        assert!(replies.is_empty());
        assert_eq!(slave.deadline_us(), Some(630 + 1_750));
        slave.on_time(630 + 1_750, &mut bank, |r| replies.push(r.to_vec()));
        assert_eq!(replies.len(), 1);
        for i in 0..300u64 {
            slave.on_byte(0, 10_000 + i, &mut bank, |r| replies.push(r.to_vec()));
        }
        slave.on_time(20_000, &mut bank, |r| replies.push(r.to_vec()));
        assert_eq!((replies.len(), bank.counters.frames_malformed), (1, 1));
    }

    #[test]
    fn the_turnaround_of_each_reply_is_measured_and_served() {
        let mut bank = RegisterBank::default();
        let mut slave = RtuSlave::new(1_750);
        let mut replies = 0;
        let request = frame(&[1, 4, 0, 0, 0, 1]);
        // Answered 1,750 µs after the last byte, then 2,600 µs after.
        for (start, answer_after) in [(0u64, 1_750u64), (100_000, 2_600)] {
            for (i, &b) in request.iter().enumerate() {
                slave.on_byte(b, start + i as u64 * 90, &mut bank, |_| replies += 1);
            }
            let last = start + (request.len() as u64 - 1) * 90;
            slave.on_time(last + answer_after, &mut bank, |_| replies += 1);
        }
        assert_eq!(replies, 2);
        assert_eq!(bank.turnaround_us, (2_600, 2_600));
        let read = frame(&[1, 4, 0, 136, 0, 2]);
        let reply = call(&mut bank, &read).expect("a reply");
        assert_eq!(&reply[..7], &[1, 4, 4, 0x0A, 0x28, 0x0A, 0x28]);
        // Saturates at 65535 µs in the register, not in the bank.
        bank.note_turnaround(70_000);
        bank.note_turnaround(1_800);
        assert_eq!(bank.turnaround_us, (1_800, 70_000));
        let reply = call(&mut bank, &read).expect("a reply");
        assert_eq!(&reply[..7], &[1, 4, 4, 0x07, 0x08, 0xFF, 0xFF]);
    }

    #[test]
    fn no_input_panics() {
        // Every short frame, with good and bad CRC, for every function code.
        let mut bank = RegisterBank::default();
        let mut out = Vec::new();
        for function in 0..=255u8 {
            for len in 0..12usize {
                let mut body = vec![1u8, function];
                body.extend((0..len).map(|i| (i as u8).wrapping_mul(37).wrapping_add(function)));
                let _ = handle_request(&frame(&body), &mut bank, &mut out);
                let _ = handle_request(&body, &mut bank, &mut out);
            }
        }
    }
}

/// Property tests: arbitrary frames against the contract of `REGISTERS.md`
/// and brief §4.
#[cfg(test)]
mod properties {
    use super::*;
    use crate::bank::Config;
    use gateway_registers::{holding, input};
    use proptest::prelude::*;

    /// Every register the bank serves, input then holding: what a master
    /// could observe of its state.
    fn observable(bank: &RegisterBank) -> std::vec::Vec<u16> {
        let mut regs = std::vec::Vec::new();
        let mut start = 0;
        while start < input::LEN {
            let count = (input::LEN - start).min(MAX_READ_REGS);
            bank.read_input(start, count, |r| regs.push(r))
                .expect("inside the map");
            start += count;
        }
        bank.read_holding(0, holding::LEN, |r| regs.push(r))
            .expect("inside the map");
        regs
    }

    fn with_crc(body: &[u8]) -> std::vec::Vec<u8> {
        let mut f = body.to_vec();
        f.extend_from_slice(&crc16(body).to_le_bytes());
        f
    }

    /// A bank with some events waiting and a unit id of its own.
    fn bank(unit_id: u8, events: u16) -> RegisterBank {
        let config = Config {
            unit_id,
            ..Config::default()
        };
        let mut bank = RegisterBank::new(config);
        for tag in 0..events {
            bank.push_event(crate::ring::tests::event(tag));
        }
        bank
    }

    /// A register address: mostly near the map, sometimes anywhere.
    fn address() -> impl Strategy<Value = u16> {
        prop_oneof![4 => 0..input::LEN + 8, 1 => any::<u16>()]
    }

    /// A register count: mostly around the limits, sometimes anywhere.
    fn count() -> impl Strategy<Value = u16> {
        prop_oneof![4 => 0..MAX_READ_REGS + 4, 1 => any::<u16>()]
    }

    /// A request body (unit id and PDU, no CRC) a master might send, well
    /// formed or nearly so, so the properties reach past the CRC check.
    fn request_body() -> impl Strategy<Value = std::vec::Vec<u8>> {
        let unit = prop_oneof![3 => Just(1u8), 1 => Just(BROADCAST), 1 => any::<u8>()];
        let read = (prop_oneof![Just(3u8), Just(4u8)], address(), count()).prop_map(|(f, a, c)| {
            let mut pdu = vec![f];
            pdu.extend_from_slice(&a.to_be_bytes());
            pdu.extend_from_slice(&c.to_be_bytes());
            pdu
        });
        let write_single = (address(), any::<u16>()).prop_map(|(a, v)| {
            let mut pdu = vec![function::WRITE_SINGLE];
            pdu.extend_from_slice(&a.to_be_bytes());
            pdu.extend_from_slice(&v.to_be_bytes());
            pdu
        });
        let write_multiple = (
            address(),
            count(),
            proptest::collection::vec(any::<u16>(), 0..8),
            any::<bool>(),
        )
            .prop_map(|(a, c, values, honest_byte_count)| {
                let mut pdu = vec![function::WRITE_MULTIPLE];
                pdu.extend_from_slice(&a.to_be_bytes());
                pdu.extend_from_slice(&c.to_be_bytes());
                let bytes = values.len() * 2;
                pdu.push(if honest_byte_count {
                    bytes as u8
                } else {
                    (bytes as u8).wrapping_add(1)
                });
                values
                    .iter()
                    .for_each(|v| pdu.extend_from_slice(&v.to_be_bytes()));
                pdu
            });
        let anything = proptest::collection::vec(any::<u8>(), 0..12);
        (
            unit,
            prop_oneof![read, write_single, write_multiple, anything],
        )
            .prop_map(|(unit, pdu)| {
                let mut body = vec![unit];
                body.extend_from_slice(&pdu);
                body
            })
    }

    /// Checks a reply against the contract; returns whether it was an
    /// exception.
    fn check_reply(request: &[u8], out: &[u8], unit_id: u8) -> Result<bool, TestCaseError> {
        let (body, crc) = out
            .split_last_chunk::<2>()
            .ok_or_else(|| TestCaseError::fail("a reply has a CRC"))?;
        prop_assert_eq!(crc16(body).to_le_bytes(), *crc, "reply CRC");
        prop_assert!(out.len() <= MAX_FRAME_LEN);
        prop_assert_eq!(body[0], unit_id, "a reply comes from the unit asked");
        let function = request[1];
        if body[1] & 0x80 != 0 {
            prop_assert_eq!(body.len(), 3, "an exception is unit, function, code");
            prop_assert_eq!(body[1], function | 0x80);
            prop_assert!((1..=3).contains(&body[2]), "exception code {}", body[2]);
            if ![3, 4, 6, 0x10].contains(&function) {
                prop_assert_eq!(body[2], Exception::IllegalFunction as u8);
            }
            return Ok(true);
        }
        prop_assert_eq!(body[1], function);
        match function {
            function::READ_HOLDING | function::READ_INPUT => {
                let count = u16::from_be_bytes([request[4], request[5]]);
                prop_assert_eq!(usize::from(body[2]), usize::from(count) * 2);
                prop_assert_eq!(body.len(), 3 + usize::from(count) * 2);
            }
            // Both echo address and value, or start and count.
            function::WRITE_SINGLE | function::WRITE_MULTIPLE => {
                prop_assert_eq!(body, &request[..6]);
            }
            other => prop_assert!(false, "function {other:#04x} answered normally"),
        }
        Ok(false)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        /// Any bytes at all: no panic, and any reply obeys the contract.
        #[test]
        fn arbitrary_bytes_never_panic(
            frame in proptest::collection::vec(any::<u8>(), 0..300),
            unit_id in 1u8..=247,
            events in 0u16..6,
        ) {
            let mut bank = bank(unit_id, events);
            let mut out = Vec::new();
            if handle_request(&frame, &mut bank, &mut out) == Reply::Send {
                check_reply(&frame, &out, unit_id)?;
            } else {
                prop_assert!(out.is_empty());
            }
        }

        /// Requests with a good CRC: this unit's get exactly one reply that
        /// obeys the contract and the counters add up; broadcasts and other
        /// units' get none.
        #[test]
        fn good_crc_requests_follow_the_contract(
            body in request_body(),
            unit_id in 1u8..=247,
            events in 0u16..6,
        ) {
            let mut bank = bank(unit_id, events);
            let before = bank.counters;
            let frame = with_crc(&body);
            let mut out = Vec::new();
            let reply = handle_request(&frame, &mut bank, &mut out);
            let c = bank.counters;
            let unit = body[0];
            if frame.len() < 4 {
                // Too short to be a frame: counted with the CRC errors.
                prop_assert_eq!(reply, Reply::Silent);
                prop_assert_eq!(c.frames_crc_error, before.frames_crc_error + 1);
                return Ok(());
            }
            prop_assert_eq!(c.frames_crc_error, before.frames_crc_error);
            if unit != unit_id && unit != BROADCAST {
                prop_assert_eq!(reply, Reply::Silent);
                prop_assert_eq!(c, before, "another unit's frame counts nothing");
            } else if unit == BROADCAST {
                prop_assert_eq!(reply, Reply::Silent);
                prop_assert_eq!(c.exceptions_sent, before.exceptions_sent);
            } else if reply == Reply::Send {
                let exception = check_reply(&frame, &out, unit_id)?;
                prop_assert_eq!(c.frames_ok, before.frames_ok + 1);
                prop_assert_eq!(
                    c.exceptions_sent,
                    before.exceptions_sent + u32::from(exception)
                );
            } else {
                // Only a body too short or too long for its function is
                // left unanswered.
                prop_assert_eq!(c.frames_malformed, before.frames_malformed + 1);
                prop_assert!(out.is_empty());
            }
        }

        /// One flipped bit anywhere (CRC included) is silent, counted as a
        /// CRC error, and changes nothing a master can read but that count.
        #[test]
        fn a_corrupted_frame_is_silent_and_changes_nothing(
            body in request_body(),
            bit in any::<prop::sample::Index>(),
            events in 0u16..6,
        ) {
            let mut bank = bank(1, events);
            let mut frame = with_crc(&body);
            let bit = bit.index(frame.len() * 8);
            frame[bit / 8] ^= 1 << (bit % 8);
            let (config, before) = (bank.config(), bank.counters);
            let ring = bank.ring.len();
            let mut out = Vec::new();
            prop_assert_eq!(handle_request(&frame, &mut bank, &mut out), Reply::Silent);
            prop_assert!(out.is_empty());
            let mut expected = before;
            expected.frames_crc_error += 1;
            prop_assert_eq!(bank.counters, expected);
            prop_assert_eq!(bank.config(), config);
            prop_assert_eq!(bank.ring.len(), ring);
        }

        /// Another unit's request, even a write, leaves every register as it was.
        #[test]
        fn another_units_request_changes_no_register(
            body in request_body(),
            unit_id in 1u8..=247,
            events in 0u16..6,
        ) {
            let mut bank = bank(unit_id, events);
            let mut body = body;
            if body[0] == unit_id || body[0] == BROADCAST {
                body[0] = unit_id.wrapping_add(1).max(1);
            }
            // Shorter than 4 bytes is not a frame at all (a counted CRC error).
            prop_assume!(body[0] != unit_id && body.len() >= 2);
            let before = observable(&bank);
            let mut out = Vec::new();
            prop_assert_eq!(handle_request(&with_crc(&body), &mut bank, &mut out), Reply::Silent);
            prop_assert_eq!(observable(&bank), before);
        }

        /// Any bytes at any times through the slave (framer and handler):
        /// no panic, every reply has a good CRC and fits the buffer.
        #[test]
        fn arbitrary_line_through_the_slave(
            line in proptest::collection::vec(
                (any::<u8>(), prop_oneof![8 => 0..3_000u64, 1 => any::<u64>()]),
                0..600,
            ),
        ) {
            let mut bank = RegisterBank::default();
            let mut slave = RtuSlave::new(1_750);
            let mut now = 0u64;
            let mut replies = std::vec::Vec::new();
            for (byte, gap) in line {
                now = now.saturating_add(gap);
                slave.on_byte(byte, now, &mut bank, |r| replies.push(r.to_vec()));
            }
            slave.on_time(now.saturating_add(2_000), &mut bank, |r| replies.push(r.to_vec()));
            for reply in replies {
                let (body, crc) = reply
                    .split_last_chunk::<2>()
                    .ok_or_else(|| TestCaseError::fail("a reply has a CRC"))?;
                prop_assert_eq!(crc16(body).to_le_bytes(), *crc);
                prop_assert!(reply.len() <= MAX_FRAME_LEN);
            }
        }

        /// A sequence of requests, good and corrupted, through the slave
        /// and its framer: no panic, every reply has a good CRC and comes
        /// from the unit id in force when the request arrived.
        #[test]
        fn request_sequences_through_the_slave(
            requests in proptest::collection::vec((request_body(), any::<bool>()), 1..20),
        ) {
            let mut bank = RegisterBank::default();
            let mut slave = RtuSlave::new(1_750);
            let mut now = 0u64;
            for (body, corrupt) in requests {
                let mut frame = with_crc(&body);
                if corrupt {
                    frame[0] ^= 0x40;
                }
                let unit_id = bank.config().unit_id;
                let mut replies = std::vec::Vec::new();
                for &b in &frame {
                    slave.on_byte(b, now, &mut bank, |r| replies.push(r.to_vec()));
                    now += 90;
                }
                slave.on_time(now + 1_750, &mut bank, |r| replies.push(r.to_vec()));
                now += 5_000;
                prop_assert!(replies.len() <= 1);
                if let Some(reply) = replies.first() {
                    prop_assert!(!corrupt);
                    check_reply(&frame, reply, unit_id)?;
                }
            }
        }
    }
}
