//! An emulated ThingMagic Mercury reader module: answers the gateway's boot
//! commands with success, streams tag-read notifications once continuous
//! reading is on, and sends the "no tags found" keep-alive every 500 ms as
//! a real module does. Frames are built with `rfid-driver`'s codec (the
//! module side of it, which the firmware does not use). It records the line
//! rate the gateway asks for; a pty has no rate, so the line keeps working
//! either way.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rfid_driver::mercury::{
    emit, emit_tag_read, opcode, status, Direction as Wire, FrameDecoder, TagRead,
    MODULE_DEFAULT_BAUD,
};
use rfid_driver::text::EpcBytes;

use crate::{poll_until, Emulator, Port};

/// Antenna facing the yard (the gate's default).
pub const OUTSIDE_ANTENNA: u8 = 1;
/// Antenna facing the hall.
pub const INSIDE_ANTENNA: u8 = 2;
const KEEPALIVE_EVERY: Duration = Duration::from_millis(500);
/// Status word of a refused command with a bad argument.
const INVALID_ARGUMENT: u16 = 0x0105;

/// Which way a tag population moves through the gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    /// Outside antenna first.
    In,
    /// Inside antenna first.
    Out,
}

/// Frames waiting to go out, each not before its time.
type Outbox = Arc<Mutex<VecDeque<(Instant, Vec<u8>)>>>;

/// The emulated module.
pub struct Reader {
    reading: Arc<AtomicBool>,
    line_baud: Arc<AtomicU32>,
    outbox: Outbox,
    /// The serving thread; counts commands answered.
    pub emulator: Emulator,
}

/// The SGTIN-96 EPC of the brief's test vector (company prefix 0614141, item
/// 812345) with the given serial: the tag population the emulated gates use.
pub fn test_epc(serial: u16) -> [u8; 12] {
    let [high, low] = serial.to_be_bytes();
    [
        0x30, 0x74, 0x25, 0x7B, 0xF7, 0x19, 0x4E, 0x40, 0, 0, high, low,
    ]
}

/// One tag-read notification frame.
pub fn tag_read_frame(epc: &[u8], antenna: u8, rssi_dbm: i8) -> Vec<u8> {
    let read = TagRead {
        antenna,
        rssi_dbm,
        frequency_khz: 865_700,
        module_timestamp_ms: 0,
        phase_deg: 0,
        read_count: 1,
        pc: ((epc.len() as u16 / 2) << 11),
        epc: EpcBytes::new(epc).expect("EPC fits"),
    };
    let mut buf = [0u8; 300];
    let n = emit_tag_read(&read, &mut buf).expect("frame fits");
    buf[..n].to_vec()
}

fn response(opcode: u8, status: u16, data: &[u8]) -> Vec<u8> {
    let mut buf = [0u8; 300];
    let n = emit(opcode, Some(status), data, &mut buf).expect("frame fits");
    buf[..n].to_vec()
}

