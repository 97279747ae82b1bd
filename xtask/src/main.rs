//! Project automation. `cargo xtask ci` runs, in order, every step CI runs;
//! each step prints its heading and the command it runs, and the first
//! failing step stops the run with a non-zero exit status.
//! `cargo xtask sqlx-prepare` regenerates the offline query data of
//! depot-server's compile-checked queries (`depot-server/.sqlx/`).
//! `cargo xtask package` builds the Debian packages and checks the installed one.

mod package;

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
        Some("sqlx-prepare") => sqlx_prepare(),
        Some("package") => package::packages(&workspace_root()),
        _ => {
            eprintln!(
                "usage: cargo xtask ci | qemu [--reader] [--scale] | bench-gateway | sqlx-prepare | package"
            );
            eprintln!("  ci             fmt, offline query data current, clippy, workspace tests, no_std builds, firmware and QEMU tests");
            eprintln!("  qemu           boot the gateway firmware in QEMU, print its ptys as JSON and its decoded log on stderr, run until interrupted");
            eprintln!(
                "  bench-gateway  gateway firmware: Modbus poll rate, turnaround, reads/s (over QEMU and in counted instructions), RAM/flash"
            );
            eprintln!("  package        Debian packages of depot-server (amd64, arm64) into target/debian/; installs the amd64 one, runs it as its user, purges it (root)");
            eprintln!("  sqlx-prepare   after changing a query or a migration: describe depot-server's queries against the migrated schema into depot-server/.sqlx/ (commit it)");
            std::process::exit(2);
        }
    }
}

/// The whole CI pipeline.
fn ci() -> Result<()> {
    let root = workspace_root();
    let started = Instant::now();
    step(&root, "format", "cargo", &["fmt", "--all", "--check"])?;
    sqlx_data_is_current(&root)?;
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
    supply_chain(&root)?;
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
    package::packages(&root)?;
    println!("\n== ci passed in {:.0?} ==", started.elapsed());
    Ok(())
}

/// The dependencies' licences (against the allow-list in `deny.toml`),
/// wildcard versions, and sources, for the workspace and the firmware. Only
/// crates are fetched (from the registry, if missing); advisories need the
/// RustSec database: `cargo deny check advisories` where it is reachable.
fn supply_chain(root: &Path) -> Result<()> {
    for (what, manifest) in [
        ("workspace", "Cargo.toml"),
        ("gateway-firmware", "gateway-firmware/Cargo.toml"),
    ] {
        step(
            root,
            &format!("licences and sources of the {what}'s dependencies (cargo-deny)"),
            "cargo",
            &[
                "deny",
                "--locked",
                "--manifest-path",
                manifest,
                "check",
                "licenses",
                "bans",
                "sources",
            ],
        )?;
    }
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

/// Fails if `depot-server/.sqlx/` is not what `sqlx-prepare` makes from the
/// queries and migrations as they are: a changed query fails the offline
/// build anyway, but a migration that changes a column's type under an
/// unchanged query would not. The regenerated data is left in place to commit.
fn sqlx_data_is_current(root: &Path) -> Result<()> {
    let data = root.join("depot-server").join(".sqlx");
    println!("\n== offline query data: regenerate depot-server/.sqlx and compare ==");
    let before = query_files(&data)?;
    sqlx_prepare()?;
    let after = query_files(&data)?;
    let changed: Vec<&String> = before
        .keys()
        .chain(after.keys())
        .filter(|name| before.get(*name) != after.get(*name))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    if !changed.is_empty() {
        bail!(
            "depot-server/.sqlx did not match the queries and migrations; \
             `cargo xtask sqlx-prepare` has rewritten it, commit the change: {changed:?}"
        );
    }
    println!("-- depot-server/.sqlx matches the queries and migrations");
    Ok(())
}

/// The `query-*.json` files of an offline data directory, by name.
fn query_files(dir: &Path) -> Result<std::collections::BTreeMap<String, Vec<u8>>> {
    let mut files = std::collections::BTreeMap::new();
    if !dir.exists() {
        return Ok(files);
    }
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.starts_with("query-") && name.ends_with(".json") {
            files.insert(name, std::fs::read(&path)?);
        }
    }
    Ok(files)
}

