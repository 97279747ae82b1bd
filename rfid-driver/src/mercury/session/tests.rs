//! Session tests against a simulated module, with simulated time.

use std::vec::Vec;

use super::*;
use crate::mercury::{emit, emit_tag_read, opcode, Frame, MAX_FRAME};
use crate::text::EpcBytes;

/// A reader module as the session sees it through its UART.
struct SimModule {
    commands: FrameDecoder,
    in_app: bool,
    reading: bool,
    /// Answers nothing at all (hung or unpowered).
    dead: bool,
    /// Refuse this opcode once with status 0x0105.
    refuse_once: Option<u8>,
    /// Refuse this opcode every time with status 0x0105.
    refuse_always: Option<u8>,
    /// Refuse this opcode the next n times with status 0x0105.
    refuse_times: Option<(u8, u32)>,
    /// Answers "set baud rate" but keeps its rate.
    ignores_baud: bool,
    /// The line rate it listens and answers at.
    baud: u32,
    /// A rate it switches to once its pending answer has gone out.
    next_baud: Option<u32>,
    out: Vec<u8>,
    received: Vec<u8>,
}

impl SimModule {
    fn new() -> Self {
        Self {
            commands: FrameDecoder::new(Direction::ToModule),
            in_app: false,
            reading: false,
            dead: false,
            refuse_once: None,
            refuse_always: None,
            refuse_times: None,
            ignores_baud: false,
            baud: MODULE_DEFAULT_BAUD,
            next_baud: None,
            out: Vec::new(),
            received: Vec::new(),
        }
    }

    fn respond(&mut self, op: u8, status: u16, data: &[u8]) {
        let mut buf = [0u8; MAX_FRAME];
        let n = emit(op, Some(status), data, &mut buf).expect("fits");
        self.out.extend_from_slice(&buf[..n]);
    }

    fn receive(&mut self, bytes: &[u8]) {
        let mut rest = bytes;
        while !rest.is_empty() {
            let n = self.commands.push(rest);
            rest = &rest[n..];
            while let Some(r) = self.commands.poll() {
                let f = r.expect("the session sends valid frames");
                let (op, data) = (f.opcode(), f.data().to_vec());
                self.command(op, &data);
            }
        }
    }

    fn command(&mut self, op: u8, data: &[u8]) {
        self.received.push(op);
        if self.dead {
            return;
        }
        if self.refuse_once == Some(op) {
            self.refuse_once = None;
            return self.respond(op, 0x0105, &[]);
        }
        if self.refuse_always == Some(op) {
            return self.respond(op, 0x0105, &[]);
        }
        if let Some((refused, n)) = self.refuse_times {
            if refused == op && n > 0 {
                self.refuse_times = Some((refused, n - 1));
                return self.respond(op, 0x0105, &[]);
            }
        }
        let version = [
            1, 2, 3, 4, 0x18, 0x16, 0, 1, 0x20, 0x26, 0x01, 0x15, 1, 7, 0, 3, 0, 0, 0, 0x10,
        ];
        match op {
            opcode::VERSION => self.respond(op, 0, &version),
            opcode::GET_CURRENT_PROGRAM => self.respond(op, 0, &[if self.in_app { 2 } else { 1 }]),
            opcode::BOOT_FIRMWARE => {
                self.in_app = true;
                self.respond(op, 0, &version);
            }
            opcode::SET_BAUD_RATE => {
                let rate = data.try_into().map(u32::from_be_bytes);
                if !self.ignores_baud {
                    self.next_baud = Some(rate.expect("four bytes"));
                }
                self.respond(op, 0, &[]);
            }
            _ if !self.in_app => self.respond(op, 0x0101, &[]),
            opcode::MULTI_PROTOCOL_TAG_OP => {
                self.reading = data.get(2) == Some(&0x01);
                self.respond(op, 0, &data[..data.len().min(3)]);
            }
            _ => self.respond(op, 0, &[]),
        }
    }

