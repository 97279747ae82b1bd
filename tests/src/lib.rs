//! Shared helpers for the end-to-end tests in `tests/tests/`: the real
//! `depot-server` binary as a child process (a fresh demo database each),
//! one chromedriver per test binary, and headless Chromium sessions.
//!
//! Browsers are driven over WebDriver with `fantoccini` from Rust, so the
//! journeys live beside the server's own tests in one language and one
//! `cargo test`; chromedriver's Chromium endpoints add what WebDriver lacks
//! (network emulation for the offline journeys).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// How long any awaited condition may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// Polls `probe` every 50 ms until it yields a value or [`DEADLINE`] passes.
pub async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Option<T>>>,
{
    let end = Instant::now() + DEADLINE;
    let mut last_error = None;
    loop {
        match probe().await {
            Ok(Some(value)) => return Ok(value),
            Ok(None) => {}
            Err(error) => last_error = Some(error),
        }
        if Instant::now() > end {
            match last_error {
                Some(error) => bail!("timed out waiting for {what}; last error: {error:#}"),
                None => bail!("timed out waiting for {what}"),
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The workspace's `target/debug`, from this test binary's path.
fn target_debug() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    // target/debug/deps/browser-…
    exe.parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .expect("target/debug")
}

/// The server binary, built once per test binary (a no-op when it is current).
pub fn server_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = std::process::Command::new(cargo)
            .args(["build", "-q", "-p", "depot-server", "--bin", "depot-server"])
            .status()
            .expect("run cargo build");
        assert!(status.success(), "building depot-server failed");
        let binary = target_debug().join("depot-server");
        assert!(binary.exists(), "{} missing after build", binary.display());
        binary
    })
}

/// A demo user as `depot-server demo` prints it.
#[derive(Debug, Clone)]
pub struct DemoUser {
    pub name: String,
    pub role: String,
    pub token: String,
    pub password: String,
}

/// The real server on a fresh demo database.
pub struct Depot {
    pub address: SocketAddr,
    pub users: Vec<DemoUser>,
    pub db: PathBuf,
    pub http: reqwest::Client,
    child: Option<Child>,
    dir: tempfile::TempDir,
}

impl Depot {
    /// `depot-server demo` on a free port; returns once it printed its users.
    pub async fn demo() -> anyhow::Result<Depot> {
        let dir = tempfile::tempdir()?;
        let db = dir.path().join("depot.db");
        let log = std::fs::File::create(dir.path().join("server.log"))?;
        let mut child = Command::new(server_binary())
            .arg("--db")
            .arg(&db)
            .args(["--listen", "127.0.0.1:0", "demo"])
            .env("DEPOT_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .context("start depot-server demo")?;
        let stdout = child.stdout.take().context("stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let mut address = None;
        let mut users = Vec::new();
        let read = async {
            while let Some(line) = lines.next_line().await? {
                if let Some(rest) = line.trim().strip_prefix("Web:") {
                    let url = rest.split_whitespace().next().unwrap_or("");
                    let host = url.trim_start_matches("http://").trim_end_matches('/');
                    address = Some(host.parse::<SocketAddr>()?);
                }
                let words: Vec<&str> = line.split_whitespace().collect();
                if let [name, role, token, "password", password] = words[..] {
                    users.push(DemoUser {
                        name: name.into(),
                        role: role.into(),
                        token: token.into(),
                        password: password.into(),
                    });
                }
                if line.trim_start().starts_with("Try:") {
                    return anyhow::Ok(());
                }
            }
            bail!("depot-server demo ended before printing its users")
        };
        tokio::time::timeout(DEADLINE, read)
            .await
            .context("depot-server demo did not start in time")??;
        // Keep draining stdout so the server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let depot = Depot {
            address: address.context("no Web: line")?,
            users,
            db,
            http: reqwest::Client::new(),
            child: Some(child),
            dir,
        };
        depot.wait_healthy().await?;
        Ok(depot)
    }

    /// The demo user `name` (`demo-staff`, `demo-manager`, `demo-auditor`).
    pub fn user(&self, name: &str) -> &DemoUser {
        self.users
            .iter()
            .find(|u| u.name == name)
            .unwrap_or_else(|| panic!("no demo user {name} in {:?}", self.users))
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// The server's log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    async fn wait_healthy(&self) -> anyhow::Result<()> {
        let url = self.url("/healthz");
        eventually("the server to answer /healthz", || async {
            Ok(self
                .http
                .get(&url)
                .send()
                .await
                .ok()
                .filter(|r| r.status().is_success())
                .map(|_| ()))
        })
        .await
    }

    /// Stops the server (SIGKILL: an outage as the handheld sees it).
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill().await?;
        }
        Ok(())
    }

    /// Starts the server again on the same database and address.
    pub async fn start_again(&mut self) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .append(true)
            .open(self.dir.path().join("server.log"))?;
        let child = Command::new(server_binary())
            .arg("--db")
            .arg(&self.db)
            .arg("--listen")
            .arg(self.address.to_string())
            .arg("run")
            .env("DEPOT_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .context("restart depot-server")?;
        self.child = Some(child);
        self.wait_healthy().await
    }

    /// `GET` with a user's API token; the JSON body.
    pub async fn get(&self, token: &str, path: &str) -> anyhow::Result<Value> {
        let response = self
            .http
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await?;
        let status = response.status();
        let body: Value = response.json().await?;
        if !status.is_success() {
            bail!("GET {path}: {status} {body}");
        }
        Ok(body)
    }

    /// `POST` JSON with a user's API token (and an Idempotency-Key if given).
    pub async fn post(
        &self,
        token: &str,
        path: &str,
        key: Option<&str>,
        body: &Value,
    ) -> anyhow::Result<(u16, Value)> {
        let mut request = self.http.post(self.url(path)).bearer_auth(token).json(body);
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        Ok((status, response.json().await?))
    }

    /// Every ledger movement after `after_seq` a cleared auditor sees.
    pub async fn movements_after(&self, after_seq: i64) -> anyhow::Result<Vec<Value>> {
        let token = self.user("demo-auditor").token.clone();
        let body = self
            .get(
                &token,
                &format!("/api/v1/movements?after_seq={after_seq}&limit=1000"),
            )
            .await?;
        Ok(body["movements"].as_array().cloned().unwrap_or_default())
    }

    /// The movements booked by handhelds after `after_seq`, oldest first:
    /// the demo's simulated gateway books passes (source `gate`) beside them
    /// all the time.
    pub async fn handheld_movements_after(&self, after_seq: i64) -> anyhow::Result<Vec<Value>> {
        let mut handheld = Vec::new();
        let mut after = after_seq;
        loop {
            let page = self.movements_after(after).await?;
            let Some(last) = page.last().and_then(|m| m["seq"].as_i64()) else {
                return Ok(handheld);
            };
            after = last;
            handheld.extend(page.into_iter().filter(|m| m["source"] == "handheld"));
        }
    }

    /// The newest ledger seq (the ledger read page by page to its end).
    pub async fn last_seq(&self) -> anyhow::Result<i64> {
        let mut last = 0;
        loop {
            match self.movements_after(last).await?.last() {
                Some(movement) => last = movement["seq"].as_i64().unwrap_or(last),
                None => return Ok(last),
            }
        }
    }
}

