//! The dock door: the reader module's session and the gate that turns raw
//! tag reads into passes, feeding the event ring.
//!
//! Owns the glue between `rfid-driver` (the Mercury [`ReaderSession`] and
//! the [`Gate`] with its dedup window and direction rule) and the register
//! bank: reads seen and deduplicated, reader frame errors and status, one
//! event per pass. It must not decide direction or dedup itself (that is
//! `rfid_driver::gate`'s) nor touch the UART.
//!
//! [`DockDoor::turn`] is the reader's part of the main loop, shared by the
//! firmware (`src/bin/gateway.rs`) and the reads benchmark
//! (`src/bin/bench-reads.rs`), so the bench measures the code the gateway
//! runs. At 921600 baud a reader byte arrives every ~11 µs, so a turn does
//! as little as it can: reader bytes go to the session only once the
//! millisecond changed or a batch waits (the session's times are
//! milliseconds anyway), time-outs run once a millisecond, and the gate's
//! table is scanned for closed passes only once its earliest deadline has
//! come. The loop itself sleeps until a tick or a batch of reader bytes
//! (or a Modbus or scale byte), so a reader byte alone costs only its
//! interrupt.

use gateway_registers::{Direction, EventRecord, ReaderStatus, EPC_MAX_WORDS};
use rfid_driver::gate::{self, Gate, GateConfig, GatePass};
use rfid_driver::mercury::session::{Output, ReaderConfig, ReaderSession, ReaderState};

use crate::bank::RegisterBank;

/// EPCs a gate tracks at once; a further one closes the least recently
/// heard track early (counted by the gate, never dropped).
pub const GATE_TRACKS: usize = 128;

/// Reader bytes [`DockDoor::turn`] lets wait within one millisecond before
/// handing them over anyway (and the size of the batches it hands over).
pub const TURN_BATCH: usize = 64;

/// What the dock door asks of its reader's UART.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToReader<'a> {
    /// Send these bytes.
    Send(&'a [u8]),
    /// Switch the line to this rate once every byte sent so far has left.
    SetBaud(u32),
}

/// One dock door: a reader module with an outside and an inside antenna.
#[derive(Debug)]
pub struct DockDoor {
    session: ReaderSession,
    gate: Gate<GATE_TRACKS>,
    index: u16,
    rx_dropped: u32,
    /// The millisecond of the last [`DockDoor::turn`], `None` before the first.
    turn_ms: Option<u64>,
    /// No open track of the gate closes before this (a lower bound of
    /// `Gate::next_deadline_ms`, `u64::MAX` with no track), so the gate's
    /// table is scanned only once it has come.
    gate_due_ms: u64,
}

impl DockDoor {
    /// Door `index` of this gateway, starting its reader module at `now_ms`.
    /// The reader's UART starts at `MODULE_DEFAULT_BAUD` (a module's rate
    /// after power-up); the door raises it to `baud` once the module runs.
    pub fn new(index: u16, now_ms: u64, baud: u32, bank: &RegisterBank) -> Self {
        Self {
            session: ReaderSession::new(
                ReaderConfig {
                    baud,
                    ..ReaderConfig::default()
                },
                now_ms,
            ),
            gate: Gate::new(GateConfig {
                window_ms: u32::from(bank.config().dedup_window_ms),
                ..GateConfig::default()
            }),
            index,
            rx_dropped: 0,
            turn_ms: None,
            gate_due_ms: u64::MAX,
        }
    }

