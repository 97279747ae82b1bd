//! What the depot-server benchmarks share: their settings from the
//! environment, the server binary and its command line, figures read from
//! `/proc` and from wrk. Each bench uses a part of it. The measuring part
//! that is not about this server (`measure.rs`) is shared with the
//! regional hub's benches, which include that file by path.
#![allow(dead_code)]

mod measure;
// Each bench uses a part, as for the rest of this module.
#[allow(unused_imports)]
pub use measure::{env_number, metric, percentile, proc_status_kib};

use std::path::Path;
use std::process::Command;

/// The server binary under test: `BENCH_SERVER`, or the one built with the bench.
pub fn server() -> String {
    std::env::var("BENCH_SERVER").unwrap_or_else(|_| env!("CARGO_BIN_EXE_depot-server").to_owned())
}

/// The settings a bench server runs with on top of the defaults: the HTTP
/// rate limits off, since a bench drives thousands of requests a second
/// with one token from one address on purpose. The request timeout and the
/// connection bound stay as a depot runs them.
pub const UNLIMITED: [(&str, &str); 3] = [
    ("DEPOT_API_TOKEN_RATE_PER_S", "0"),
    ("DEPOT_API_ADDRESS_RATE_PER_S", "0"),
    ("DEPOT_LOGIN_RATE_PER_MIN", "0"),
];

/// Runs a command of the server binary on `db`; its standard output.
pub fn cli(db: &Path, args: &[&str]) -> String {
    let out = Command::new(server())
        .arg("--db")
        .arg(db)
        .args(args)
        .output()
        .expect("cli");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A `BENCH key=value` line that `benches/wrk/bookings.lua` printed.
pub fn wrk_value(out: &str, key: &str) -> f64 {
    out.lines()
        .find_map(|line| {
            line.strip_prefix("BENCH ")?
                .strip_prefix(key)?
                .strip_prefix('=')
        })
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("wrk printed no {key}:\n{out}"))
}
