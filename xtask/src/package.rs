//! The Debian packages (cargo-deb) and the check of the installed ones:
//! `cargo xtask package` builds depot-server and regional-hub for amd64 and
//! arm64 (the Pi, cross-linked by Debian's `aarch64-linux-gnu-gcc`), writes
//! a CycloneDX SBOM of each binary beside its package, installs each amd64
//! package with `dpkg -i`, lets `systemd-analyze verify` read the installed
//! unit, runs the installed binary as the package's user with the packaged
//! configuration until it answers `/healthz` (the depot over HTTPS), and
//! purges the package again. Built with the `ci-deb` profile (no LTO) to
//! keep CI short.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::step;

/// The cross target of the depot box (Raspberry Pi 4/5, aarch64 Linux).
const PI_TARGET: &str = "aarch64-unknown-linux-gnu";

/// A packaged binary: its crate (and package, and binary), its service
/// user, and whether (with what features) it is built for the Pi.
struct Packaged {
    name: &'static str,
    user: &'static str,
    /// The features the package is built with (its `package.metadata.deb`).
    features: &'static [&'static str],
    pi_features: Option<&'static [&'static str]>,
}

/// The depot server runs on the Pi; the hub on a regional server (amd64),
/// so CI builds no arm64 hub (`cargo deb -p regional-hub --target
/// aarch64-unknown-linux-gnu` makes one).
const PACKAGES: [Packaged; 2] = [
    Packaged {
        name: "depot-server",
        user: "depot-edge",
        features: &[],
        pi_features: Some(&["--features", "rpi"]),
    },
    Packaged {
        name: "regional-hub",
        user: "regional-hub",
        features: &["--no-default-features"],
        pi_features: None,
    },
];

/// Builds every package with its SBOM, then installs and checks each amd64
/// one.
pub fn packages(root: &Path) -> Result<()> {
    for (tool, what) in [("deb", "cargo-deb"), ("cyclonedx", "cargo-cyclonedx")] {
        if Command::new("cargo")
            .args([tool, "--version"])
            .output()
            .map(|o| !o.status.success())
            .unwrap_or(true)
        {
            bail!("{what} is missing: run scripts/install-deps.sh");
        }
    }
    let out = root.join("target").join("debian");
    let amd64 = out.join("amd64");
    let arm64 = out.join("arm64");
    for dir in [&amd64, &arm64] {
        // Only this run's packages may be found below.
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir)?;
    }
    for package in &PACKAGES {
        let name = package.name;
        let common = ["deb", "-p", name, "--profile", "ci-deb", "--output"];
        step(
            root,
            &format!("Debian package {name} (amd64)"),
            "cargo",
            &[&common[..], &[path_str(&amd64)?]].concat(),
        )?;
        sbom(root, name, &amd64, None, package.features)?;
        if let Some(features) = package.pi_features {
            step(
                root,
                &format!("Debian package {name} (arm64, cross-built)"),
                "cargo",
                &[
                    &common[..],
                    &[path_str(&arm64)?, "--target", PI_TARGET],
                    features,
                ]
                .concat(),
            )?;
            sbom(root, name, &arm64, Some(PI_TARGET), features)?;
        }
    }
    for package in &PACKAGES {
        installed_package_works(root, package, &the_deb(&amd64, package.name)?)?;
    }
    Ok(())
}

