//! `cargo xtask qemu`: boots the gateway firmware in QEMU for a person to
//! play with, prints one JSON line with the pty of each UART on stdout, and
//! runs until interrupted (or until the firmware fails). The firmware's log
//! goes to stderr as it comes, decoded: uptime in seconds, level, message.
//!
//! `--scale` answers the scale's `SI` polls with a steady 12.345 kg.
//! `--reader` emulates the reader module and passes one tag through the
//! gate every 5 s, alternately in and out, so events appear in the ring.

use std::time::{Duration, Instant};

use hil_tests::reader::{Pass, Reader};
use hil_tests::scale::Scale;
use hil_tests::Gateway;

const TAG_EVERY: Duration = Duration::from_secs(5);

fn main() {
    let (mut scale, mut reader) = (false, false);
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--scale" => scale = true,
            "--reader" => reader = true,
            other => {
                eprintln!(
                    "unknown argument {other:?}; usage: cargo xtask qemu [--scale] [--reader]"
                );
                std::process::exit(2);
            }
        }
    }
    let mut gateway = Gateway::boot();
    println!(
        "{}",
        serde_json::json!({
            "modbus": gateway.modbus_pty,
            "reader": gateway.reader_pty,
            "scale": gateway.scale_pty,
        })
    );
    let _scale = scale.then(|| Scale::start(&gateway.scale_pty, "S S      12.345 kg"));
    let reader = reader.then(|| Reader::start(&gateway.reader_pty));
    let mut serial: u16 = 0;
    let mut next_tag = Instant::now() + TAG_EVERY;
    let mut printed = 0;
    let mut print_log = |gateway: &Gateway| {
        let log = gateway.log();
        for line in &log[printed..] {
            eprintln!("{:>9} {line}", line.timestamp.as_deref().unwrap_or(""));
        }
        printed = log.len();
    };
    let status = loop {
        print_log(&gateway);
        if let Some(status) = gateway.exited() {
            break status;
        }
        if let Some(reader) = &reader {
            if Instant::now() >= next_tag {
                serial = serial.wrapping_add(1);
                let epc = hil_tests::reader::test_epc(serial);
                let direction = if serial % 2 == 1 { Pass::In } else { Pass::Out };
                reader.pass(&[epc.to_vec()], direction, 3);
                next_tag += TAG_EVERY;
            }
        }
        // A tool's idle loop, not a test's wait.
        std::thread::sleep(Duration::from_millis(50));
    };
    print_log(&gateway);
    eprintln!("QEMU exited: {status}");
    std::process::exit(status.code().unwrap_or(1));
}
