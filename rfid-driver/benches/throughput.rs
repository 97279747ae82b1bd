//! Host throughput of the hot paths: EPC decode, frame decode, reader session,
//! gate logic. A plain `harness = false` bench on `std::time`; run with
//! `cargo bench -p rfid-driver`. Figures go to BENCHMARKS.md ("rfid-driver").

use std::hint::black_box;
use std::time::{Duration, Instant};

use rfid_driver::epc::Epc;
use rfid_driver::gate::{Gate, GateConfig};
use rfid_driver::mercury::session::{Output, ReaderConfig, ReaderSession};
use rfid_driver::mercury::{emit_tag_read, Direction, FrameDecoder, TagRead, MAX_FRAME};
use rfid_driver::text::EpcBytes;

const VECTORS: &str = include_str!("../test_data/epc_vectors.txt");

/// Runs `f` (which does `per_call` operations) for about `budget`; returns ops/s.
fn measure(name: &str, per_call: u64, budget: Duration, mut f: impl FnMut()) -> f64 {
    // Warm up.
    for _ in 0..10 {
        f();
    }
    let start = Instant::now();
    let mut calls = 0u64;
    while start.elapsed() < budget {
        f();
        calls += 1;
    }
    let secs = start.elapsed().as_secs_f64();
    let ops = (calls * per_call) as f64 / secs;
    println!("{name:<48} {ops:>14.0} /s  {:>9.1} ns each", 1e9 / ops);
    ops
}

fn epc_bytes(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect()
}

/// A 96-bit SGTIN for tag `n`.
fn sgtin(n: u32) -> EpcBytes {
    let mut b = [0x30, 0x74, 0x25, 0x7B, 0xF7, 0x19, 0x4E, 0x40, 0, 0, 0, 0];
    b[8..].copy_from_slice(&n.to_be_bytes());
    EpcBytes::new(&b).expect("12 bytes")
}

fn read(n: u32, antenna: u8) -> TagRead {
    TagRead {
        antenna,
        rssi_dbm: -40 - (n % 30) as i8,
        frequency_khz: 866_900,
        module_timestamp_ms: n,
        phase_deg: 0,
        read_count: 1,
        pc: 0x3000,
        epc: sgtin(n % 96),
    }
}