/// Regenerates `depot-server/.sqlx/`, the offline data the `sqlx::query!`
/// macros build from when no database is at hand (always, in CI).
///
/// The scratch database is made with the `sqlite3` shell from `migrations/`
/// rather than with `depot-server migrate`: after a query or a migration
/// changes, depot-server does not build until this command has run.
fn sqlx_prepare() -> Result<()> {
    let root = workspace_root();
    let db = root.join("target").join("sqlx-prepare.db");
    let data = root.join("depot-server").join(".sqlx");
    let db_text = db.to_string_lossy().into_owned();
    let data_text = data.to_string_lossy().into_owned();

    std::fs::create_dir_all(root.join("target"))?;
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let file = PathBuf::from(format!("{db_text}{suffix}"));
        if file.exists() {
            std::fs::remove_file(&file).with_context(|| format!("removing {}", file.display()))?;
        }
    }
    let mut migrations: Vec<String> = std::fs::read_dir(root.join("migrations"))?
        .filter_map(|entry| {
            entry
                .ok()
                .map(|e| e.file_name().to_string_lossy().into_owned())
        })
        .filter(|name| name.ends_with(".sql"))
        .map(|name| format!(".read migrations/{name}"))
        .collect();
    migrations.sort();
    let mut schema = vec!["-bail", db_text.as_str()];
    schema.extend(migrations.iter().map(String::as_str));
    step(
        &root,
        "scratch database with every migration (sqlite3, see scripts/install-deps.sh)",
        "sqlite3",
        &schema,
    )?;

    println!("\n== drop the old offline data ({data_text}/query-*.json) ==");
    std::fs::create_dir_all(&data)?;
    for name in query_files(&data)?.keys() {
        let path = data.join(name);
        std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
    }

    // The macros run only when the crate compiles, and a changed
    // DATABASE_URL does not make cargo recompile it; a newer source file does
    // (cheaper than `cargo clean -p depot-server`, which drops every build).
    let lib = root.join("depot-server").join("src").join("lib.rs");
    println!(
        "\n== make cargo recompile depot-server ({} modified now) ==",
        lib.display()
    );
    std::fs::File::options()
        .write(true)
        .open(&lib)
        .and_then(|file| file.set_modified(std::time::SystemTime::now()))
        .with_context(|| format!("touching {}", lib.display()))?;
    let url = format!("sqlite:{db_text}");
    step_with_env(
        &root,
        "describe every query against the scratch database into depot-server/.sqlx",
        &[
            ("DATABASE_URL", url.as_str()),
            ("SQLX_OFFLINE", "false"),
            ("SQLX_OFFLINE_DIR", data_text.as_str()),
        ],
        "cargo",
        &["check", "-p", "depot-server", "--all-targets"],
    )?;
    let written = query_files(&data)?.len();
    println!("\n== {written} queries in depot-server/.sqlx: commit them with the change ==");
    Ok(())
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
pub(crate) fn step(dir: &Path, heading: &str, program: &str, args: &[&str]) -> Result<()> {
    step_with_env(dir, heading, &[], program, args)
}

/// Runs one step with extra environment variables, printed before the command.
fn step_with_env(
    dir: &Path,
    heading: &str,
    env: &[(&str, &str)],
    program: &str,
    args: &[&str],
) -> Result<()> {
    let env_text: String = env.iter().map(|(k, v)| format!("{k}={v} ")).collect();
    println!(
        "\n== {heading} ==\n$ {env_text}{program} {}",
        args.join(" ")
    );
    let started = Instant::now();
    // The firmware's defmt log level is fixed at build time; CI checks the
    // default one (as `.cargo/config.toml` sets it), whatever the shell says.
    // depot-server's queries are checked against the committed offline data
    // only, never a database the shell names: a query changed without
    // `cargo xtask sqlx-prepare` fails the first build step.
    let status = Command::new(program)
        .args(args)
        .current_dir(dir)
        .env("DEFMT_LOG", "info")
        .env_remove("DATABASE_URL")
        .env("SQLX_OFFLINE", "true")
        .envs(env.iter().copied())
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
