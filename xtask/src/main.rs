//! Project automation. `cargo xtask ci` runs, in order, every step CI runs;
//! each step prints its heading and the command it runs, and the first
//! failing step stops the run with a non-zero exit status.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("qemu") => gateway_tool("gateway-qemu", &args[1..]),
        Some("bench-gateway") => gateway_tool("bench-gateway", &args[1..]),
        _ => {
            eprintln!("usage: cargo xtask ci | qemu [--reader] [--scale] | bench-gateway");
            eprintln!("  ci             fmt, clippy, workspace tests, no_std builds, firmware and QEMU tests");
            eprintln!("  qemu           boot the gateway firmware in QEMU, print its ptys as JSON and its decoded log on stderr, run until interrupted");
            eprintln!(
                "  bench-gateway  gateway firmware: Modbus poll rate, turnaround, reads/s (over QEMU and in counted instructions), RAM/flash"
            );
            std::process::exit(2);
        }
    }
}

/// The whole CI pipeline.
fn ci() -> Result<()> {
    let root = workspace_root();
    let started = Instant::now();
    step(&root, "format", "cargo", &["fmt", "--all", "--check"])?;
    step(
        &root,
        "lint",
        "cargo",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    step(&root, "workspace tests", "cargo", &["test", "--workspace"])?;
    step(
        &root,
        "rfid-driver builds for the gateway (no_std, thumbv7em-none-eabihf)",
        "cargo",
        &[
            "build",
            "-p",
            "rfid-driver",
            "--target",
            "thumbv7em-none-eabihf",
        ],
    )?;
    gateway_firmware_steps(&root)?;
    println!("\n== ci passed in {:.0?} ==", started.elapsed());
    Ok(())
}

/// The gateway firmware lives outside the workspace (own target and
/// lockfile): format, lint for the host and both boards, test the portable
/// core on the host, build both boards. Its QEMU tests are `hil-tests`, part
/// of the workspace tests.
fn gateway_firmware_steps(root: &Path) -> Result<()> {
    let fw = root.join("gateway-firmware");
    let f405 = ["--no-default-features", "--features", "board-f405"];
    step(&fw, "gateway-firmware format", "cargo", &["fmt", "--check"])?;
    step(
        &fw,
        "gateway-firmware core tests (host)",
        "cargo",
        &["test", "--lib", "--target", "x86_64-unknown-linux-gnu"],
    )?;
    step(
        &fw,
        "gateway-firmware lint (host)",
        "cargo",
        &[
            "clippy",
            "--lib",
            "--tests",
            "--target",
            "x86_64-unknown-linux-gnu",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    let lint_f405 = [
        &["clippy", "--release", "--bins", "--lib"][..],
        &f405,
        &["--", "-D", "warnings"],
    ]
    .concat();
    step(
        &fw,
        "gateway-firmware lint (STM32F405 board)",
        "cargo",
        &lint_f405,
    )?;
    step(
        &fw,
        "gateway-firmware lint (QEMU board)",
        "cargo",
        &[
            "clippy",
            "--release",
            "--bins",
            "--lib",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    let build_f405 = [&["build", "--release"][..], &f405].concat();
    step(
        &fw,
        "gateway-firmware build (STM32F405 board)",
        "cargo",
        &build_f405,
    )?;
    step(
        &fw,
        "gateway-firmware build (QEMU board)",
        "cargo",
        &["build", "--release"],
    )
}

/// Runs one of the gateway tools of `hil-tests` (release build).
fn gateway_tool(bin: &str, args: &[String]) -> Result<()> {
    let mut full = vec![
        "run",
        "--release",
        "-q",
        "-p",
        "hil-tests",
        "--bin",
        bin,
        "--",
    ];
    full.extend(args.iter().map(String::as_str));
    let status = Command::new("cargo")
        .args(&full)
        .current_dir(workspace_root())
        .status()
        .context("could not start cargo")?;
    if !status.success() {
        bail!("{bin} failed ({status})");
    }
    Ok(())
}

/// Runs one step in `dir`, printing a heading and the command first.
fn step(dir: &Path, heading: &str, program: &str, args: &[&str]) -> Result<()> {
    println!("\n== {heading} ==\n$ {program} {}", args.join(" "));
    let started = Instant::now();
    // The firmware's defmt log level is fixed at build time; CI checks the
    // default one (as `.cargo/config.toml` sets it), whatever the shell says.
    let status = Command::new(program)
        .args(args)
        .current_dir(dir)
        .env("DEFMT_LOG", "info")
        .status()
        .with_context(|| format!("could not start {program}"))?;
    if !status.success() {
        bail!("step '{heading}' failed ({status})");
    }
    println!("-- {heading}: ok in {:.1?}", started.elapsed());
    Ok(())
}

/// The repository root: the parent of this crate's directory.
fn workspace_root() -> PathBuf {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or(manifest_dir)
}
