//! The Debian packages (cargo-deb) and the check of the installed one:
//! `cargo xtask package` builds depot-server for amd64 and arm64 (the Pi,
//! cross-linked by Debian's `aarch64-linux-gnu-gcc`), installs the amd64
//! package with `dpkg -i`, lets `systemd-analyze verify` read the installed
//! unit, runs the installed binary as the package's user with the packaged
//! configuration until it answers `/healthz` over HTTPS, and purges the
//! package again. Built with the `ci-deb` profile (no LTO) to keep CI short.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::step;

/// The cross target of the depot box (Raspberry Pi 4/5, aarch64 Linux).
const PI_TARGET: &str = "aarch64-unknown-linux-gnu";

/// Builds both packages, then installs and checks the amd64 one.
pub fn packages(root: &Path) -> Result<()> {
    if Command::new("cargo")
        .args(["deb", "--version"])
        .output()
        .map(|o| !o.status.success())
        .unwrap_or(true)
    {
        bail!("cargo-deb is missing: run scripts/install-deps.sh");
    }
    let out = root.join("target").join("debian");
    let amd64 = out.join("amd64");
    let arm64 = out.join("arm64");
    for dir in [&amd64, &arm64] {
        // Only this run's package may be found below.
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir)?;
    }
    step(
        root,
        "Debian package depot-server (amd64)",
        "cargo",
        &[
            "deb",
            "-p",
            "depot-server",
            "--profile",
            "ci-deb",
            "--output",
            path_str(&amd64)?,
        ],
    )?;
    step(
        root,
        "Debian package depot-server (arm64 with the rpi feature, cross-built)",
        "cargo",
        &[
            "deb",
            "-p",
            "depot-server",
            "--profile",
            "ci-deb",
            "--target",
            PI_TARGET,
            "--features",
            "rpi",
            "--output",
            path_str(&arm64)?,
        ],
    )?;
    let amd64_deb = the_deb(&amd64)?;
    the_deb(&arm64)?;
    installed_package_works(root, &amd64_deb)
}

fn path_str(path: &Path) -> Result<&str> {
    path.to_str()
        .with_context(|| format!("{} is not UTF-8", path.display()))
}

/// The one `.deb` in `dir`.
fn the_deb(dir: &Path) -> Result<PathBuf> {
    let mut debs: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "deb"))
        .collect();
    match debs.len() {
        1 => Ok(debs.remove(0)),
        n => bail!("{} holds {n} .deb files, expected one", dir.display()),
    }
}

/// Installs the package, checks its unit and runs its binary as its user.
fn installed_package_works(root: &Path, deb: &Path) -> Result<()> {
    step(
        root,
        "install the amd64 package",
        "dpkg",
        &["-i", path_str(deb)?],
    )?;
    let checked = check_installed();
    let purged = step(
        root,
        "purge the package",
        "dpkg",
        &["--purge", "depot-server"],
    );
    checked.and(purged)
}

fn check_installed() -> Result<()> {
    let unit = ["/lib/systemd/system", "/usr/lib/systemd/system"]
        .iter()
        .map(|dir| Path::new(dir).join("depot-server.service"))
        .find(|p| p.exists())
        .context("the package installed no depot-server.service")?;
    println!("\n== systemd-analyze verify the installed unit ==");
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&unit)
        .output()
        .context("systemd-analyze is missing: run scripts/install-deps.sh")?;
    let said = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() || !said.trim().is_empty() {
        bail!("systemd-analyze verify {}: {said}", unit.display());
    }
    println!("-- ok: {}", unit.display());
    run_as_service_user()
}

/// Starts `/usr/bin/depot-server` as `depot-edge` with
/// `/etc/depot-edge/depot.toml` (on a free loopback port instead of the
/// packaged one), asks `/healthz` over HTTPS trusting the certificate the
/// postinst made, and stops it with SIGTERM.
fn run_as_service_user() -> Result<()> {
    println!("\n== the installed binary as user depot-edge answers /healthz ==");
    let started = Instant::now();
    // setpriv executes the server in its own process (runuser would stay
    // between as a parent that answers SIGTERM with a failure of its own).
    let mut server = Command::new("setpriv")
        .args([
            "--reuid=depot-edge",
            "--regid=depot-edge",
            "--init-groups",
            "--",
            "/usr/bin/depot-server",
            "--config",
            "/etc/depot-edge/depot.toml",
            "--listen",
            "127.0.0.1:0",
            "run",
        ])
        .current_dir("/")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot start setpriv (util-linux)")?;
    let stderr = server.stderr.take().context("no stderr")?;
    let (address_tx, address_rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("   | {line}");
            if let Some((_, rest)) = line.split_once("listening on https://") {
                let _ = address_tx.send(rest.trim().to_owned());
            }
        }
    });
    let checked = (|| -> Result<()> {
        let address = address_rx
            .recv_timeout(Duration::from_secs(120))
            .context("the installed server did not listen on https:// within 120 s")?;
        let port = address.rsplit_once(':').context("no port")?.1;
        let out = Command::new("curl")
            .args([
                "-sS",
                "--fail",
                "--max-time",
                "30",
                "--cacert",
                "/var/lib/depot-edge/tls/cert.pem",
                "--resolve",
                &format!("localhost:{port}:127.0.0.1"),
                &format!("https://localhost:{port}/healthz"),
            ])
            .output()
            .context("curl is missing: run scripts/install-deps.sh")?;
        let body = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() || !body.contains("\"status\":\"ok\"") {
            bail!("/healthz: {body} {}", String::from_utf8_lossy(&out.stderr));
        }
        println!("   /healthz: {body}");
        let owner = Command::new("stat")
            .args(["-c", "%U", "/var/lib/depot-edge/depot.db"])
            .output()?;
        let owner = String::from_utf8_lossy(&owner.stdout).trim().to_owned();
        if owner != "depot-edge" {
            bail!("the database belongs to '{owner}', not to the service user");
        }
        Ok(())
    })();
    let _ = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status();
    let status = server.wait()?;
    checked?;
    if !status.success() {
        bail!("the installed server did not stop cleanly on SIGTERM: {status}");
    }
    println!("-- ok in {:.1?}", started.elapsed());
    Ok(())
}
