//! Reads benchmark: a discrete-event simulation of the gateway's main loop
//! at line pace, on the firmware's own code, with QEMU counting
//! instructions (`-icount shift=0`: the SysTick clock advances 1 ns an
//! executed instruction).
//!
//! QEMU's USART takes one byte per host main-loop turn, so over a pty the
//! firmware never sees more than ~150 reads/s. Here 3,000 Mercury tag-read
//! notifications (100 EPCs, 15 reads on the outside antenna then 15 on the
//! inside one, 47 bytes each) arrive on a simulated clock at `rate` reads/s
//! (default 1,500), each frame's bytes 10.85 µs apart as at 921600 baud.
//! (Above ~1,960 reads/s 921600 baud cannot carry the frames; the bytes are
//! then spread evenly over the read interval, as on a faster line.)
//!
//! The simulated gateway does what the real one does: every received byte
//! runs the receive interrupt's body (clock read, push into the reader's
//! [`RxQueue`] under a critical section), and the main loop runs the same
//! pass as `src/bin/gateway.rs` — watchdog kick, lost-byte counts, the
//! Modbus and scale queues (idle here), [`RtuSlave::on_time`],
//! [`ScaleClient::poll`] and the shared [`DockDoor::turn`] — then sleeps
//! as `board.sleep_until_work` does: until a tick or a batch of reader
//! bytes, each byte in between costing its interrupt and one look.
//! Each pass and interrupt body is timed on the SysTick; the simulated
//! clock advances by its instructions × `cpi` cycles at 168 MHz, plus
//! fixed cycles per interrupt the code does not show:
//!
//! - USART receive: 22 cycles of exception entry and exit (12 + 10, ARM's
//!   Cortex-M4 technical reference manual) and 4 peripheral reads (SR, DR,
//!   SR again to find it empty, and one more for margin) at 6 cycles each
//!   (assumed: an APB1 access from the 168 MHz core crosses the AHB/APB
//!   bridge to a 42 MHz bus, at least one APB1 clock of 4 core cycles plus
//!   the bridge);
//! - SysTick: 22 cycles of entry and exit plus 30 instructions (assumed) a
//!   millisecond.
//!
//! The idle scale is polled every 200 ms, and the board's `scale_tx` waits
//! for its 4 bytes to leave at 9600 baud (4.2 ms): that wait is simulated
//! as busy time too. Settings saving is not in the pass (its check is one
//! comparison while nothing changed).
//!
//! The semihosting command line sets the CPI and the rate
//! (`-semihosting-config enable=on,target=native,arg=bench-reads,arg=cpi=2,arg=rate=1500`;
//! defaults 2 and 1,500). It prints one `bench-reads:` line: reads, events,
//! distinct EPCs, bytes dropped by a full queue, the deepest the queue got,
//! the CPU's busy share while the reads arrive, the loop's instructions per
//! read, and a calibration (a loop of known instruction count, timed the
//! same way) so a test can check that 1 ns is 1 instruction. It exits QEMU
//! with status 0 when every EPC came out as exactly one inbound event, no
//! byte was dropped and the reader session was still reading at the end; 1
//! otherwise. Run by `cargo xtask bench-gateway` and checked by a hil-test.
//! QEMU is not cycle-accurate: the figures are counted instructions times
//! an assumed CPI.
#![no_std]
#![no_main]

// The bench uses the board's tick, clock, command line and failure path,
// not its UARTs.
#[allow(dead_code)]
#[path = "../board.rs"]
mod board;
// The failure path logs with defmt.
#[allow(dead_code)]
#[path = "../logging.rs"]
mod logging;

use core::cell::RefCell;

use cortex_m::peripheral::SYST;
use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hprintln};
use critical_section::Mutex;
use gateway_firmware::bank::RegisterBank;
use gateway_firmware::modbus::RtuSlave;
use gateway_firmware::reader::{DockDoor, ToReader, TURN_BATCH};
use gateway_firmware::rtu::t35_us;
use gateway_firmware::rx::RxQueue;
use gateway_firmware::scale::ScaleClient;
use gateway_registers::{Direction, ReaderStatus};
use rfid_driver::mercury::{
    emit, emit_tag_read, opcode, status, Direction as Wire, FrameDecoder, TagRead,
};
use rfid_driver::text::EpcBytes;