impl Reader {
    /// Starts the module on `pty`.
    pub fn start(pty: &str) -> Self {
        let reading = Arc::new(AtomicBool::new(false));
        let line_baud = Arc::new(AtomicU32::new(MODULE_DEFAULT_BAUD));
        let outbox: Outbox = Arc::default();
        let (on, queue) = (Arc::clone(&reading), Arc::clone(&outbox));
        let baud = Arc::clone(&line_baud);
        let mut decoder = FrameDecoder::new(Wire::ToModule);
        let mut pending = Vec::new();
        let mut last_keepalive = Instant::now();
        let emulator = Emulator::spawn(Port::open(pty), move |port| {
            let mut served = 0;
            port.read_available(&mut pending);
            let taken = decoder.push(&pending);
            pending.drain(..taken);
            while let Some(result) = decoder.poll() {
                let Ok(frame) = result else { continue };
                let mut reply_status = status::SUCCESS;
                let data: &[u8] = match frame.opcode() {
                    // Bootloader, hardware, firmware date, firmware, protocols.
                    opcode::VERSION => &[
                        1, 2, 3, 4, 0x18, 0, 0, 0, 0x20, 0x26, 0x11, 0x23, 1, 9, 0, 0, 0, 0, 0,
                        0x10,
                    ],
                    // The application firmware is running.
                    opcode::GET_CURRENT_PROGRAM => &[0x02],
                    opcode::SET_BAUD_RATE => {
                        match frame.data().try_into().map(u32::from_be_bytes) {
                            Ok(rate) => baud.store(rate, Ordering::SeqCst),
                            // Not four bytes: "invalid argument", as a module answers.
                            Err(_) => reply_status = INVALID_ARGUMENT,
                        }
                        &[]
                    }
                    opcode::MULTI_PROTOCOL_TAG_OP => {
                        // Option byte: 0x01 start continuous reading, 0x02 stop.
                        match frame.data().get(2) {
                            Some(0x01) => on.store(true, Ordering::SeqCst),
                            Some(0x02) => on.store(false, Ordering::SeqCst),
                            _ => {}
                        }
                        &[]
                    }
                    _ => &[],
                };
                port.write_all(&response(frame.opcode(), reply_status, data));
                served += 1;
            }
            if on.load(Ordering::SeqCst) {
                let now = Instant::now();
                let mut due = Vec::new();
                {
                    let mut queue = queue.lock().expect("outbox lock");
                    while queue.front().is_some_and(|(at, _)| *at <= now) {
                        if let Some((_, frame)) = queue.pop_front() {
                            due.extend_from_slice(&frame);
                        }
                    }
                }
                if !due.is_empty() {
                    port.write_all(&due);
                }
                if now.duration_since(last_keepalive) >= KEEPALIVE_EVERY {
                    port.write_all(&response(
                        opcode::READ_TAG_ID_MULTIPLE,
                        status::NO_TAGS_FOUND,
                        &[],
                    ));
                    last_keepalive = now;
                }
            }
            served
        });
        Self {
            reading,
            line_baud,
            outbox,
            emulator,
        }
    }

    /// The line rate the gateway last asked the module for, bits/s.
    pub fn line_baud(&self) -> u32 {
        self.line_baud.load(Ordering::SeqCst)
    }

    /// Waits until the gateway has started continuous reading.
    pub fn wait_reading(&self) {
        poll_until(
            Duration::from_secs(20),
            "the gateway to start reading",
            || self.reading.load(Ordering::SeqCst).then_some(()),
        );
    }

    /// Queues `frame` to go out `after` from now.
    pub fn send_after(&self, after: Duration, frame: Vec<u8>) {
        let at = Instant::now() + after;
        let mut queue = self.outbox.lock().expect("outbox lock");
        // Keep the queue in time order.
        let index = queue
            .iter()
            .position(|(t, _)| *t > at)
            .unwrap_or(queue.len());
        queue.insert(index, (at, frame));
    }

    /// Moves `epcs` through the gate: `reads_per_side` reads at the first
    /// antenna (strongest there), then as many at the second 30 ms later.
    /// Returns how many raw reads that is.
    pub fn pass(&self, epcs: &[Vec<u8>], direction: Pass, reads_per_side: usize) -> usize {
        let (first, second) = match direction {
            Pass::In => (OUTSIDE_ANTENNA, INSIDE_ANTENNA),
            Pass::Out => (INSIDE_ANTENNA, OUTSIDE_ANTENNA),
        };
        for epc in epcs {
            for i in 0..reads_per_side {
                self.send_after(Duration::ZERO, tag_read_frame(epc, first, -50 - i as i8));
                self.send_after(
                    Duration::from_millis(30),
                    tag_read_frame(epc, second, -60 - i as i8),
                );
            }
        }
        epcs.len() * reads_per_side * 2
    }

    /// Whether every queued frame has gone out.
    pub fn sent_all(&self) -> bool {
        self.outbox.lock().expect("outbox lock").is_empty()
    }
}
