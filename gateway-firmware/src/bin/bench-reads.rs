//! Reads benchmark: the CPU cost of a raw tag read in this firmware, counted
//! in executed instructions by QEMU.
//!
//! QEMU's USART takes one byte per host main-loop turn, so over a pty the
//! firmware never sees more than ~150 reads/s and its CPU idles. This
//! binary instead plays 3,000 tag-read notifications (100 EPCs, 15 reads on
//! the outside antenna then 15 on the inside one) from RAM through the same
//! code a received byte takes — timestamped into the reader's receive queue
//! as the USART interrupt does, popped in 64-byte batches as the main loop
//! does, into the dock door (Mercury session, gate, event ring) — and
//! measures the time on the SysTick clock. Run with `-icount shift=0`,
//! QEMU advances that clock by exactly 1 ns per executed instruction, so a
//! microsecond of measured time is 1,000 instructions.
//!
//! It prints one `bench-reads:` line and exits QEMU with status 0 when
//! every EPC came out as exactly one inbound event, 1 otherwise. Run by
//! `cargo xtask bench-gateway` and checked by a hil-test.
#![no_std]
#![no_main]

// The bench uses the board's tick, clock and failure path, not its UARTs.
#[allow(dead_code)]
#[path = "../board.rs"]
mod board;
// The failure path logs with defmt.
#[allow(dead_code)]
#[path = "../logging.rs"]
mod logging;

use core::cell::RefCell;

use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hprintln};
use critical_section::Mutex;
use gateway_firmware::bank::RegisterBank;
use gateway_firmware::reader::{DockDoor, ToReader};
use gateway_firmware::rx::RxQueue;
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
/// Simulated arrival rate of the reads, as the gate sees their times.
const READS_PER_S: u64 = 1_500;

/// A notification of each EPC on each antenna, built once.
static FRAMES: Mutex<RefCell<[[u8; FRAME_MAX]; 2 * TAGS as usize]>> =
    Mutex::new(RefCell::new([[0; FRAME_MAX]; 2 * TAGS as usize]));
/// The reader's receive queue, as the board keeps it.
static READER_RX: Mutex<RefCell<RxQueue<1024>>> = Mutex::new(RefCell::new(RxQueue::new()));

#[entry]
fn main() -> ! {
    let _board = board::Board::init();
    let bank = cortex_m::singleton!(: RegisterBank = RegisterBank::default())
        .unwrap_or_else(|| board::fail!("FAILED: main entered twice"));
    let door = cortex_m::singleton!(: DockDoor = DockDoor::new(0, 0, board::READER_BAUD, bank))
        .unwrap_or_else(|| board::fail!("FAILED: main entered twice"));
    let start_ms = boot_reader(door, bank);
    let frame_len = build_frames();

    // Pass 1: bytes through the queue only, to separate that cost.
    let t0 = board::now_us();
    let queued = play(frame_len, |_, _| {});
    let t1 = board::now_us();
    // Pass 2: the whole path, reads timed at READS_PER_S for the gate.
    let mut read_index = 0u64;
    let played = play(frame_len, |batch, ends_read| {
        let at_ms = start_ms + read_index * 1_000 / READS_PER_S;
        door.on_bytes(at_ms, batch, bank, |_| {});
        if ends_read {
            read_index += 1;
        }
    });
    let t2 = board::now_us();
    let end_ms = start_ms + read_index * 1_000 / READS_PER_S;
    door.on_time(
        end_ms + 2 * u64::from(bank.config().dedup_window_ms) + 1,
        0,
        bank,
        |_| {},
    );
    let t3 = board::now_us();

    let reads = u64::from(TAGS) * u64::from(READS_PER_TAG);
    let (events, inbound, distinct) = check_events(bank);
    let ok = queued == played
        && bank.counters.reads_seen == reads as u32
        && events == usize::from(TAGS)
        && inbound == events
        && distinct == usize::from(TAGS);
    // With -icount shift=0 one measured nanosecond is one instruction.
    hprintln!(
        "bench-reads: reads={} bytes={} events={} inbound={} distinct_epcs={} reads_seen={} queue_ns={} full_ns={} close_ns={} ok={}",
        reads,
        played,
        events,
        inbound,
        distinct,
        bank.counters.reads_seen,
        (t1 - t0) * 1_000,
        (t2 - t1) * 1_000,
        (t3 - t2) * 1_000,
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

/// Plays every read of the run through the reader's receive queue: each
/// frame's bytes are pushed as the USART interrupt pushes them, then popped
/// in batches of up to 64 as the main loop pops them and handed to
/// `consume` (with whether the batch ends a read). Returns the bytes played.
fn play(frame_len: usize, mut consume: impl FnMut(&[u8], bool)) -> usize {
    let mut played = 0;
    for round in 0..READS_PER_TAG {
        let antenna = if round < READS_PER_TAG / 2 { 1 } else { 2 };
        for serial in 0..TAGS {
            board::kick_watchdog();
            let mut frame = [0u8; FRAME_MAX];
            critical_section::with(|cs| {
                frame = FRAMES.borrow_ref(cs)[2 * usize::from(serial) + antenna - 1];
            });
            for &byte in &frame[..frame_len] {
                let at = board::now_us();
                critical_section::with(|cs| READER_RX.borrow_ref_mut(cs).push(byte, at));
            }
            let mut batch = [0u8; 64];
            loop {
                let mut n = 0;
                while n < batch.len() {
                    let popped = critical_section::with(|cs| {
                        READER_RX.borrow_ref_mut(cs).pop(board::now_us())
                    });
                    let Some((byte, _)) = popped else { break };
                    batch[n] = byte;
                    n += 1;
                }
                if n == 0 {
                    break;
                }
                played += n;
                let empty = critical_section::with(|cs| READER_RX.borrow_ref(cs).is_empty());
                consume(&batch[..n], empty);
            }
        }
    }
    played
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