/// Unique EPCs in the run.
const TAGS: u16 = 100;
/// Raw reads of each EPC: the first half on the outside antenna (1), the
/// second half on the inside one (2).
const READS_PER_TAG: u16 = 30;
/// Largest tag-read notification this bench builds.
const FRAME_MAX: usize = 64;

/// Simulated time is in picoseconds.
const PS_PER_MS: u64 = 1_000_000_000;
/// A byte on the reader line: 10 bits at 921600 baud (10.85 µs).
const LINE_BYTE_PS: u64 = 10 * 1_000_000_000_000 / 921_600;
/// A byte on the scale line: 10 bits at 9600 baud.
const SCALE_BYTE_PS: u64 = 10 * 1_000_000_000_000 / 9_600;
/// One byte (8N1) at the Modbus line's 115200 baud, in picoseconds.
const MODBUS_BYTE_PS: u64 = 10 * 1_000_000_000_000 / 115_200;
/// The master's poll: read the 125 input registers from 0 (the longest
/// reply, 255 bytes), CRC appended when the bench starts.
const POLL: [u8; 6] = [1, 4, 0, 0, 0, 125];
/// What a master waits after a reply before its next request (t3.5).
const MASTER_GAP_PS: u64 = 1_750 * 1_000_000;
/// Core clock, MHz.
const CORE_MHZ: u64 = 168;
/// Exception entry and exit, cycles (Cortex-M4 TRM: 12 in, 10 out).
const EXCEPTION_CYCLES: u64 = 22;
/// USART peripheral reads a received byte and cycles each (assumed, see above).
const USART_READS: u64 = 4;
const APB1_READ_CYCLES: u64 = 6;
/// The SysTick handler's body, instructions (assumed).
const SYSTICK_INSTRUCTIONS: u64 = 30;

/// A notification of each EPC on each antenna, built once.
static FRAMES: Mutex<RefCell<[[u8; FRAME_MAX]; 2 * TAGS as usize]>> =
    Mutex::new(RefCell::new([[0; FRAME_MAX]; 2 * TAGS as usize]));

/// Receive queues as the board keeps them (the Modbus and scale ones stay
/// empty: an idle bank).
type Rx<const N: usize> = Mutex<RefCell<RxQueue<N>>>;
static MODBUS_RX: Rx<512> = Mutex::new(RefCell::new(RxQueue::new()));
static READER_RX: Rx<{ board::READER_RX_LEN }> = Mutex::new(RefCell::new(RxQueue::new()));
static SCALE_RX: Rx<128> = Mutex::new(RefCell::new(RxQueue::new()));

/// What the command line asks for.
struct Settings {
    /// Cycles an instruction, thousandths.
    cpi_milli: u64,
    /// Reads a second.
    rate: u64,
    /// Whether a Modbus master polls back to back meanwhile (`modbus=1`;
    /// `modbus=0` leaves the line idle).
    modbus: bool,
}

/// `cpi=`, `rate=` and `modbus=` from the semihosting command line.
fn settings() -> Settings {
    let mut buf = [0u8; 96];
    let mut settings = Settings {
        cpi_milli: 2_000,
        rate: 1_500,
        modbus: true,
    };
    for word in board::command_line(&mut buf).split(' ') {
        if let Some(cpi) = word.strip_prefix("cpi=") {
            settings.cpi_milli = parse_milli(cpi)
                .filter(|&c| c > 0)
                .unwrap_or_else(|| board::fail!("FAILED: bench: bad {=str}", word));
        } else if let Some(rate) = word.strip_prefix("rate=") {
            settings.rate = rate
                .parse()
                .ok()
                .filter(|&r| r > 0)
                .unwrap_or_else(|| board::fail!("FAILED: bench: bad {=str}", word));
        } else if let Some(on) = word.strip_prefix("modbus=") {
            settings.modbus = match on {
                "1" => true,
                "0" => false,
                _ => board::fail!("FAILED: bench: bad {=str}", word),
            };
        }
    }
    settings
}