    fn tag(&mut self, antenna: u8, rssi_dbm: i8, serial: u8) {
        if !self.reading || self.dead {
            return;
        }
        let read = TagRead {
            antenna,
            rssi_dbm,
            frequency_khz: 866_900,
            module_timestamp_ms: 0,
            phase_deg: 0,
            read_count: 1,
            pc: 0x3000,
            epc: EpcBytes::new(&[
                0x30, 0x74, 0x25, 0x7B, 0xF7, 0x19, 0x4E, 0x40, 0, 0, 0, serial,
            ])
            .expect("fits"),
        };
        let mut buf = [0u8; MAX_FRAME];
        let n = emit_tag_read(&read, &mut buf).expect("fits");
        self.out.extend_from_slice(&buf[..n]);
    }

    fn keepalive(&mut self) {
        if self.reading && !self.dead {
            self.respond(opcode::READ_TAG_ID_MULTIPLE, status::NO_TAGS_FOUND, &[]);
        }
    }

    /// Power glitch: back to the bootloader and the default rate, silent.
    fn reset(&mut self) {
        self.in_app = false;
        self.reading = false;
        self.baud = MODULE_DEFAULT_BAUD;
    }

    /// What it sent, and the rate it sent it at; then takes up a new rate.
    fn take_out(&mut self) -> (Vec<u8>, u32) {
        let sent = (core::mem::take(&mut self.out), self.baud);
        if let Some(baud) = self.next_baud.take() {
            self.baud = baud;
        }
        sent
    }
}

/// Whether bytes sent at `baud` arrive at a side listening at `listening`
/// over a cable that garbles everything at `broken_at`.
fn carries(broken_at: Option<u32>, baud: u32, listening: u32) -> bool {
    baud == listening && broken_at != Some(baud)
}

/// Session + module + clock.
struct Bench {
    session: ReaderSession,
    module: SimModule,
    now_ms: u64,
    reads: Vec<(u64, TagRead)>,
    /// The host UART's rate, as the session set it.
    line_baud: u32,
    /// Every `SetLineRate` the session asked for.
    rate_changes: Vec<u32>,
    /// Bytes sent at a rate the other side was not listening at.
    garbled_bytes: usize,
    /// The cable cannot carry this rate: everything sent at it is garbled.
    broken_at: Option<u32>,
}

impl Bench {
    fn new() -> Self {
        Self::with_config(ReaderConfig::default())
    }

    fn with_config(config: ReaderConfig) -> Self {
        Self {
            session: ReaderSession::new(config, 0),
            module: SimModule::new(),
            now_ms: 0,
            reads: Vec::new(),
            line_baud: MODULE_DEFAULT_BAUD,
            rate_changes: Vec::new(),
            garbled_bytes: 0,
            broken_at: None,
        }
    }

    /// Drains the session's output into the module and the read list.
    fn drain(&mut self) -> u64 {
        loop {
            match self.session.poll_output() {
                Output::Transmit(bytes)
                    if carries(self.broken_at, self.line_baud, self.module.baud) =>
                {
                    let bytes = bytes.to_vec();
                    self.module.receive(&bytes);
                }
                // At the wrong rate the module hears noise and ignores it.
                Output::Transmit(bytes) => self.garbled_bytes += bytes.len(),
                Output::TagRead { at_ms, read } => self.reads.push((at_ms, read)),
                Output::SetLineRate { baud } => {
                    self.line_baud = baud;
                    self.rate_changes.push(baud);
                }
                Output::Wait { until_ms } => return until_ms,
            }
        }
    }

    /// Exchanges bytes until both sides are quiet; returns the session's deadline.
    fn settle(&mut self) -> u64 {
        loop {
            let until = self.drain();
            if self.module.out.is_empty() {
                return until;
            }
            let (bytes, sent_at) = self.module.take_out();
            if !carries(self.broken_at, sent_at, self.line_baud) {
                self.garbled_bytes += bytes.len();
                continue;
            }
            let mut rest = &bytes[..];
            while !rest.is_empty() {
                let n = self.session.handle_input(self.now_ms, rest);
                rest = &rest[n..];
                self.drain();
            }
        }
    }