/// Writes the CycloneDX SBOM of binary `name` (its dependency graph for
/// `target`, with the `features` its package is built with) into `dir`,
/// beside the package, as `{package file stem}.cdx.json`. cargo-cyclonedx
/// describes every binary of the workspace next to its manifest: this one
/// is moved, the others removed.
fn sbom(
    root: &Path,
    name: &str,
    dir: &Path,
    target: Option<&str>,
    features: &[&str],
) -> Result<()> {
    let triple = target.unwrap_or("x86_64-unknown-linux-gnu");
    let args = [
        &[
            "cyclonedx",
            "--format",
            "json",
            "--spec-version",
            "1.5",
            "--describe",
            "binaries",
            "--target",
            triple,
        ][..],
        features,
    ]
    .concat();
    let made = step(
        root,
        &format!("SBOM (CycloneDX) of {name} for {triple}"),
        "cargo",
        &args,
    );
    let written: Vec<PathBuf> = std::fs::read_dir(root)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter_map(|crate_dir| std::fs::read_dir(crate_dir).ok())
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with("_bin.cdx.json"))
        })
        .collect();
    let ours = root.join(name).join(format!("{name}_bin.cdx.json"));
    let deb = the_deb(dir, name)?;
    let stem = deb
        .file_stem()
        .and_then(|s| s.to_str())
        .context("package name")?;
    let target_file = dir.join(format!("{stem}.cdx.json"));
    let moved = made.and_then(|()| {
        std::fs::rename(&ours, &target_file).with_context(|| {
            format!(
                "cargo-cyclonedx wrote no {} (moving it to {})",
                ours.display(),
                target_file.display()
            )
        })
    });
    for other in written.iter().filter(|p| **p != ours) {
        let _ = std::fs::remove_file(other);
    }
    moved?;
    check_sbom(&target_file, name)
}

/// The SBOM names the binary and lists its dependencies, each with a purl.
fn check_sbom(path: &Path, name: &str) -> Result<()> {
    let sbom: serde_json::Value = serde_json::from_slice(&std::fs::read(path)?)
        .with_context(|| format!("{} is not JSON", path.display()))?;
    if sbom["bomFormat"] != "CycloneDX" {
        bail!("{}: not a CycloneDX document", path.display());
    }
    let components = sbom["components"].as_array().map_or(0, Vec::len);
    let with_purl = sbom["components"]
        .as_array()
        .map_or(0, |c| c.iter().filter(|c| c["purl"].is_string()).count());
    if components < 50 || with_purl != components {
        bail!(
            "{}: {components} components, {with_purl} with a purl",
            path.display()
        );
    }
    println!(
        "-- SBOM of {name}: {components} components, in {}",
        path.display()
    );
    Ok(())
}

fn path_str(path: &Path) -> Result<&str> {
    path.to_str()
        .with_context(|| format!("{} is not UTF-8", path.display()))
}

/// The one `.deb` of package `name` in `dir`.
fn the_deb(dir: &Path, name: &str) -> Result<PathBuf> {
    let prefix = format!("{name}_");
    let mut debs: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "deb"))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix))
        })
        .collect();
    match debs.len() {
        1 => Ok(debs.remove(0)),
        n => bail!(
            "{} holds {n} {name} .deb files, expected one",
            dir.display()
        ),
    }
}

/// Installs the package, checks its unit and runs its binary as its user.
fn installed_package_works(root: &Path, package: &Packaged, deb: &Path) -> Result<()> {
    step(
        root,
        &format!("install the amd64 package {}", package.name),
        "dpkg",
        &["-i", path_str(deb)?],
    )?;
    let checked = check_installed(package);
    let purged = step(
        root,
        &format!("purge the package {}", package.name),
        "dpkg",
        &["--purge", package.name],
    );
    checked.and(purged)
}

fn check_installed(package: &Packaged) -> Result<()> {
    let unit_name = format!("{}.service", package.name);
    let unit = ["/lib/systemd/system", "/usr/lib/systemd/system"]
        .iter()
        .map(|dir| Path::new(dir).join(&unit_name))
        .find(|p| p.exists())
        .with_context(|| format!("the package installed no {unit_name}"))?;
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
    match package.name {
        "depot-server" => run_as_service_user(),
        _ => run_hub_as_service_user(package),
    }
}