/// "1.5" → 1500: a decimal with at most three places, in thousandths.
fn parse_milli(text: &str) -> Option<u64> {
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    if frac.len() > 3 || (whole.is_empty() && frac.is_empty()) {
        return None;
    }
    let digits = |t: &str| -> Option<u64> {
        if t.is_empty() {
            Some(0)
        } else if t.bytes().all(|b| b.is_ascii_digit()) {
            t.parse().ok()
        } else {
            None
        }
    };
    let scale = [1_000, 100, 10, 1][frac.len()];
    Some(digits(whole)?.checked_mul(1_000)? + digits(frac)? * scale)
}

/// Virtual core cycles `f` took (with `-icount shift=0`: 0.168 an
/// instruction), for sections shorter than a millisecond.
///
/// Read off the SysTick's current value, modulo its 1 ms period: QEMU
/// reloads the counter a little before the tick's interrupt is pending, so
/// `board::now_cycles` may step back by a millisecond for a few
/// instructions. That coarse clock only checks the section was short.
fn cycles_of(f: impl FnOnce()) -> u64 {
    const PERIOD: u32 = board::SYSCLK_HZ / 1_000;
    let (c0, t0) = (SYST::get_current(), board::now_cycles());
    f();
    let (t1, c1) = (board::now_cycles(), SYST::get_current());
    if t1.wrapping_sub(t0) > u64::from(PERIOD) * 3 / 2 && t0.wrapping_sub(t1) > u64::from(PERIOD) {
        board::fail!("FAILED: bench: a timed section took over a millisecond");
    }
    u64::from((c0 + PERIOD - c1) % PERIOD)
}

/// Executed instructions in `cycles` of virtual time, less the timing's own.
fn instructions(cycles: u64, overhead: u64) -> u64 {
    (cycles * 1_000 / CORE_MHZ).saturating_sub(overhead)
}

/// Instructions a [`cycles_of`] of nothing counts, averaged.
fn timing_overhead() -> u64 {
    const RUNS: u64 = 1_000;
    let total: u64 = (0..RUNS).map(|_| cycles_of(|| {})).sum();
    total * 1_000 / CORE_MHZ / RUNS
}

/// A countdown loop of two instructions an iteration (`subs`, `bne`),
/// timed: (instructions, virtual ns).
#[allow(unsafe_code)]
fn calibrate() -> (u64, u64) {
    // 0.8 ms: timed like the passes, within one SysTick period.
    const ITERATIONS: u32 = 400_000;
    let cycles = cycles_of(|| {
        // SAFETY: registers only; no memory or stack is touched.
        unsafe {
            core::arch::asm!(
                "2:",
                "subs {n}, {n}, #1",
                "bne 2b",
                n = inout(reg) ITERATIONS => _,
                options(nomem, nostack),
            );
        }
    });
    (2 * u64::from(ITERATIONS), cycles * 1_000 / CORE_MHZ)
}

/// The simulated line: when each byte arrives and which it is.
struct Line {
    start_ps: u64,
    read_ps: u64,
    byte_ps: u64,
    frame_len: usize,
    total: usize,
}

impl Line {
    fn new(start_ps: u64, rate: u64, frame_len: usize) -> Self {
        let read_ps = 1_000_000_000_000 / rate;
        Line {
            start_ps,
            read_ps,
            byte_ps: LINE_BYTE_PS.min(read_ps / frame_len as u64),
            frame_len,
            total: frame_len * usize::from(TAGS) * usize::from(READS_PER_TAG),
        }
    }