    /// The reader's part of one main-loop pass at `now_us`: `waiting` reader
    /// bytes are queued and `pop` takes the oldest with its arrival time
    /// (µs); `rx_dropped` is the total of reader bytes the board lost.
    ///
    /// The bytes go to the session, in batches of up to [`TURN_BATCH`] bytes
    /// of one millisecond stamped with it, only when the
    /// millisecond changed since the last turn or at least [`TURN_BATCH`]
    /// wait; then every byte queued is taken. Once a millisecond the door's
    /// time-outs run ([`DockDoor::on_time`]). A turn within the same
    /// millisecond with fewer bytes waiting does nothing. The session sees
    /// the same bytes with the same times as when every byte was handed
    /// over at once (the host tests compare the two); a command's answer
    /// reaches it at most a millisecond later.
    pub fn turn(
        &mut self,
        now_us: u64,
        waiting: usize,
        mut pop: impl FnMut() -> Option<(u8, u64)>,
        rx_dropped: u32,
        bank: &mut RegisterBank,
        mut line: impl FnMut(ToReader<'_>),
    ) {
        let now_ms = now_us / 1_000;
        let new_ms = self.turn_ms != Some(now_ms);
        if waiting > 0 && (new_ms || waiting >= TURN_BATCH) {
            // A batch holds bytes of one millisecond only, so each read
            // carries the millisecond its last byte arrived in, however
            // long it waited.
            let mut batch = [0u8; TURN_BATCH];
            let (mut n, mut batch_ms, mut batch_end_us) = (0, 0, 0);
            // At most the bytes that were waiting: what comes meanwhile is
            // the next pass's, so an overloaded line cannot hold the loop.
            let mut popped = 0;
            while let Some((byte, at_us)) = (popped < waiting).then(&mut pop).flatten() {
                popped += 1;
                // Compared with the batch's millisecond, not divided: a
                // 64-bit division is a library call on the Cortex-M4.
                let same_ms = n > 0 && at_us < batch_end_us && at_us + 1_000 >= batch_end_us;
                if n == batch.len() || (n > 0 && !same_ms) {
                    self.on_bytes(batch_ms, &batch[..n], bank, &mut line);
                    n = 0;
                }
                if !same_ms {
                    batch_ms = at_us / 1_000;
                    batch_end_us = (batch_ms + 1) * 1_000;
                }
                batch[n] = byte;
                n += 1;
            }
            if n > 0 {
                self.on_bytes(batch_ms, &batch[..n], bank, &mut line);
            }
        }
        if new_ms {
            self.turn_ms = Some(now_ms);
            self.on_time(now_ms, rx_dropped, bank, &mut line);
        }
    }

    /// The reader module's session: its state, counters and version.
    pub fn session(&self) -> &ReaderSession {
        &self.session
    }

    /// Bytes from the reader module that arrived at `now_ms`.
    pub fn on_bytes(
        &mut self,
        now_ms: u64,
        mut bytes: &[u8],
        bank: &mut RegisterBank,
        mut line: impl FnMut(ToReader<'_>),
    ) {
        while !bytes.is_empty() {
            let taken = self.session.handle_input(now_ms, bytes);
            bytes = &bytes[taken..];
            self.drain(now_ms, bank, &mut line);
        }
    }

    /// Time has passed to `now_ms`; `rx_dropped` is the total of reader
    /// bytes the board lost to a full queue or a USART overrun.
    pub fn on_time(
        &mut self,
        now_ms: u64,
        rx_dropped: u32,
        bank: &mut RegisterBank,
        mut line: impl FnMut(ToReader<'_>),
    ) {
        self.rx_dropped = rx_dropped;
        let window_ms = u32::from(bank.config().dedup_window_ms);
        if window_ms != self.gate.config().window_ms {
            self.gate.set_window_ms(window_ms);
            // A shorter window brings deadlines forward: look again.
            self.gate_due_ms = 0;
        }
        self.session.handle_timeout(now_ms);
        self.drain(now_ms, bank, &mut line);
    }

    fn drain(&mut self, now_ms: u64, bank: &mut RegisterBank, line: &mut impl FnMut(ToReader<'_>)) {
        loop {
            match self.session.poll_output() {
                Output::Transmit(bytes) => line(ToReader::Send(bytes)),
                Output::SetLineRate { baud } => line(ToReader::SetBaud(baud)),
                Output::TagRead { at_ms, read } => {
                    // The track this read starts or extends closes no
                    // earlier than a window from now.
                    let window_ms = u64::from(self.gate.config().window_ms);
                    self.gate_due_ms = self.gate_due_ms.min(at_ms.saturating_add(window_ms));
                    if let Some(pass) =
                        self.gate
                            .observe(at_ms, read.antenna, read.rssi_dbm, &read.epc)
                    {
                        self.store(pass, bank);
                    }
                }
                Output::Wait { .. } => break,
            }
        }
        // Both `poll` and `next_deadline_ms` scan every open track: only
        // once the earliest deadline may have come.
        if now_ms >= self.gate_due_ms {
            while let Some(pass) = self.gate.poll(now_ms) {
                self.store(pass, bank);
            }
            self.gate_due_ms = self.gate.next_deadline_ms().unwrap_or(u64::MAX);
        }
        let (session, gate) = (self.session.stats(), self.gate.stats());
        let c = &mut bank.counters;
        c.reads_seen = session.tag_reads;
        c.reads_deduped = gate.deduplicated;
        c.reader_frame_errors = session
            .crc_errors
            .saturating_add(session.bad_notifications)
            .saturating_add(session.command_errors)
            .saturating_add(session.timeouts)
            .saturating_add(self.rx_dropped);
        bank.reader_status = match self.session.state() {
            ReaderState::Reading => ReaderStatus::Reading,
            ReaderState::Booting if session.restarts == 0 => ReaderStatus::Starting,
            ReaderState::Booting | ReaderState::RetryWait => ReaderStatus::Fault,
        };
    }

    fn store(&self, pass: GatePass, bank: &mut RegisterBank) {
        bank.push_event(event_record(self.index, &pass));
    }
}

/// The register form of a pass (its `seq` is set by the ring).
pub fn event_record(gate_index: u16, pass: &GatePass) -> EventRecord {
    let direction = match pass.direction {
        gate::Direction::In => Direction::In,
        gate::Direction::Out => Direction::Out,
        gate::Direction::Unknown => Direction::Unknown,
    };
    let bytes = pass.epc.as_bytes();
    let mut epc = [0u16; EPC_MAX_WORDS];
    // An EPC past 240 bits keeps its first 240; EPC_WORDS tells its real
    // length, so the server sees it was cut (no GS1 scheme is that long).
    for (word, pair) in epc.iter_mut().zip(bytes.chunks(2)) {
        *word = u16::from_be_bytes([pair[0], pair.get(1).copied().unwrap_or(0)]);
    }
    // At most 31 words (EpcBytes holds up to 62 bytes).
    let words = bytes.len().div_ceil(2) as u8;
    EventRecord {
        seq: 0,
        timestamp_ms: pass.last_seen_ms as u32,
        gate: gate_index,
        direction,
        antenna: u16::from(pass.last_antenna),
        rssi_dbm: i16::from(pass.peak_rssi_dbm),
        epc_words: words,
        epc,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rfid_driver::mercury::{
        emit, emit_tag_read, opcode, status, Direction as Wire, FrameDecoder, TagRead,
        MODULE_DEFAULT_BAUD,
    };
    use rfid_driver::text::EpcBytes;

    const EPC: [u8; 12] = [
        0x30, 0x74, 0x25, 0x7B, 0xF7, 0x19, 0x4E, 0x40, 0, 0, 0x1A, 0x85,
    ];

    /// Answers every command the session sends with success, as a module
    /// in its application firmware would.
    fn answer(commands: &[u8]) -> std::vec::Vec<u8> {
        let mut decoder = FrameDecoder::new(Wire::ToModule);
        decoder.push(commands);
        let mut out = std::vec::Vec::new();
        while let Some(Ok(frame)) = decoder.poll() {
            let data: &[u8] = match frame.opcode() {
                opcode::VERSION => &[0; 20],
                opcode::GET_CURRENT_PROGRAM => &[0x02],
                _ => &[],
            };
            let mut buf = [0u8; 64];
            let n = emit(frame.opcode(), Some(status::SUCCESS), data, &mut buf).expect("fits");
            out.extend_from_slice(&buf[..n]);
        }
        out
    }

    fn read(antenna: u8, rssi_dbm: i8) -> std::vec::Vec<u8> {
        read_of(&EPC, antenna, rssi_dbm)
    }

    fn read_of(epc: &[u8], antenna: u8, rssi_dbm: i8) -> std::vec::Vec<u8> {
        let read = TagRead {
            antenna,
            rssi_dbm,
            frequency_khz: 865_700,
            module_timestamp_ms: 0,
            phase_deg: 0,
            read_count: 1,
            pc: 0x3000,
            epc: EpcBytes::new(epc).expect("12 bytes"),
        };
        let mut buf = [0u8; 128];
        let n = emit_tag_read(&read, &mut buf).expect("fits");
        buf[..n].to_vec()
    }

    #[test]
    fn a_tag_through_the_gate_becomes_one_event_with_its_direction() {
        let mut bank = RegisterBank::default();
        let (mut door, mut now) = reading_door(&mut bank);
        // Outside antenna first, then inside: three reads each.
        for (antenna, rssi) in [(1, -50), (1, -48), (1, -52), (2, -60), (2, -58), (2, -61)] {
            now += 10;
            door.on_bytes(now, &read(antenna, rssi), &mut bank, |_| ());
        }
        assert_eq!(
            (bank.counters.reads_seen, bank.counters.reads_deduped),
            (6, 5)
        );
        assert!(bank.ring.is_empty(), "the pass is still open");
        door.on_time(now + 2_000, 0, &mut bank, |_| ());
        assert_eq!(bank.ring.len(), 1);
        let event = bank.ring.get(0).expect("one event");
        assert_eq!(
            (event.seq, event.direction, event.antenna),
            (1, Direction::In, 2)
        );
        assert_eq!((event.rssi_dbm, event.epc_words), (-48, 6));
        let (bytes, len) = event.epc_bytes();
        assert_eq!(&bytes[..len], &EPC);
    }

    /// Boots a door against a module that answers everything.
    fn reading_door(bank: &mut RegisterBank) -> (DockDoor, u64) {
        let (door, now, rates) = boot_door(MODULE_DEFAULT_BAUD, bank);
        assert!(rates.is_empty(), "the default rate is kept");
        (door, now)
    }

    /// Boots a door that reads at `baud`; returns it, the time and the line
    /// rates it asked for.
    fn boot_door(baud: u32, bank: &mut RegisterBank) -> (DockDoor, u64, std::vec::Vec<u32>) {
        let mut door = DockDoor::new(0, 0, baud, bank);
        let mut to_module = std::vec::Vec::new();
        let mut rates = std::vec::Vec::new();
        let mut line = |out: ToReader<'_>| match out {
            ToReader::Send(bytes) => to_module.extend_from_slice(bytes),
            ToReader::SetBaud(baud) => rates.push(baud),
        };
        door.on_time(0, 0, bank, &mut line);
        let mut now = 0;
        while bank.reader_status != ReaderStatus::Reading {
            assert!(now < 100, "boot did not finish");
            let replies = answer(&core::mem::take(&mut to_module));
            now += 1;
            door.on_bytes(now, &replies, bank, |out| match out {
                ToReader::Send(bytes) => to_module.extend_from_slice(bytes),
                ToReader::SetBaud(baud) => rates.push(baud),
            });
        }
        (door, now, rates)
    }

    #[test]
    fn the_door_raises_the_reader_line_to_its_rate() {
        let mut bank = RegisterBank::default();
        let (_, _, rates) = boot_door(921_600, &mut bank);
        assert_eq!(rates, [921_600]);
    }

    #[test]
    fn fifteen_hundred_reads_a_second_lose_no_epc() {
        // 100 tags move in through the gate for 2 s: 3,000 raw reads, one
        // every 2/3 ms, 15 per antenna per tag, delivered in 64-byte
        // chunks as the board hands them over.
        let mut bank = RegisterBank::default();
        let (mut door, start) = reading_door(&mut bank);
        let mut stream = std::vec::Vec::new();
        for round in 0..30u16 {
            for serial in 0..100u16 {
                let mut epc = EPC;
                epc[10..].copy_from_slice(&serial.to_be_bytes());
                let antenna = if round < 15 { 1 } else { 2 };
                stream.push(read_of(&epc, antenna, -55));
            }
        }
        for (i, frame) in stream.iter().enumerate() {
            let now = start + (i as u64 * 2) / 3;
            for chunk in frame.chunks(64) {
                door.on_bytes(now, chunk, &mut bank, |_| ());
            }
        }
        door.on_time(start + 2_000 + 2_001, 0, &mut bank, |_| ());
        assert_eq!(bank.counters.reads_seen, 3_000);
        assert_eq!(bank.ring.len(), 100);
        let mut serials: std::vec::Vec<u16> = (0..100)
            .filter_map(|i| bank.ring.get(i))
            .map(|e| e.epc[5])
            .collect();
        serials.sort();
        assert_eq!(serials, (0..100).collect::<std::vec::Vec<u16>>());
        assert!((0..100)
            .filter_map(|i| bank.ring.get(i))
            .all(|e| e.direction == Direction::In));
    }

    /// The stream of `fifteen_hundred_reads_a_second_lose_no_epc` as
    /// (arrival µs, byte) at 921600 baud: a read every 2/3 ms, its bytes
    /// 10.85 µs apart, starting at `start_ms`.
    fn line_stream(start_ms: u64) -> std::vec::Vec<(u64, u8)> {
        let mut bytes = std::vec::Vec::new();
        for round in 0..30u64 {
            for serial in 0..100u64 {
                let mut epc = EPC;
                epc[10..].copy_from_slice(&(serial as u16).to_be_bytes());
                let antenna = if round < 15 { 1 } else { 2 };
                let read_us = start_ms * 1_000 + (round * 100 + serial) * 2_000 / 3;
                for (j, &b) in read_of(&epc, antenna, -55).iter().enumerate() {
                    bytes.push((read_us + j as u64 * 10_850 / 1_000, b));
                }
            }
        }
        bytes
    }

    /// Drives `door` as the main loop does: a turn on every received byte
    /// and on every millisecond tick, until `end_ms`; calls `at_ms` after
    /// each millisecond's first turn. Returns the most bytes handed over at
    /// once and the turns that took bytes.
    fn drive_turns(
        door: &mut DockDoor,
        bank: &mut RegisterBank,
        stream: &[(u64, u8)],
        end_ms: u64,
        mut at_ms: impl FnMut(u64, &mut RegisterBank),
    ) -> (usize, usize) {
        let mut queue = std::collections::VecDeque::new();
        let mut next = 0;
        let (mut most, mut handing_turns) = (0, 0);
        let mut now_us = stream.first().map_or(0, |b| b.0);
        let mut last_ms = None;
        while now_us <= end_ms * 1_000 {
            while next < stream.len() && stream[next].0 <= now_us {
                queue.push_back((stream[next].1, stream[next].0));
                next += 1;
            }
            let waiting = queue.len();
            door.turn(now_us, waiting, || queue.pop_front(), 0, bank, |_| ());
            let taken = waiting - queue.len();
            most = most.max(taken);
            handing_turns += usize::from(taken > 0);
            if last_ms != Some(now_us / 1_000) {
                last_ms = Some(now_us / 1_000);
                at_ms(now_us / 1_000, bank);
            }
            // Wake on the next byte or the next tick, whichever is first.
            let tick_us = (now_us / 1_000 + 1) * 1_000;
            now_us = stream.get(next).map_or(tick_us, |b| b.0.min(tick_us));
        }
        (most, handing_turns)
    }

    #[test]
    fn a_turn_hands_bytes_over_on_a_new_millisecond_or_a_full_batch() {
        let mut bank = RegisterBank::default();
        let (mut door, start) = reading_door(&mut bank);
        let frame = read(1, -50);
        let mut queue: std::collections::VecDeque<(u8, u64)> = std::collections::VecDeque::new();
        let t0 = (start + 1) * 1_000;
        door.turn(t0, 0, || queue.pop_front(), 0, &mut bank, |_| ());
        // Same millisecond, fewer than a batch waiting: the bytes wait.
        for (i, &b) in frame[..40].iter().enumerate() {
            queue.push_back((b, t0 + 10 * i as u64));
        }
        door.turn(
            t0 + 500,
            queue.len(),
            || queue.pop_front(),
            0,
            &mut bank,
            |_| (),
        );
        assert_eq!(queue.len(), 40);
        // A full batch is handed over within the millisecond, all of it.
        for (i, &b) in frame[40..].iter().chain(&frame).enumerate() {
            queue.push_back((b, t0 + 500 + i as u64));
        }
        assert!(queue.len() >= TURN_BATCH);
        door.turn(
            t0 + 600,
            queue.len(),
            || queue.pop_front(),
            0,
            &mut bank,
            |_| (),
        );
        assert!(queue.is_empty());
        assert_eq!(bank.counters.reads_seen, 2);
        // A byte alone goes over once the millisecond has changed.
        queue.push_back((0xFF, t0 + 700));
        door.turn(t0 + 900, 1, || queue.pop_front(), 0, &mut bank, |_| ());
        assert_eq!(queue.len(), 1);
        door.turn(t0 + 1_000, 1, || queue.pop_front(), 0, &mut bank, |_| ());
        assert!(queue.is_empty());
    }

    #[test]
    fn turns_on_every_byte_close_the_same_passes_at_the_same_times_as_per_batch_calls() {
        // The reference: every byte's bytes handed over at once and the
        // time-outs run every millisecond, as the loop did before `turn`.
        let mut reference_bank = RegisterBank::default();
        let (mut reference, start) = reading_door(&mut reference_bank);
        let stream = line_stream(start + 1);
        let end_ms = stream.last().map_or(0, |b| b.0 / 1_000) + 2_001 + 10;
        let mut reference_counts = std::vec::Vec::new();
        let mut next = 0;
        for ms in start + 1..=end_ms {
            let from = next;
            while next < stream.len() && stream[next].0 / 1_000 <= ms {
                next += 1;
            }
            for &(at_us, b) in &stream[from..next] {
                reference.on_bytes(at_us / 1_000, &[b], &mut reference_bank, |_| ());
            }
            reference.on_time(ms, 0, &mut reference_bank, |_| ());
            reference_counts.push((ms, reference_bank.ring.len()));
        }

        let mut bank = RegisterBank::default();
        let (mut door, _) = reading_door(&mut bank);
        let mut counts = std::vec::Vec::new();
        let (most, handing_turns) =
            drive_turns(&mut door, &mut bank, &stream, end_ms, |ms, bank| {
                counts.push((ms, bank.ring.len()));
            });
        // When each event appeared: the same millisecond either way.
        let growth = |counts: &[(u64, usize)]| -> std::vec::Vec<(u64, usize)> {
            counts
                .windows(2)
                .filter(|w| w[1].1 != w[0].1)
                .map(|w| w[1])
                .collect()
        };
        assert_eq!(growth(&counts), growth(&reference_counts));
        assert_eq!(bank.counters.reads_seen, 3_000);
        assert_eq!(bank.ring.len(), 100);
        for i in 0..100 {
            assert_eq!(bank.ring.get(i), reference_bank.ring.get(i));
        }
        assert_eq!(bank.reader_status, ReaderStatus::Reading);
        // One hand-over a millisecond (~92 bytes at 921600 baud), not one a byte.
        assert!(most < 2 * TURN_BATCH, "{most}");
        assert!(handing_turns < 2 * 2_100, "{handing_turns}");
    }

    #[test]
    fn a_shorter_dedup_window_closes_open_passes_at_once() {
        // The gate's cached deadline must not hold passes back after the
        // window was cut.
        let mut bank = RegisterBank::default();
        let (mut door, start) = reading_door(&mut bank);
        let stream = line_stream(start + 1);
        let first_round_end_ms = stream[100 * 47 - 1].0 / 1_000;
        let mut cut_at = None;
        let mut closed_at = None;
        drive_turns(
            &mut door,
            &mut bank,
            &stream[..100 * 47],
            first_round_end_ms + 100,
            |ms, bank| {
                if ms == first_round_end_ms + 10 {
                    bank.write_holding(gateway_registers::holding::DEDUP_WINDOW_MS, &[5])
                        .expect("a valid window");
                    cut_at = Some(ms);
                }
                if closed_at.is_none() && bank.ring.len() == 100 {
                    closed_at = Some(ms);
                }
            },
        );
        let (cut, closed) = (cut_at.expect("cut"), closed_at.expect("all closed"));
        assert!(closed <= cut + 1, "cut at {cut}, closed at {closed}");
    }

    #[test]
    fn odd_length_epcs_are_padded_and_long_ones_cut_to_fifteen_words_and_marked() {
        let pass = |bytes: &[u8]| GatePass {
            epc: EpcBytes::new(bytes).expect("fits"),
            direction: gate::Direction::Unknown,
            first_seen_ms: 5,
            last_seen_ms: 9,
            reads: 1,
            peak_rssi_dbm: -70,
            last_antenna: 1,
            closed_early: false,
        };
        let odd = event_record(1, &pass(&[0xAB, 0xCD, 0xEF]));
        assert_eq!(
            (odd.epc_words, odd.epc[0], odd.epc[1], odd.antenna),
            (2, 0xABCD, 0xEF00, 1)
        );
        assert_eq!((odd.gate, odd.timestamp_ms), (1, 9));
        let long = event_record(0, &pass(&[7; 40]));
        assert_eq!((long.epc_words, long.epc[14]), (20, 0x0707));
        assert!(long.is_truncated(), "the record says the EPC was cut");
    }
}