fn main() {
    let budget = Duration::from_millis(1500);
    println!("rfid-driver throughput (host, one thread, release build)");

    let vectors: Vec<Vec<u8>> = VECTORS
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| epc_bytes(l.split(" | ").next().expect("hex column").trim()))
        .collect();
    let sgtin96 = epc_bytes("3074257BF7194E4000001A85");
    measure("EPC decode, SGTIN-96", 1, budget, || {
        black_box(Epc::decode(black_box(&sgtin96))).ok();
    });
    measure(
        "EPC decode, 26 golden vectors (all schemes)",
        vectors.len() as u64,
        budget,
        || {
            for v in &vectors {
                black_box(Epc::decode(black_box(v))).ok();
            }
        },
    );
    let decoded = Epc::decode(&sgtin96).expect("valid");
    let mut out = String::with_capacity(64);
    measure("EPC SGTIN-96 → tag URI string", 1, budget, || {
        use std::fmt::Write;
        out.clear();
        write!(out, "{}", black_box(&decoded).tag_uri()).expect("string");
        black_box(&out);
    });
    measure(
        "EPC parse pure-identity URI → SGTIN-96",
        1,
        budget,
        || {
            black_box(Epc::parse(black_box(
                "urn:epc:id:sgtin:0614141.812345.6789",
            )))
            .ok();
        },
    );

    // 1000 tag-read notifications as a module streams them.
    let mut stream = Vec::new();
    for n in 0..1000u32 {
        let mut buf = [0u8; MAX_FRAME];
        let len = emit_tag_read(&read(n, 1 + (n % 2) as u8), &mut buf).expect("fits");
        stream.extend_from_slice(&buf[..len]);
    }
    let frame_len = stream.len() / 1000;
    println!("(one notification frame with a 96-bit EPC = {frame_len} bytes)");
    measure(
        "frame decode, notifications, 64-byte chunks",
        1000,
        budget,
        || {
            let mut dec = FrameDecoder::new(Direction::FromModule);
            let mut frames = 0;
            for chunk in stream.chunks(64) {
                let mut rest = chunk;
                loop {
                    while let Some(r) = dec.poll() {
                        frames += usize::from(r.is_ok());
                    }
                    if rest.is_empty() {
                        break;
                    }
                    let n = dec.push(rest);
                    rest = &rest[n..];
                }
            }
            assert_eq!(frames, 1000);
        },
    );
    measure(
        "reader session, notifications → TagRead",
        1000,
        budget,
        || {
            let mut s = ReaderSession::new(ReaderConfig::default(), 0);
            // The session is still booting; reads count only once it reads, so
            // measure the full path by taking it through a boot first.
            boot(&mut s);
            let mut reads = 0;
            for chunk in stream.chunks(64) {
                let mut rest = chunk;
                loop {
                    loop {
                        match s.poll_output() {
                            Output::TagRead { .. } => reads += 1,
                            Output::Transmit(_) | Output::SetLineRate { .. } => {}
                            Output::Wait { .. } => break,
                        }
                    }
                    if rest.is_empty() {
                        break;
                    }
                    let n = s.handle_input(10, rest);
                    rest = &rest[n..];
                }
            }
            assert_eq!(reads, 1000);
        },
    );

    // Gate: 96 tags in view, reads spread over both antennas, 2 s window.
    let gate_size = std::mem::size_of::<Gate<128>>();
    println!("size_of::<Gate<128>>() = {gate_size} bytes (limit 16384)");
    let raw: Vec<(u8, i8, EpcBytes)> = (0..9600u32)
        .map(|n| {
            let tag = n.wrapping_mul(2_654_435_761) % 96;
            (1 + (n % 2) as u8, -40 - (n % 30) as i8, sgtin(tag))
        })
        .collect();
    let mut gate: Gate<128> = Gate::new(GateConfig::default());
    let mut t_ms = 0u64;
    let mut passes = 0u64;
    measure(
        "gate, raw reads with 96 tags in view",
        raw.len() as u64,
        budget,
        || {
            for (antenna, rssi, epc) in &raw {
                t_ms += 1;
                if let Some(p) = gate.observe(t_ms, *antenna, *rssi, epc) {
                    black_box(p);
                    passes += 1;
                }
                while let Some(p) = gate.poll(t_ms) {
                    black_box(p);
                    passes += 1;
                }
            }
        },
    );
    println!(
        "gate in view at end: {}, passes closed: {passes}",
        gate.in_view()
    );

    // Gate with traffic: each tag is read 40 times in a row, 1 ms apart, then
    // leaves; tracks close 2 s later, so about 50 are open at any time.
    let flowing: Vec<(u8, i8, EpcBytes)> = (0..40_000u32)
        .map(|n| (1 + (n % 2) as u8, -40 - (n % 30) as i8, sgtin(n / 40)))
        .collect();
    let mut gate: Gate<128> = Gate::new(GateConfig::default());
    let mut t_ms = 0u64;
    let mut passes = 0u64;
    let mut early = 0u64;
    measure(
        "gate, tags passing through (reads + closes)",
        flowing.len() as u64,
        budget,
        || {
            for (antenna, rssi, epc) in &flowing {
                t_ms += 1;
                if let Some(p) = gate.observe(t_ms, *antenna, *rssi, epc) {
                    early += u64::from(p.closed_early);
                    passes += 1;
                }
                while let Some(p) = gate.poll(t_ms) {
                    black_box(p);
                    passes += 1;
                }
            }
        },
    );
    println!(
        "passes closed: {passes} (early: {early}), in view at end: {}",
        gate.in_view()
    );
    println!(
        "RAM: Gate<128> {} B, ReaderSession {} B, Epc {} B, TagRead {} B",
        std::mem::size_of::<Gate<128>>(),
        std::mem::size_of::<ReaderSession>(),
        std::mem::size_of::<Epc>(),
        std::mem::size_of::<TagRead>()
    );
}

/// Answers a session's boot commands as a module would, until it reads.
fn boot(s: &mut ReaderSession) {
    use rfid_driver::mercury::{emit, Frame};
    let mut pending = Vec::new();
    for _ in 0..20 {
        loop {
            match s.poll_output() {
                Output::Transmit(bytes) => {
                    let f = Frame::new_checked(bytes, Direction::ToModule).expect("valid");
                    let program = [2u8];
                    let data: &[u8] = if f.opcode() == 0x0C { &program } else { &[] };
                    let mut buf = [0u8; 32];
                    let n = emit(f.opcode(), Some(0), data, &mut buf).expect("fits");
                    pending.extend_from_slice(&buf[..n]);
                }
                Output::TagRead { .. } | Output::SetLineRate { .. } => {}
                Output::Wait { .. } => break,
            }
        }
        if pending.is_empty() {
            break;
        }
        s.handle_input(1, &pending);
        pending.clear();
    }
    assert_eq!(
        s.state(),
        rfid_driver::mercury::session::ReaderState::Reading
    );
}