/// How an installed binary is started and asked for `/healthz`.
struct Installed<'a> {
    name: &'a str,
    user: &'a str,
    config: &'a str,
    /// `https` (with the certificate the postinst made) or `http`.
    scheme: &'a str,
    /// Extra curl arguments (the CA to trust).
    curl: &'a [&'a str],
    /// A file the service must own after its start (its database).
    owned: &'a str,
}

/// Starts `/usr/bin/depot-server` as `depot-edge` with
/// `/etc/depot-edge/depot.toml` (on a free loopback port instead of the
/// packaged one) and asks `/healthz` over HTTPS, trusting the certificate
/// the postinst made.
fn run_as_service_user() -> Result<()> {
    run_installed(&Installed {
        name: "depot-server",
        user: "depot-edge",
        config: "/etc/depot-edge/depot.toml",
        scheme: "https",
        curl: &["--cacert", "/var/lib/depot-edge/tls/cert.pem"],
        owned: "/var/lib/depot-edge/depot.db",
    })
}

/// Starts `/usr/bin/regional-hub` as `regional-hub` with
/// `/etc/regional-hub/hub.toml` (on a free loopback port) and asks `/healthz`.
fn run_hub_as_service_user(package: &Packaged) -> Result<()> {
    run_installed(&Installed {
        name: package.name,
        user: package.user,
        config: "/etc/regional-hub/hub.toml",
        scheme: "http",
        curl: &[],
        owned: "/var/lib/regional-hub/hub.db",
    })
}

/// Runs the installed binary as its service user with its packaged
/// configuration until `/healthz` answers, checks who owns its database, and
/// stops it with SIGTERM, which it must answer with a clean exit.
fn run_installed(installed: &Installed) -> Result<()> {
    let Installed { name, user, .. } = *installed;
    println!("\n== the installed {name} as user {user} answers /healthz ==");
    let started = Instant::now();
    let binary = format!("/usr/bin/{name}");
    // setpriv executes the server in its own process (runuser would stay
    // between as a parent that answers SIGTERM with a failure of its own).
    let mut server = Command::new("setpriv")
        .args([
            &format!("--reuid={user}"),
            &format!("--regid={user}"),
            "--init-groups",
            "--",
            &binary,
            "--config",
            installed.config,
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
    let listening = format!("listening on {}://", installed.scheme);
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("   | {line}");
            if let Some((_, rest)) = line.split_once(&listening) {
                let _ = address_tx.send(rest.trim().to_owned());
            }
        }
    });
    let checked = (|| -> Result<()> {
        let address = address_rx
            .recv_timeout(Duration::from_secs(120))
            .with_context(|| {
                format!(
                    "the installed {name} did not listen on {}:// within 120 s",
                    installed.scheme
                )
            })?;
        let port = address.rsplit_once(':').context("no port")?.1;
        let out = Command::new("curl")
            .args(["-sS", "--fail", "--max-time", "30"])
            .args(installed.curl)
            .args([
                "--resolve",
                &format!("localhost:{port}:127.0.0.1"),
                &format!("{}://localhost:{port}/healthz", installed.scheme),
            ])
            .output()
            .context("curl is missing: run scripts/install-deps.sh")?;
        let body = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() || !body.contains("\"status\":\"ok\"") {
            bail!("/healthz: {body} {}", String::from_utf8_lossy(&out.stderr));
        }
        println!("   /healthz: {body}");
        let owner = Command::new("stat")
            .args(["-c", "%U", installed.owned])
            .output()?;
        let owner = String::from_utf8_lossy(&owner.stdout).trim().to_owned();
        if owner != user {
            bail!(
                "{} belongs to '{owner}', not to the service user",
                installed.owned
            );
        }
        Ok(())
    })();
    let _ = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status();
    let status = server.wait()?;
    checked?;
    if !status.success() {
        bail!("the installed {name} did not stop cleanly on SIGTERM: {status}");
    }
    println!("-- ok in {:.1?}", started.elapsed());
    Ok(())
}