    /// Lets `ms` pass in 10 ms ticks, with the module sending a keep-alive
    /// every second while it reads.
    fn run_for(&mut self, ms: u64) {
        let end = self.now_ms + ms;
        while self.now_ms < end {
            self.now_ms += 10;
            if self.now_ms % 1000 == 0 {
                self.module.keepalive();
            }
            self.session.handle_timeout(self.now_ms);
            self.settle();
        }
    }
}

const BOOT_FROM_BOOTLOADER: [u8; 10] = [
    opcode::MULTI_PROTOCOL_TAG_OP,
    opcode::VERSION,
    opcode::GET_CURRENT_PROGRAM,
    opcode::BOOT_FIRMWARE,
    opcode::SET_REGION,
    opcode::SET_TAG_PROTOCOL,
    opcode::SET_ANTENNA_PORT,
    opcode::SET_READ_TX_POWER,
    opcode::SET_READER_OPTIONAL_PARAMS,
    opcode::MULTI_PROTOCOL_TAG_OP,
];

#[test]
fn boots_from_the_bootloader_and_starts_reading() {
    let mut b = Bench::new();
    assert_eq!(b.session.state(), ReaderState::Booting);
    // The first stop goes unanswered by a bootloader? It answers 0x0101: fine.
    b.settle();
    assert_eq!(b.module.received, BOOT_FROM_BOOTLOADER);
    assert_eq!(b.session.state(), ReaderState::Reading);
    assert!(b.module.reading);
    assert_eq!(b.session.version().map(|v| v.firmware), Some([1, 7, 0, 3]));
    assert_eq!(b.session.stats().restarts, 0);
}

#[test]
fn a_module_already_running_is_not_rebooted_into_firmware() {
    let mut b = Bench::new();
    b.module.in_app = true;
    b.settle();
    assert!(!b.module.received.contains(&opcode::BOOT_FIRMWARE));
    assert_eq!(b.session.state(), ReaderState::Reading);
}

#[test]
fn continuous_reading_delivers_every_read_in_order() {
    let mut b = Bench::new();
    b.settle();
    for i in 0..100u8 {
        b.module.tag(1 + i % 2, -40 - (i % 20) as i8, i);
        if i % 7 == 0 {
            b.module.keepalive();
        }
    }
    b.now_ms = 5;
    b.settle();
    assert_eq!(b.reads.len(), 100);
    for (i, (at, read)) in b.reads.iter().enumerate() {
        assert_eq!(*at, 5);
        assert_eq!(read.antenna, 1 + (i % 2) as u8);
        assert_eq!(read.epc.as_bytes()[11], i as u8);
    }
    let stats = b.session.stats();
    assert_eq!(stats.tag_reads, 100);
    assert_eq!(stats.keepalives, 15);
    assert_eq!(stats.crc_errors, 0);
}

#[test]
fn batched_reads_are_all_delivered_even_with_input_between_polls() {
    let mut b = Bench::new();
    b.settle();
    let mk = |n: u8| TagRead {
        antenna: 1 + n % 2,
        rssi_dbm: -50,
        frequency_khz: 866_900,
        module_timestamp_ms: 0,
        phase_deg: 0,
        read_count: 1,
        pc: 0x3000,
        epc: EpcBytes::new(&[0x30, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, n]).expect("fits"),
    };
    let mut frame = [0u8; MAX_FRAME];
    let n = crate::mercury::tests::batched_notification(&[mk(1), mk(2), mk(3)], &mut frame);
    // Take one read, then push more bytes before draining the rest.
    assert_eq!(b.session.handle_input(7, &frame[..n]), n);
    assert!(matches!(b.session.poll_output(), Output::TagRead { .. }));
    let m = crate::mercury::tests::batched_notification(&[mk(4)], &mut frame);
    assert_eq!(b.session.handle_input(8, &frame[..m]), m);
    b.drain();
    assert_eq!(b.session.stats().tag_reads, 4);
    let serials: Vec<u8> = b.reads.iter().map(|(_, r)| r.epc.as_bytes()[11]).collect();
    assert_eq!(serials, [2, 3, 4]);
}