    /// When byte `i` of the run has arrived.
    fn arrival_ps(&self, i: usize) -> u64 {
        let (read, j) = (i / self.frame_len, i % self.frame_len);
        self.start_ps + read as u64 * self.read_ps + (j as u64 + 1) * self.byte_ps
    }

    /// Byte `i` of the run: read `i / frame_len` is EPC `read % TAGS`, on
    /// the outside antenna for the first half of the rounds.
    fn byte(&self, frames: &[[u8; FRAME_MAX]], i: usize) -> u8 {
        let (read, j) = (i / self.frame_len, i % self.frame_len);
        let (round, serial) = (read / usize::from(TAGS), read % usize::from(TAGS));
        let antenna = if round < usize::from(READS_PER_TAG / 2) {
            0
        } else {
            1
        };
        frames[2 * serial + antenna][j]
    }
}

/// The simulation's clock and what it counts.
#[derive(Default)]
struct Sim {
    now_ps: u64,
    next_tick_ps: u64,
    /// The next byte of the run to arrive.
    next_byte: usize,
    /// SysTick interrupts so far (the board's `ticks`).
    ticks: u64,
    passes: u64,
    loop_instructions: u64,
    isr_instructions: u64,
    busy_ps: u64,
    /// `busy_ps` when the last byte had arrived.
    busy_stream_ps: u64,
    scale_wait_ps: u64,
    max_queue: usize,
    /// When the master's current request starts, and how many of its
    /// bytes have arrived.
    poll_at_ps: u64,
    poll_bytes_in: usize,
    polls_answered: u64,
    modbus_wait_ps: u64,
}

