//! The OpenAPI document as a contract a client can generate code from:
//! schemathesis (Python, from `scripts/install-deps.sh`) reads the document
//! the real `depot-server demo` serves and runs every check on positive and
//! negative data in its examples, coverage, fuzzing and stateful phases (the
//! last follows the document's links), once with the demo manager's token and
//! once with the demo staff's. Any failure fails the test, with
//! schemathesis' report. `tests/schemathesis.toml` holds its settings.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

const INSTALL_HINT: &str = "run scripts/install-deps.sh to install Python's schemathesis";

/// Test cases per operation and phase: enough to meet every operation's
/// parameters, small enough that each run takes about 25 s on 2 cores
/// (100 were tried, clean, at about 35 s a run).
const MAX_EXAMPLES: &str = "50";

/// The real `demo` on a fresh database, killed when dropped.
struct Demo {
    child: Child,
    /// `http://127.0.0.1:PORT`
    base: String,
    /// Role → API token, as the demo prints them.
    tokens: Vec<(String, String)>,
}

impl Demo {
    fn start(db: &Path) -> Demo {
        let mut child = Command::new(env!("CARGO_BIN_EXE_depot-server"))
            .arg("--db")
            .arg(db)
            .args(["--listen", "127.0.0.1:0", "demo"])
            .env("DEPOT_LOG", "warn")
            // Passes come often, so some wait for a manager's resolution.
            .env("DEPOT_SIM_PASS_INTERVAL_MS", "300")
            // Schemathesis sends thousands of requests from one address in
            // seconds: the rate limits (tested in `abuse.rs`, documented as
            // 429 on every operation) would answer most of them.
            .env("DEPOT_API_TOKEN_RATE_PER_S", "0")
            .env("DEPOT_API_ADDRESS_RATE_PER_S", "0")
            .env_remove("DEPOT_GATEWAY")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn demo");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let (mut base, mut tokens) = (String::new(), Vec::new());
        for line in lines.by_ref().map_while(Result::ok) {
            let line = line.trim();
            if let Some(rest) = line.strip_prefix("API:") {
                let api = rest.split_whitespace().next().unwrap_or("");
                base = api.trim_end_matches("/api/v1/").to_owned();
            }
            if line.starts_with("demo-") {
                let words: Vec<&str> = line.split_whitespace().collect();
                if let [_, role, token, ..] = words[..] {
                    tokens.push((role.to_owned(), token.to_owned()));
                }
            }
            if line.starts_with("Try:") {
                break;
            }
        }
        std::thread::spawn(move || lines.for_each(drop));
        assert!(
            base.starts_with("http://127.0.0.1:"),
            "no API line: {base:?}"
        );
        Demo {
            child,
            base,
            tokens,
        }
    }

    fn token(&self, role: &str) -> &str {
        self.tokens
            .iter()
            .find(|(r, _)| r == role)
            .map(|(_, token)| token.as_str())
            .unwrap_or_else(|| panic!("the demo printed no {role} token: {:?}", self.tokens))
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs schemathesis with `token`; panics with its report on any failure.
fn schemathesis(demo: &Demo, role: &str, dir: &Path) {
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/schemathesis.toml");
    let output = Command::new("python3")
        .args([
            "-m",
            "schemathesis.cli",
            "--no-color",
            "--config-file",
            config,
        ])
        .arg("run")
        .arg(format!("{}/api/v1/openapi.json", demo.base))
        .arg("--header")
        .arg(format!("Authorization: Bearer {}", demo.token(role)))
        .args(["--checks", "all", "--mode", "all"])
        .args(["--phases", "examples,coverage,fuzzing,stateful"])
        .args(["--max-examples", MAX_EXAMPLES, "--workers", "2"])
        .args(["--generation-database", "none"])
        .current_dir(dir)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap_or_else(|e| panic!("python3: {e} ({INSTALL_HINT})"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("No module named schemathesis"),
        "schemathesis is missing ({INSTALL_HINT}): {stderr}"
    );
    assert!(
        output.status.success(),
        "schemathesis as {role} found failures ({}):\n{stdout}\n{stderr}",
        output.status
    );
    // The stateful phase needs links between operations; without them it
    // is skipped (marked ⏭), which would leave the sequences untested.
    assert!(
        stdout
            .lines()
            .any(|line| line.contains("Stateful (") && line.trim_start().starts_with('✅')),
        "the stateful phase did not run as {role}:\n{stdout}"
    );
}

#[test]
fn schemathesis_finds_no_failure_as_manager_or_staff() {
    let dir = tempfile::tempdir().expect("temp dir");
    let demo = Demo::start(&dir.path().join("demo.db"));
    for role in ["manager", "staff"] {
        schemathesis(&demo, role, dir.path());
    }
}
