//! `cargo xtask bench-gateway`: the gateway firmware's figures for
//! BENCHMARKS.md. Boots the QEMU build and measures, over its Modbus pty,
//! the unpaced rate of full 125-register polls and the turnaround from the
//! request's last byte to the reply's first; reads flash and RAM from the
//! linker map. QEMU's ptys are not paced at 115200 baud: the unpaced rate is
//! what the firmware sustains when bytes arrive as fast as QEMU delivers
//! them; the wire-limited rate at 115200 is computed from the wire time and
//! the firmware's worst-case added latency. Then it streams raw tag reads of
//! a population of unique EPCs from the emulated reader as fast as QEMU
//! takes them and reports the reads/s absorbed and whether every EPC came
//! out as an event. Last, it runs the reads benchmark binary (a simulation
//! of the gateway's main loop at line pace, QEMU counting instructions) for
//! CPI 1, 1.5 and 2 at 1,500 reads/s and searches the highest rate the loop
//! absorbs without a loss at CPI 2: computed from counted instructions and
//! an assumed CPI, not measured cycles.

use std::time::{Duration, Instant};

use gateway_registers::{holding, input};
use hil_tests::modbus::{frame, Answer, Master};
use hil_tests::reader::{tag_read_frame, Reader, INSIDE_ANTENNA, OUTSIDE_ANTENNA};
use hil_tests::{firmware_elf, footprint, poll_until, run_reads_bench, Gateway, Port};

const POLLS: usize = 2_000;
/// Unique EPCs and raw reads of each (half per antenna) in the reads run.
const TAGS: u16 = 100;
const READS_PER_TAG: usize = 30;
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
            _ => {
                // No reply, a late one or a split one: let the line go quiet
                // for 300 ms, drop what came, and poll again.
                lost += 1;
                let mut quiet = Instant::now();
                while quiet.elapsed() < Duration::from_millis(300) {
                    if port.read_available(&mut reply) > 0 {
                        quiet = Instant::now();
                    }
                }
            }
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
    // What the gateway's own clock measured: last request byte -> reply.
    let measured = Master::open(&gateway.modbus_pty)
        .read_input(input::MODBUS_TURNAROUND_LAST_US, 2)
        .expect("turnaround registers");
    let (last_us, max_us) = (u64::from(measured[0]), u64::from(measured[1]));
    let paced_measured = 1e6 / (wire_us + max_us.saturating_sub(T35_US)) as f64;
    println!("gateway-firmware bench ({POLLS} polls of 125 input registers, QEMU netduinoplus2)");
    println!("unpaced poll rate over the QEMU pty: {unpaced:.0} polls/s ({lost} not answered in full within {LOST_AFTER:?}, discarded and resent)");
    println!("turnaround, host writes request -> first reply byte: p50 {p50:.2?}, p99 {p99:.2?} (includes QEMU's pty delivery of the 8 request bytes and t3.5 = 1.75 ms)");
    println!("turnaround, last request byte -> reply, measured by the firmware's clock over all polls: max {max_us} us, last {last_us} us (t3.5 = {T35_US} us)");
    println!(
        "wire limit at 115200: {limit:.1} polls/s ({:.1} ms each); plus the firmware's at most 1 ms tick latency: >= {paced:.1} polls/s = {:.0} % of the limit (computed, not paced); with the measured max turnaround: {paced_measured:.1} polls/s = {:.0} % (computed from a measured figure)",
        wire_us as f64 / 1e3,
        100.0 * paced / limit,
        100.0 * paced_measured / limit
    );
    absorb_reads(&gateway);
    drop(gateway);
    cpu_per_read();
    println!(
        "flash {} B ({:.1} KiB of 256 KiB budget), static RAM {} B ({:.1} KiB of 64 KiB budget)",
        fp.flash_bytes,
        fp.flash_bytes as f64 / 1024.0,
        fp.static_ram_bytes,
        fp.static_ram_bytes as f64 / 1024.0
    );
}

/// Streams `TAGS * READS_PER_TAG` raw reads with no pacing and waits until
/// the gateway has counted them all, then drains the events.
fn absorb_reads(gateway: &Gateway) {
    let mut master = Master::open(&gateway.modbus_pty);
    let reader = Reader::start(&gateway.reader_pty);
    reader.wait_reading();
    // A window longer than the whole stream: one pass per EPC.
    assert!(matches!(
        master.write_holding(holding::DEDUP_WINDOW_MS, &[30_000]),
        Answer::Pdu(_)
    ));
    let before = master.status().counters.reads_seen;
    let mut stream = Vec::new();
    for round in 0..READS_PER_TAG {
        for serial in 0..TAGS {
            let epc = hil_tests::reader::test_epc(serial);
            let antenna = if round < READS_PER_TAG / 2 {
                OUTSIDE_ANTENNA
            } else {
                INSIDE_ANTENNA
            };
            stream.extend(tag_read_frame(&epc, antenna, -55));
        }
    }
    let raw = u32::from(TAGS) * READS_PER_TAG as u32;
    let started = Instant::now();
    reader.send_after(Duration::ZERO, stream);
    // Until every read is counted, or nothing moves for 3 s (reads lost).
    let mut last = (0, Instant::now());
    let (seen, done) = poll_until(Duration::from_secs(600), "the reads to stop coming", || {
        let seen = master.status().counters.reads_seen - before;
        if seen != last.0 {
            last = (seen, Instant::now());
        }
        (seen >= raw || last.1.elapsed() > Duration::from_secs(3)).then(|| (seen, last.1 - started))
    });
    // Close the passes and collect them.
    assert!(matches!(
        master.write_holding(holding::DEDUP_WINDOW_MS, &[1]),
        Answer::Pdu(_)
    ));
    let events = master.drain_events(usize::from(TAGS), Duration::from_secs(60));
    let mut serials: Vec<u16> = events.iter().map(|e| e.epc[5]).collect();
    serials.sort();
    serials.dedup();
    let c = master.status().counters;
    println!(
        "reader stream: {seen} of {raw} raw reads of {TAGS} EPCs counted in {done:.2?} = {:.0} reads/s over the QEMU pty; {} events, {} distinct EPCs, {} lost, reader frame errors {}",
        f64::from(seen) / done.as_secs_f64(),
        events.len(),
        serials.len(),
        usize::from(TAGS) - serials.len(),
        c.reader_frame_errors
    );
}