#[test]
fn garbage_and_corrupt_frames_on_the_line_lose_only_themselves() {
    let mut b = Bench::new();
    b.settle();
    b.module.tag(1, -50, 1);
    b.module
        .out
        .extend_from_slice(&[0x00, 0xFF, 0x13, 0x37, 0xFF]);
    b.module.tag(2, -50, 2);
    let corrupt_at = b.module.out.len() + 10;
    b.module.tag(2, -50, 3);
    b.module.out[corrupt_at] ^= 0x20;
    b.module.out.extend_from_slice(&[0xFF, 0xFF, 0x02]);
    b.module.tag(1, -50, 4);
    b.settle();
    // The partial false start at the end waits for the frame gap.
    b.run_for(100);
    let serials: Vec<u8> = b.reads.iter().map(|(_, r)| r.epc.as_bytes()[11]).collect();
    assert_eq!(serials, [1, 2, 4]);
    let stats = b.session.stats();
    assert!(stats.crc_errors >= 1, "{stats:?}");
    assert!(stats.garbage_bytes >= 5, "{stats:?}");
    assert_eq!(stats.restarts, 0);
    assert_eq!(b.session.state(), ReaderState::Reading);
}

#[test]
fn a_module_that_resets_is_booted_again() {
    let mut b = Bench::new();
    b.settle();
    b.run_for(2500);
    assert_eq!(b.session.stats().stalls, 0, "keep-alives hold the session");
    b.module.reset();
    b.module.received.clear();
    b.run_for(3500);
    let stats = b.session.stats();
    assert_eq!(stats.stalls, 1);
    assert_eq!(stats.restarts, 1);
    assert_eq!(b.module.received, BOOT_FROM_BOOTLOADER);
    assert_eq!(b.session.state(), ReaderState::Reading);
    b.module.tag(1, -45, 9);
    b.settle();
    assert_eq!(b.reads.last().map(|(_, r)| r.epc.as_bytes()[11]), Some(9));
}

#[test]
fn a_stalled_module_is_retried_until_it_answers() {
    let mut b = Bench::new();
    b.settle();
    b.module.dead = true;
    b.run_for(10_000);
    let stats = b.session.stats();
    assert_eq!(stats.stalls, 1);
    // Each round: the stop goes unanswered (1 s), the version times out (1 s), retry wait (1 s).
    assert!(stats.timeouts >= 2, "{stats:?}");
    assert!(stats.restarts >= 3, "{stats:?}");
    assert_ne!(b.session.state(), ReaderState::Reading);
    b.module.dead = false;
    b.module.reset();
    b.run_for(5000);
    assert_eq!(b.session.state(), ReaderState::Reading);
    b.module.tag(2, -45, 7);
    b.settle();
    assert_eq!(b.reads.len(), 1);
}

#[test]
fn a_refused_command_is_retried_after_the_delay() {
    let mut b = Bench::new();
    b.module.refuse_once = Some(opcode::SET_REGION);
    let until = b.settle();
    assert_eq!(b.session.state(), ReaderState::RetryWait);
    assert_eq!(until, 1000);
    assert_eq!(b.session.stats().command_errors, 1);
    b.run_for(1000);
    assert_eq!(b.session.state(), ReaderState::Reading);
}

#[test]
fn wait_deadline_tracks_the_phase() {
    let mut s = ReaderSession::new(ReaderConfig::default(), 500);
    assert!(matches!(s.poll_output(), Output::Transmit(_)));
    assert_eq!(s.poll_output(), Output::Wait { until_ms: 1500 });
    // A partial frame shortens the wait to the frame gap.
    let mut frame = [0u8; 16];
    let n = emit(opcode::MULTI_PROTOCOL_TAG_OP, Some(0), &[], &mut frame).expect("fits");
    assert_eq!(s.handle_input(600, &frame[..n - 1]), n - 1);
    assert_eq!(s.poll_output(), Output::Wait { until_ms: 650 });
    s.handle_timeout(650);
    assert_eq!(s.poll_output(), Output::Wait { until_ms: 1500 });
    assert!(Frame::new_checked(&frame[..n], Direction::FromModule).is_ok());
}