#[entry]
fn main() -> ! {
    let _board = board::Board::init();
    let settings = settings();
    let (calib_instructions, calib_ns) = calibrate();
    let overhead = timing_overhead();
    let bank = cortex_m::singleton!(: RegisterBank = RegisterBank::default())
        .unwrap_or_else(|| board::fail!("FAILED: main entered twice"));
    let door = cortex_m::singleton!(: DockDoor = DockDoor::new(0, 0, board::READER_BAUD, bank))
        .unwrap_or_else(|| board::fail!("FAILED: main entered twice"));
    let mut modbus = RtuSlave::new(t35_us(board::MODBUS_BAUD));
    let mut scale = ScaleClient::new();
    let start_ms = boot_reader(door, bank);
    let frame_len = build_frames();
    let frames = critical_section::with(|cs| *FRAMES.borrow_ref(cs));

    let line = Line::new((start_ms + 1) * PS_PER_MS, settings.rate, frame_len);
    let last_ps = line.arrival_ps(line.total - 1);
    // Every pass closes a window after its EPC's last read; stop just
    // after, before the session's 3 s stall deadline.
    let end_ps = last_ps + (u64::from(bank.config().dedup_window_ms) + 2) * PS_PER_MS;
    let cycles_ps = |millicycles: u64| millicycles * 1_000 / CORE_MHZ;
    let isr_fixed_ps = cycles_ps(1_000 * (EXCEPTION_CYCLES + USART_READS * APB1_READ_CYCLES));
    let systick_ps =
        cycles_ps(1_000 * EXCEPTION_CYCLES + SYSTICK_INSTRUCTIONS * settings.cpi_milli);
    let mut t = Sim {
        now_ps: line.start_ps,
        next_tick_ps: (line.start_ps / PS_PER_MS + 1) * PS_PER_MS,
        poll_at_ps: if settings.modbus {
            line.start_ps
        } else {
            u64::MAX
        },
        ..Sim::default()
    };
    let mut request = [0u8; POLL.len() + 2];
    request[..POLL.len()].copy_from_slice(&POLL);
    request[POLL.len()..].copy_from_slice(&gateway_firmware::crc::crc16(&POLL).to_le_bytes());
    // `poll_at_ps` is u64::MAX without a master: never due.
    let request_byte_at = |t: &Sim| {
        t.poll_at_ps
            .saturating_add((t.poll_bytes_in as u64 + 1) * MODBUS_BYTE_PS)
    };
    let mut rx_dropped_seen = [0u32; 3];

    // Interrupts due by `now_ps`: each costs time, which may let more come.
    let interrupts = |t: &mut Sim| loop {
        if t.now_ps >= t.next_tick_ps {
            t.ticks += 1;
            t.now_ps += systick_ps;
            t.busy_ps += systick_ps;
            t.next_tick_ps += PS_PER_MS;
        } else if t.poll_bytes_in < request.len() && request_byte_at(t) <= t.now_ps {
            // A byte of the master's request: USART1's interrupt body.
            let byte = core::hint::black_box(request[t.poll_bytes_in]);
            let at_us = core::hint::black_box(request_byte_at(t) / 1_000_000);
            let cycles = cycles_of(|| {
                let _ = board::now_us();
                critical_section::with(|cs| MODBUS_RX.borrow_ref_mut(cs).push(byte, at_us));
            });
            let cost =
                isr_fixed_ps + cycles_ps(instructions(cycles, overhead) * settings.cpi_milli);
            t.now_ps += cost;
            t.busy_ps += cost;
            t.poll_bytes_in += 1;
        } else if t.next_byte < line.total && line.arrival_ps(t.next_byte) <= t.now_ps {
            // Computed before the timing starts (`black_box`: the compiler
            // must not sink the simulation's own arithmetic into it).
            let byte = core::hint::black_box(line.byte(&frames, t.next_byte));
            let at_us = core::hint::black_box(line.arrival_ps(t.next_byte) / 1_000_000);
            // The receive interrupt's body: stamp, push.
            let cycles = cycles_of(|| {
                let _ = board::now_us();
                critical_section::with(|cs| READER_RX.borrow_ref_mut(cs).push(byte, at_us));
            });
            let n = instructions(cycles, overhead);
            t.isr_instructions += n;
            let cost = isr_fixed_ps + cycles_ps(n * settings.cpi_milli);
            t.now_ps += cost;
            t.busy_ps += cost;
            t.next_byte += 1;
            if t.next_byte == line.total {
                t.busy_stream_ps = t.busy_ps;
            }
            let depth = critical_section::with(|cs| READER_RX.borrow_ref(cs).len());
            t.max_queue = t.max_queue.max(depth);
        } else {
            break;
        }
    };

    while t.now_ps < end_ps {
        interrupts(&mut t);
        board::kick_watchdog();
        let tick = t.ticks;
        let now_us = core::hint::black_box(t.now_ps / 1_000_000);
        let mut scale_bytes = 0;
        let mut reply_bytes = 0;
        // One pass of the main loop, as in src/bin/gateway.rs.
        let cycles = cycles_of(|| {
            board::kick_watchdog();
            let rx_dropped = critical_section::with(|cs| {
                [
                    MODBUS_RX.borrow_ref(cs).dropped(),
                    READER_RX.borrow_ref(cs).dropped(),
                    SCALE_RX.borrow_ref(cs).dropped(),
                ]
            });
            let lost = |n: usize| rx_dropped[n].wrapping_sub(rx_dropped_seen[n]);
            let c = &mut bank.counters;
            c.frames_malformed = c.frames_malformed.wrapping_add(lost(0));
            c.scale_line_errors = c.scale_line_errors.wrapping_add(lost(2));
            rx_dropped_seen = rx_dropped;
            while let Some((byte, at_us)) = pop(&MODBUS_RX, now_us) {
                modbus.on_byte(byte, at_us, bank, |reply| reply_bytes = reply.len());
            }
            while let Some((byte, _)) = pop(&SCALE_RX, now_us) {
                scale.push(byte, bank);
            }
            // The board's clock is read; the simulated one is used.
            let _ = board::now_us();
            let now_ms = now_us / 1_000;
            bank.uptime_ms = now_ms;
            modbus.on_time(now_us, bank, |reply| reply_bytes = reply.len());
            scale.poll(now_ms, bank, |command| scale_bytes = command.len());
            let waiting = critical_section::with(|cs| READER_RX.borrow_ref(cs).len());
            door.turn(
                now_us,
                waiting,
                || pop(&READER_RX, now_us),
                rx_dropped[1],
                bank,
                |_: ToReader<'_>| {},
            );
        });
        let n = instructions(cycles, overhead);
        t.passes += 1;
        t.loop_instructions += n;
        // `modbus_tx` and `scale_tx` return once their bytes have left the
        // line; the loop waits meanwhile (interrupts go on).
        let scale_wait_ps = scale_bytes as u64 * SCALE_BYTE_PS;
        t.scale_wait_ps += scale_wait_ps;
        let modbus_wait_ps = reply_bytes as u64 * MODBUS_BYTE_PS;
        t.modbus_wait_ps += modbus_wait_ps;
        let cost = cycles_ps(n * settings.cpi_milli) + scale_wait_ps + modbus_wait_ps;
        t.now_ps += cost;
        t.busy_ps += cost;
        if reply_bytes > 0 {
            // The master polls again t3.5 after the reply's end.
            t.polls_answered += 1;
            t.poll_at_ps = t.now_ps + MASTER_GAP_PS;
            t.poll_bytes_in = 0;
        }
        interrupts(&mut t);
        // `board.sleep_until_work`: look (timed), sleep until the next
        // byte or tick, look again.
        loop {
            interrupts(&mut t);
            let ticks = core::hint::black_box(t.ticks);
            let mut work = false;
            let cycles = cycles_of(|| {
                work = critical_section::with(|cs| {
                    ticks != tick
                        || !MODBUS_RX.borrow_ref(cs).is_empty()
                        || READER_RX.borrow_ref(cs).len() >= TURN_BATCH
                        || !SCALE_RX.borrow_ref(cs).is_empty()
                });
            });
            let n = instructions(cycles, overhead);
            t.loop_instructions += n;
            let cost = cycles_ps(n * settings.cpi_milli);
            t.now_ps += cost;
            t.busy_ps += cost;
            if work || t.now_ps >= end_ps {
                break;
            }
            let next_reader = if t.next_byte < line.total {
                line.arrival_ps(t.next_byte)
            } else {
                u64::MAX
            };
            let next_request = if t.poll_bytes_in < request.len() {
                request_byte_at(&t)
            } else {
                u64::MAX
            };
            let next_arrival = next_reader.min(next_request);
            t.now_ps = t.now_ps.max(next_arrival.min(t.next_tick_ps));
        }
    }

    let reads = u64::from(TAGS) * u64::from(READS_PER_TAG);
    let (events, inbound, distinct) = check_events(bank);
    let dropped = critical_section::with(|cs| READER_RX.borrow_ref(cs).dropped());
    let reading = bank.reader_status == ReaderStatus::Reading;
    let ok = bank.counters.reads_seen == reads as u32
        && events == usize::from(TAGS)
        && inbound == events
        && distinct == usize::from(TAGS)
        && dropped == 0
        && reading;
    let stream_ps = last_ps - line.start_ps;
    hprintln!(
        "bench-reads: rate={} cpi={}.{:03} reads={} bytes={} events={} inbound={} distinct_epcs={} reads_seen={} dropped={} max_queue={} busy_permille={} passes={} loop_instructions={} instructions_per_read={} isr_instructions_per_byte={} scale_wait_us={} modbus_polls={} modbus_wait_us={} reader={:?} calib_instructions={} calib_ns={} ok={}",
        settings.rate,
        settings.cpi_milli / 1_000,
        settings.cpi_milli % 1_000,
        reads,
        line.total,
        events,
        inbound,
        distinct,
        bank.counters.reads_seen,
        dropped,
        t.max_queue,
        t.busy_stream_ps * 1_000 / stream_ps,
        t.passes,
        t.loop_instructions,
        t.loop_instructions / reads,
        t.isr_instructions / line.total as u64,
        t.scale_wait_ps / 1_000_000,
        t.polls_answered,
        t.modbus_wait_ps / 1_000_000,
        bank.reader_status,
        calib_instructions,
        calib_ns,
        ok
    );
    debug::exit(if ok {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    loop {
        cortex_m::asm::wfi();
    }
}

/// The board's reader pop (`board.rs`, `pop_at`): a critical section, with
/// the time read once per pass by the caller (here the simulated `now_us`).
fn pop<const N: usize>(queue: &Rx<N>, now_us: u64) -> Option<(u8, u64)> {
    critical_section::with(|cs| queue.borrow_ref_mut(cs).pop(now_us))
}

/// Answers every command the door's session sends as a module in its
/// application firmware would, until the session reads; returns the time.
fn boot_reader(door: &mut DockDoor, bank: &mut RegisterBank) -> u64 {
    let mut decoder = FrameDecoder::new(Wire::ToModule);
    let mut replies = heapless::Vec::<u8, 512>::new();
    let mut line = |out: ToReader<'_>| {
        if let ToReader::Send(bytes) = out {
            decoder.push(bytes);
        }
    };
    door.on_time(0, 0, bank, &mut line);
    let mut now_ms = 0;
    while bank.reader_status != ReaderStatus::Reading {
        if now_ms > 100 {
            board::fail!("FAILED: bench: the reader session did not boot");
        }
        replies.clear();
        while let Some(Ok(frame)) = decoder.poll() {
            let data: &[u8] = match frame.opcode() {
                opcode::VERSION => &[0; 20],
                opcode::GET_CURRENT_PROGRAM => &[0x02],
                _ => &[],
            };
            let mut buf = [0u8; 64];
            let n =
                emit(frame.opcode(), Some(status::SUCCESS), data, &mut buf).unwrap_or_else(|e| {
                    board::fail!("FAILED: bench: reply: {}", defmt::Debug2Format(&e))
                });
            let _ = replies.extend_from_slice(&buf[..n]);
        }
        now_ms += 1;
        door.on_bytes(now_ms, &replies, bank, |out| {
            if let ToReader::Send(bytes) = out {
                decoder.push(bytes);
            }
        });
    }
    now_ms
}

/// Fills [`FRAMES`]: EPC `serial` on antenna `a` at index `2 * serial + a - 1`.
fn build_frames() -> usize {
    let mut len = 0;
    critical_section::with(|cs| {
        let mut frames = FRAMES.borrow_ref_mut(cs);
        for serial in 0..TAGS {
            for antenna in 1..=2u8 {
                let mut epc = [0x30, 0x74, 0x25, 0x7B, 0xF7, 0x19, 0x4E, 0x40, 0, 0, 0, 0];
                epc[10..].copy_from_slice(&serial.to_be_bytes());
                let read = TagRead {
                    antenna,
                    rssi_dbm: -55,
                    frequency_khz: 865_700,
                    module_timestamp_ms: 0,
                    phase_deg: 0,
                    read_count: 1,
                    pc: 0x3000,
                    epc: EpcBytes::new(&epc).unwrap_or_else(|| board::fail!("FAILED: bench: EPC")),
                };
                let frame = &mut frames[2 * usize::from(serial) + usize::from(antenna) - 1];
                len = emit_tag_read(&read, frame).unwrap_or_else(|e| {
                    board::fail!("FAILED: bench: frame: {}", defmt::Debug2Format(&e))
                });
            }
        }
    });
    len
}

/// Events in the ring: how many, how many inbound, how many distinct EPCs.
fn check_events(bank: &RegisterBank) -> (usize, usize, usize) {
    let mut seen = [false; TAGS as usize];
    let (mut events, mut inbound, mut distinct) = (0, 0, 0);
    while let Some(event) = bank.ring.get(events) {
        events += 1;
        if event.direction == Direction::In {
            inbound += 1;
        }
        let serial = usize::from(event.epc[5]);
        if serial < seen.len() && !seen[serial] {
            seen[serial] = true;
            distinct += 1;
        }
    }
    (events, inbound, distinct)
}