/// Runs `bench-reads` (a discrete-event simulation of the gateway's main
/// loop at line pace, QEMU counting instructions) at 1,500 reads/s for
/// CPI 1, 1.5 and 2, then at CPI 2 steps the rate up by 1,500 reads/s to
/// the first rate with a loss and bisects to 100 reads/s between it and the
/// last rate without one.
fn cpu_per_read() {
    println!(
        "gateway loop at line pace (bench-reads, QEMU -icount shift=0): computed from counted instructions x an assumed CPI at 168 MHz, plus 22 cycles interrupt entry/exit and 4 x 6 cycles USART reads a received byte; QEMU is not cycle-accurate"
    );
    println!("  the Modbus line idle (the CPU's own share):");
    for cpi in ["1", "1.5", "2"] {
        let run = reads_run(cpi, 1_500, false);
        report(cpi, 1_500, &run);
        assert!(
            run.ok,
            "bench-reads failed at 1,500 reads/s, CPI {cpi}: {}",
            run.line
        );
    }
    println!("  a Modbus master polling 125 registers back to back (the loop waits while each 255-byte reply goes out; busy includes that wait):");
    let run = reads_run("2", 1_500, true);
    report("2", 1_500, &run);
    println!(
        "    {} polls answered, the loop waited {} ms of the run for Modbus replies",
        run.field("modbus_polls"),
        run.field("modbus_wait_us") / 1_000
    );
    assert!(run.ok, "bench-reads failed with Modbus polls: {}", run.line);
    println!("  the highest rate, Modbus idle:");
    let (mut good, mut bad) = (1_500, None);
    while bad.is_none() && good < 48_000 {
        let rate = good + 1_500;
        let run = reads_run("2", rate, false);
        report("2", rate, &run);
        if run.ok {
            good = rate;
        } else {
            bad = Some(rate);
        }
    }
    if let Some(mut bad) = bad {
        while bad - good > 100 {
            let rate = (good + bad) / 2 / 100 * 100;
            let run = reads_run("2", rate, false);
            report("2", rate, &run);
            if run.ok {
                good = rate;
            } else {
                bad = rate;
            }
        }
    }
    println!(
        "highest rate without a dropped byte or a lost EPC at CPI 2: {good} reads/s (computed; above ~1,960 reads/s 921600 baud cannot carry the frames, the bench then spaces the bytes as on a faster line)"
    );
}

/// Bytes the firmware's reader queue holds (`board::READER_RX_LEN`).
const READER_QUEUE: u32 = 3_072;

/// One `bench-reads` run.
struct ReadsRun {
    line: String,
    /// Every EPC out once, inbound, no byte dropped, the reader still
    /// reading (its exit status).
    ok: bool,
}

impl ReadsRun {
    fn field(&self, name: &str) -> u64 {
        hil_tests::bench_field(&self.line, name)
            .unwrap_or_else(|| panic!("no {name} in: {}", self.line))
    }
}

fn reads_run(cpi: &str, rate: u32, modbus: bool) -> ReadsRun {
    let (status, console) = run_reads_bench(cpi, rate, modbus);
    let line = console
        .lines()
        .find(|l| l.starts_with("bench-reads:"))
        .unwrap_or_else(|| panic!("no bench-reads line in: {console}"))
        .to_string();
    ReadsRun {
        ok: status.success(),
        line,
    }
}

fn report(cpi: &str, rate: u32, run: &ReadsRun) {
    println!(
        "  {rate} reads/s, CPI {cpi}: {} of {} EPCs out ({} inbound, {} events), {} bytes dropped, queue at most {} of {}, CPU busy {:.1} % while reads arrive, {} loop instructions a read (+ {} a byte in the receive interrupt), reader {}, {}",
        run.field("distinct_epcs"),
        TAGS,
        run.field("inbound"),
        run.field("events"),
        run.field("dropped"),
        run.field("max_queue"),
        READER_QUEUE,
        run.field("busy_permille") as f64 / 10.0,
        run.field("instructions_per_read"),
        run.field("isr_instructions_per_byte"),
        run.line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("reader="))
            .unwrap_or("?"),
        if run.ok { "ok" } else { "FAILED" }
    );
}
