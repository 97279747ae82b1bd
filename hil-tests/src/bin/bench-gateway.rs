//! `cargo xtask bench-gateway`: the gateway firmware's figures for
//! BENCHMARKS.md. Boots the QEMU build and measures, over its Modbus pty,
//! the unpaced rate of full 125-register polls and the turnaround from the
//! request's last byte to the reply's first; reads flash and RAM from the
//! linker map. QEMU's ptys are not paced at 115200 baud: the unpaced rate is
//! what the firmware sustains when bytes arrive as fast as QEMU delivers
//! them; the wire-limited rate at 115200 is computed from the wire time and
//! the measured turnaround beyond t3.5.

use std::time::{Duration, Instant};

use hil_tests::modbus::{frame, Master};
use hil_tests::{firmware_elf, footprint, Gateway, Port};

const POLLS: usize = 2_000;
/// How long the bench waits before counting a poll as lost and sending again.
const LOST_AFTER: Duration = Duration::from_millis(100);
/// A 125-register read: 8 request bytes, 255 reply bytes.
const REQUEST_BYTES: u64 = 8;
const REPLY_BYTES: usize = 255;
/// Characters are 11 bits on the wire (start, 8 data, parity or a second
/// stop bit, stop), as the Modbus serial line specification counts them.
const BITS_PER_CHAR: u64 = 11;
const BAUD: u64 = 115_200;
const T35_US: u64 = 1_750;
const TICK_US: u64 = 1_000;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let elf = firmware_elf();
    let map = std::fs::read_to_string(elf.with_file_name("gateway.map")).expect("linker map");
    let fp = footprint(&map);

    let gateway = Gateway::boot();
    Master::open(&gateway.modbus_pty).wait_link();
    let mut port = Port::open(&gateway.modbus_pty);
    let request = frame(&[1, 4, 0, 0, 0, 125]);
    let mut turnaround = Vec::with_capacity(POLLS);
    let mut lost = 0;
    let started = Instant::now();
    while turnaround.len() < POLLS {
        port.write_all(&request);
        let sent = Instant::now();
        let mut reply = Vec::with_capacity(REPLY_BYTES);
        let mut first_byte = None;
        // A master's reply timeout: a split request gets no answer.
        let deadline = sent + LOST_AFTER;
        while reply.len() < REPLY_BYTES && Instant::now() < deadline {
            if port.read_available(&mut reply) > 0 && first_byte.is_none() {
                first_byte = Some(sent.elapsed());
            }
        }
        match (reply.len(), first_byte) {
            (REPLY_BYTES, Some(t)) => turnaround.push(t),
            (0, _) => lost += 1,
            (n, _) => panic!("a reply of {n} bytes; console:\n{}", gateway.console()),
        }
        assert!(lost < POLLS / 10, "over 10 % of polls lost");
    }
    let elapsed = started.elapsed();
    turnaround.sort();
    let unpaced = POLLS as f64 / elapsed.as_secs_f64();
    let p50 = percentile(&turnaround, 0.5);
    let p99 = percentile(&turnaround, 0.99);
    // The wire: request, t3.5, reply, t3.5 before the next request.
    let wire_us =
        (REQUEST_BYTES + REPLY_BYTES as u64) * BITS_PER_CHAR * 1_000_000 / BAUD + 2 * T35_US;
    // The firmware answers at the first 1 ms tick after t3.5 of silence,
    // so it adds at most one tick to the wire time (by construction; the
    // host-side turnaround also contains QEMU's byte-by-byte pty delivery).
    let paced = 1e6 / (wire_us + TICK_US) as f64;
    let limit = 1e6 / wire_us as f64;
    println!("gateway-firmware bench ({POLLS} polls of 125 input registers, QEMU netduinoplus2)");
    println!("unpaced poll rate over the QEMU pty: {unpaced:.0} polls/s ({lost} lost and resent after {LOST_AFTER:?})");
    println!("turnaround, host writes request -> first reply byte: p50 {p50:.2?}, p99 {p99:.2?} (includes QEMU's pty delivery of the 8 request bytes and t3.5 = 1.75 ms)");
    println!(
        "wire limit at 115200: {limit:.1} polls/s ({:.1} ms each); plus the firmware's at most 1 ms tick latency: >= {paced:.1} polls/s = {:.0} % of the limit (computed, not paced)",
        wire_us as f64 / 1e3,
        100.0 * paced / limit
    );
    println!(
        "flash {} B ({:.1} KiB of 256 KiB budget), static RAM {} B ({:.1} KiB of 64 KiB budget)",
        fp.flash_bytes,
        fp.flash_bytes as f64 / 1024.0,
        fp.static_ram_bytes,
        fp.static_ram_bytes as f64 / 1024.0
    );
}