/// One chromedriver for the whole test binary.
pub struct Driver {
    pub url: String,
    child: Child,
}

impl Driver {
    /// Starts Debian's chromedriver on a free port and waits until it is ready.
    pub async fn start() -> anyhow::Result<Driver> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context(
                "cannot start chromedriver: install Chromium and its driver with \
                 scripts/install-deps.sh (Debian packages chromium, chromium-driver)",
            )?;
        let url = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let status = format!("{url}/status");
        eventually("chromedriver to be ready", || async {
            let ready = match http.get(&status).send().await {
                Ok(response) => response.json::<Value>().await.ok(),
                Err(_) => None,
            };
            Ok(ready
                .filter(|v| v["value"]["ready"].as_bool() == Some(true))
                .map(|_| ()))
        })
        .await?;
        Ok(Driver { url, child })
    }

    /// Ends chromedriver (and with it any browser it still runs).
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }

    /// A fresh headless Chromium (own profile) with a viewport of `width` ×
    /// `height` (below 500 px wide by mobile emulation, as headless windows
    /// are never narrower).
    /// `host_rules` maps extra host names (e.g. to reach the server by a name
    /// that is not a secure context).
    pub async fn browser(
        &self,
        width: u32,
        height: u32,
        host_rules: Option<&str>,
    ) -> anyhow::Result<Browser> {
        let profile = tempfile::tempdir()?;
        let mut args = vec![
            "--headless".to_owned(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-dev-shm-usage".into(),
            "--lang=en-US".into(),
            format!("--window-size={width},{height}"),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        if let Some(rules) = host_rules {
            args.push(format!("--host-resolver-rules={rules}"));
        }
        let mut options = json!({
            "binary": "/usr/bin/chromium",
            "args": args,
            "prefs": {"intl.accept_languages": "en-US,en"},
        });
        if width < 500 {
            options["mobileEmulation"] = json!({
                "deviceMetrics": {"width": width, "height": height, "pixelRatio": 2.0, "touch": true},
            });
        }
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": options,
        });
        let Value::Object(capabilities) = capabilities else {
            bail!("capabilities are an object");
        };
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .context("start a Chromium session")?;
        Ok(Browser {
            client,
            _profile: profile,
        })
    }
}

/// A Chromium session and its throw-away profile.
pub struct Browser {
    pub client: Client,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Cuts (`true`) or restores the page's network (DevTools network emulation).
    pub async fn set_offline(&self, offline: bool) -> anyhow::Result<()> {
        self.client
            .issue_cmd(NetworkConditions { offline })
            .await
            .context("set network conditions")?;
        Ok(())
    }

    /// Saves a PNG screenshot to `target/screenshots/NAME.png` (the test
    /// artefacts) and, with `UPDATE_SCREENSHOTS=1`, to `docs/screenshots/`.
    pub async fn screenshot(&self, name: &str) -> anyhow::Result<()> {
        let png = self.client.screenshot().await?;
        let artefacts = target_debug()
            .parent()
            .map(|t| t.join("screenshots"))
            .context("target dir")?;
        std::fs::create_dir_all(&artefacts)?;
        std::fs::write(artefacts.join(format!("{name}.png")), &png)?;
        if std::env::var("UPDATE_SCREENSHOTS").as_deref() == Ok("1") {
            let docs = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join("docs")
                .join("screenshots");
            std::fs::create_dir_all(&docs)?;
            std::fs::write(docs.join(format!("{name}.png")), &png)?;
        }
        Ok(())
    }

    /// Ends the browser session.
    pub async fn close(self) -> anyhow::Result<()> {
        self.client.close().await?;
        Ok(())
    }
}

/// chromedriver's `POST /session/{id}/chromium/network_conditions`.
#[derive(Debug)]
struct NetworkConditions {
    offline: bool,
}

impl WebDriverCompatibleCommand for NetworkConditions {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/chromium/network_conditions",
            session_id.unwrap_or("")
        ))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        let body = json!({
            "network_conditions": {
                "offline": self.offline,
                "latency": 0,
                "download_throughput": 1_000_000_000,
                "upload_throughput": 1_000_000_000,
            }
        });
        (http::Method::POST, Some(body.to_string()))
    }
}