fn fast() -> ReaderConfig {
    ReaderConfig {
        baud: 921_600,
        ..ReaderConfig::default()
    }
}

#[test]
fn raises_the_line_rate_once_in_the_application_and_reads_at_it() {
    let mut b = Bench::with_config(fast());
    b.settle();
    let mut expected = BOOT_FROM_BOOTLOADER.to_vec();
    expected.insert(4, opcode::SET_BAUD_RATE);
    assert_eq!(b.module.received, expected);
    assert_eq!(b.rate_changes, [921_600]);
    assert_eq!((b.module.baud, b.session.line_baud()), (921_600, 921_600));
    assert_eq!(b.session.state(), ReaderState::Reading);
    b.module.tag(1, -45, 3);
    b.settle();
    assert_eq!(b.reads.len(), 1);
    assert_eq!(b.garbled_bytes, 0);
}

#[test]
fn the_default_rate_is_never_switched() {
    let mut b = Bench::new();
    b.settle();
    b.module.reset();
    b.run_for(10_000);
    assert!(b.rate_changes.is_empty());
    assert!(!b.module.received.contains(&opcode::SET_BAUD_RATE));
}

#[test]
fn a_module_left_at_the_fast_rate_is_found_by_trying_it() {
    // The gateway restarted; the module kept reading at 921600.
    let mut b = Bench::with_config(fast());
    b.module.in_app = true;
    b.module.baud = 921_600;
    b.run_for(5_000);
    assert_eq!(b.session.state(), ReaderState::Reading);
    assert_eq!(b.rate_changes, [921_600]);
    assert!(b.garbled_bytes > 0, "the first attempt went out at 115200");
    assert!(!b.module.received.contains(&opcode::SET_BAUD_RATE));
    b.module.tag(2, -50, 8);
    b.settle();
    assert_eq!(b.reads.len(), 1);
}

#[test]
fn a_module_that_resets_to_the_default_rate_is_found_again() {
    let mut b = Bench::with_config(fast());
    b.settle();
    b.run_for(2_000);
    b.module.reset();
    b.module.received.clear();
    // The stall (3 s of silence) switches to 115200 at once, then a new switch.
    b.run_for(3_100);
    assert_eq!(b.session.state(), ReaderState::Reading);
    assert_eq!(
        (b.session.stats().stalls, b.session.stats().restarts),
        (1, 1)
    );
    assert_eq!(b.rate_changes, [921_600, 115_200, 921_600]);
    assert_eq!(b.module.baud, 921_600);
    assert!(b.module.received.contains(&opcode::SET_BAUD_RATE));
    b.module.tag(1, -40, 5);
    b.settle();
    assert_eq!(b.reads.last().map(|(_, r)| r.epc.as_bytes()[11]), Some(5));
}

#[test]
fn the_set_baud_rate_command_carries_the_rate_big_endian() {
    let mut out = [0u8; 16];
    let n = Command::SetBaudRate(921_600).emit(&mut out).expect("fits");
    let frame = Frame::new_checked(&out[..n], Direction::ToModule).expect("valid");
    assert_eq!(frame.opcode(), opcode::SET_BAUD_RATE);
    assert_eq!(frame.data(), [0x00, 0x0E, 0x10, 0x00]);
}

