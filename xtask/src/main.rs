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
        _ => {
            eprintln!("usage: cargo xtask ci");
            eprintln!("  ci    fmt, clippy, workspace tests, no_std builds, firmware and QEMU tests");
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
        &["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"],
    )?;
    step(&root, "workspace tests", "cargo", &["test", "--workspace"])?;
    step(
        &root,
        "rfid-driver builds for the gateway (no_std, thumbv7em-none-eabihf)",
        "cargo",
        &["build", "-p", "rfid-driver", "--target", "thumbv7em-none-eabihf"],
    )?;
    println!("\n== ci passed in {:.0?} ==", started.elapsed());
    Ok(())
}

/// Runs one step in `dir`, printing a heading and the command first.
fn step(dir: &Path, heading: &str, program: &str, args: &[&str]) -> Result<()> {
    println!("\n== {heading} ==\n$ {program} {}", args.join(" "));
    let started = Instant::now();
    let status = Command::new(program)
        .args(args)
        .current_dir(dir)
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
