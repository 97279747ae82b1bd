//! `cargo xtask qemu`: boots the gateway firmware in QEMU for a person to
//! play with, prints one JSON line with the pty of each UART, and runs until
//! interrupted (or until the firmware fails). `--scale` answers the scale's
//! `SI` polls with a steady 12.345 kg.

use hil_tests::scale::Scale;
use hil_tests::Gateway;

fn main() {
    let mut scale = false;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--scale" => scale = true,
            other => {
                eprintln!("unknown argument {other:?}; usage: cargo xtask qemu [--scale]");
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
    let status = gateway.wait();
    eprint!("{}", gateway.console());
    eprintln!("QEMU exited: {status}");
    std::process::exit(status.code().unwrap_or(1));
}