#[test]
fn a_module_that_refuses_the_fast_rate_is_read_at_the_default() {
    let mut b = Bench::with_config(fast());
    b.module.refuse_always = Some(opcode::SET_BAUD_RATE);
    b.settle();
    assert_eq!(b.session.state(), ReaderState::Reading);
    assert!(b.rate_changes.is_empty());
    let stats = b.session.stats();
    assert!(stats.fast_rate_given_up);
    assert_eq!((stats.command_errors, stats.restarts), (1, 0));
    // Not asked again when the module is booted again.
    b.module.reset();
    b.module.received.clear();
    b.run_for(5_000);
    assert_eq!(b.session.state(), ReaderState::Reading);
    assert!(!b.module.received.contains(&opcode::SET_BAUD_RATE));
    b.module.tag(1, -45, 4);
    b.settle();
    assert_eq!(b.reads.len(), 1);
}

#[test]
fn a_module_that_ignores_the_fast_rate_is_read_at_the_default() {
    let mut b = Bench::with_config(fast());
    b.module.ignores_baud = true;
    b.run_for(30_000);
    assert_eq!(b.session.state(), ReaderState::Reading);
    assert!(b.session.stats().fast_rate_given_up);
    assert_eq!(b.session.line_baud(), MODULE_DEFAULT_BAUD);
    let asked = b
        .module
        .received
        .iter()
        .filter(|&&op| op == opcode::SET_BAUD_RATE)
        .count();
    assert_eq!(asked, usize::from(MAX_SWITCH_FAILURES));
    b.module.tag(2, -45, 6);
    b.settle();
    assert_eq!(b.reads.len(), 1);
}

#[test]
fn a_line_that_cannot_carry_the_fast_rate_falls_back_to_the_default() {
    let mut b = Bench::with_config(fast());
    b.broken_at = Some(921_600);
    b.run_for(30_000);
    // The module switched and is unreachable until it resets; the session
    // has given the fast rate up and keeps trying both rates.
    assert!(b.session.stats().fast_rate_given_up);
    assert_ne!(b.session.state(), ReaderState::Reading);
    b.module.reset();
    b.module.received.clear();
    b.run_for(5_000);
    assert_eq!(b.session.state(), ReaderState::Reading);
    assert_eq!(b.session.line_baud(), MODULE_DEFAULT_BAUD);
    assert!(!b.module.received.contains(&opcode::SET_BAUD_RATE));
    b.module.tag(1, -50, 2);
    b.settle();
    assert_eq!(b.reads.len(), 1);
}

#[test]
fn refusals_at_the_fast_rate_do_not_give_it_up() {
    // The module answers at 921600 but refuses the next command in one
    // boot after another: the rate works, so it is kept.
    let mut b = Bench::with_config(fast());
    b.module.refuse_times = Some((opcode::SET_REGION, u32::from(MAX_SWITCH_FAILURES) + 1));
    b.run_for(10_000);
    assert!(b.session.stats().command_errors > u32::from(MAX_SWITCH_FAILURES));
    assert_eq!(b.session.state(), ReaderState::Reading);
    assert!(!b.session.stats().fast_rate_given_up);
    assert_eq!((b.session.line_baud(), b.module.baud), (921_600, 921_600));
}

#[test]
fn a_module_left_fast_is_still_found_after_the_rate_was_given_up() {
    // Given up (refused once), then the module is found at 921600 after
    // a silent boot: the session reads there rather than never again.
    let mut b = Bench::with_config(fast());
    b.module.refuse_once = Some(opcode::SET_BAUD_RATE);
    b.settle();
    assert!(b.session.stats().fast_rate_given_up);
    b.module.baud = 921_600;
    b.run_for(10_000);
    assert_eq!(b.session.state(), ReaderState::Reading);
    assert_eq!(b.session.line_baud(), 921_600);
    b.module.tag(2, -50, 3);
    b.settle();
    assert_eq!(b.reads.len(), 1);
}

#[test]
fn an_unsupported_rate_is_never_asked_for() {
    let mut b = Bench::with_config(ReaderConfig {
        baud: 1_000_000,
        ..ReaderConfig::default()
    });
    b.settle();
    assert_eq!(b.session.state(), ReaderState::Reading);
    assert!(b.rate_changes.is_empty());
    assert!(!b.module.received.contains(&opcode::SET_BAUD_RATE));
}
