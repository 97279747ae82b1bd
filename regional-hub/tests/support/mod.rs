//! Real peers for the hub's tests, each on a free port in its own temp
//! directory: Mosquitto, a PostgreSQL cluster, hub processes, and a real
//! depot-server running in this process (its library, with its real feed
//! publisher), plus polling with a deadline. A missing peer fails loudly
//! with the install hint.

#![allow(dead_code)] // each test binary uses its own part of the kit

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use reqwest::Client;
use serde_json::{json, Value};

pub const MOSQUITTO: &str = "/usr/sbin/mosquitto";
pub const DEADLINE: Duration = Duration::from_secs(90);
pub const HUB: &str = env!("CARGO_BIN_EXE_regional-hub");

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// A child process killed (SIGKILL) when dropped.
pub struct Process(pub Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_listening(port: u16, what: &str) {
    let deadline = Instant::now() + DEADLINE;
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not listen");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A Mosquitto with its own config in a temp directory. Its session queues
/// have no limit (`max_queued_messages 0`): whatever a test or bench sends
/// to a slow or absent persistent session waits for it. The in-flight
/// window is the one `deploy/mosquitto/mosquitto.conf` sets.
pub struct Broker {
    pub port: u16,
    process: Option<Process>,
    dir: tempfile::TempDir,
}

impl Broker {
    /// A broker that keeps its state only in memory.
    pub fn start() -> Broker {
        Broker::start_with(false)
    }

    /// A broker that saves its sessions and queues to disk every second and
    /// at a clean stop, so persistent sessions outlive a restart.
    pub fn start_persistent() -> Broker {
        Broker::start_with(true)
    }

    fn start_with(persistent: bool) -> Broker {
        assert!(
            Path::new(MOSQUITTO).exists(),
            "{MOSQUITTO} is missing: run scripts/install-deps.sh (Debian package mosquitto)"
        );
        let dir = tempfile::tempdir().expect("dir");
        let port = free_port();
        let persistence = if persistent {
            format!(
                "persistence true\npersistence_location {}/\nautosave_interval 1\n",
                dir.path().display()
            )
        } else {
            "persistence false\n".to_owned()
        };
        std::fs::write(
            dir.path().join("mosquitto.conf"),
            format!(
                "user root\nlistener {port} 127.0.0.1\nallow_anonymous true\n\
                 {persistence}max_queued_messages 0\nmax_inflight_messages 1000\n"
            ),
        )
        .expect("config");
        let mut broker = Broker {
            port,
            process: None,
            dir,
        };
        broker.restart();
        broker
    }

    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// The broker's process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(|p| p.0.id())
    }

    /// Starts the broker (again) on its port with its saved state.
    pub fn restart(&mut self) {
        assert!(self.process.is_none(), "the broker runs already");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("log"))
            .expect("log");
        let child = Command::new(MOSQUITTO)
            .arg("-c")
            .arg(self.dir.path().join("mosquitto.conf"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn mosquitto");
        self.process = Some(Process(child));
        wait_listening(self.port, "mosquitto");
    }

    /// How often a persistent broker saves its state, from its next start
    /// on; 0: only at a clean stop.
    pub fn set_autosave(&self, seconds: u32) {
        let path = self.dir.path().join("mosquitto.conf");
        let config = std::fs::read_to_string(&path).expect("config");
        let config: String = config
            .lines()
            .map(|line| match line.strip_prefix("autosave_interval ") {
                Some(_) => format!("autosave_interval {seconds}\n"),
                None => format!("{line}\n"),
            })
            .collect();
        std::fs::write(&path, config).expect("config");
    }

    /// `kill -9`: no goodbye, nothing saved since the last autosave.
    pub fn kill9(&mut self) {
        drop(self.process.take()); // SIGKILL, reaped
        self.wait_closed();
    }

    /// A clean stop (SIGTERM): the broker saves its state and exits.
    pub fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            let status = Command::new("kill")
                .args(["-TERM", &process.0.id().to_string()])
                .status()
                .expect("kill -TERM");
            assert!(status.success());
            process.0.wait().expect("mosquitto exits");
        }
        self.wait_closed();
    }

    fn wait_closed(&self) {
        let deadline = Instant::now() + DEADLINE;
        while TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
            assert!(Instant::now() < deadline, "mosquitto still listens");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until a persistent broker has saved its state after `since`
    /// (its sessions and subscriptions up to then survive a `kill -9`).
    pub fn saved_after(&self, since: SystemTime) {
        let file = self.dir.path().join("mosquitto.db");
        let deadline = Instant::now() + DEADLINE;
        loop {
            let saved = std::fs::metadata(&file).and_then(|m| m.modified());
            if saved.is_ok_and(|at| at > since) {
                return;
            }
            assert!(Instant::now() < deadline, "mosquitto saved no state");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A PostgreSQL cluster of its own (Debian's `postgresql` package), in a
/// temp directory on a free port, stopped when dropped. As root, initdb
/// and the server run as the unprivileged `postgres` user.
pub struct Postgres {
    pub port: u16,
    bin: PathBuf,
    dir: tempfile::TempDir,
}

impl Postgres {
    /// A cluster for tests: `fsync=off`, since a test never loses power.
    pub fn start() -> Postgres {
        Postgres::start_with(false)
    }

    /// A cluster with `fsync` as given: on for a benchmark whose figures
    /// stand beside SQLite's `synchronous=FULL`.
    pub fn start_with(fsync: bool) -> Postgres {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .and_then(|versions| {
                versions
                    .filter_map(|v| v.ok().map(|v| v.path().join("bin")))
                    .filter(|bin| bin.join("initdb").exists())
                    .max()
            })
            .expect(
                "PostgreSQL's initdb is missing under /usr/lib/postgresql/*/bin: \
                 run scripts/install-deps.sh (Debian package postgresql)",
            );
        let dir = tempfile::tempdir().expect("dir");
        let port = free_port();
        let postgres = Postgres { port, bin, dir };
        let status = Command::new("chown")
            .args(["-R", "postgres"])
            .arg(postgres.dir.path())
            .status();
        let as_root = is_root();
        if as_root {
            assert!(
                status.is_ok_and(|s| s.success()),
                "chown to the postgres user failed: run scripts/install-deps.sh"
            );
        }
        let data = postgres.dir.path().join("data");
        postgres.run(
            "initdb",
            &[
                "-D",
                path_str(&data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
        );
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync={} -c max_connections=100",
            path_str(postgres.dir.path()),
            if fsync { "on" } else { "off" }
        );
        let log = postgres.dir.path().join("log");
        postgres.run(
            "pg_ctl",
            &[
                "-D",
                path_str(&data),
                "-o",
                &options,
                "-l",
                path_str(&log),
                "-w",
                "start",
            ],
        );
        wait_listening(port, "postgres");
        postgres
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let tool = self.bin.join(tool);
        let mut command = if is_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(&tool);
            command
        } else {
            Command::new(&tool)
        };
        let out = command
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .expect("run a PostgreSQL tool");
        assert!(
            out.status.success(),
            "{} {args:?}: {}{}",
            tool.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A fresh database `name` in the cluster; its URL.
    pub async fn database(&self, name: &str) -> String {
        use sqlx::Connection;
        let admin = format!("postgres://postgres@127.0.0.1:{}/postgres", self.port);
        let mut connection = sqlx::PgConnection::connect(&admin)
            .await
            .expect("connect to postgres");
        sqlx::Executor::execute(&mut connection, format!("CREATE DATABASE {name}").as_str())
            .await
            .expect("create database");
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let tool = self.bin.join("pg_ctl");
        let mut command = if is_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(&tool);
            command
        } else {
            Command::new(&tool)
        };
        let _ = command
            .arg("-D")
            .arg(&data)
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
        .unwrap_or(false)
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// The depot-server binary of this build profile: it is another package's
/// binary, so cargo does not hand its path to this test or bench. `cargo
/// test --workspace` (the README's test command) has just built it beside
/// this test's directory, and then it is used as it is; only when it is
/// missing (`cargo test -p regional-hub` on a fresh target, or a bench:
/// `target/release/`) is it built here, in the same profile, with `-p
/// depot-server`'s own feature set (slower: it compiles dependencies
/// again). After changing depot-server, run the workspace's tests, or
/// build depot-server first.
pub fn depot_server_binary() -> PathBuf {
    // target/debug/deps/broker-… → target/debug/depot-server
    let exe = std::env::current_exe().expect("test path");
    let profile_dir = exe.parent().and_then(Path::parent).expect("target dir");
    let binary = profile_dir.join("depot-server");
    if binary.exists() {
        return binary;
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .args([
            "build",
            "--quiet",
            "-p",
            "depot-server",
            "--bin",
            "depot-server",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    if profile_dir
        .file_name()
        .is_some_and(|name| name == "release")
    {
        command.arg("--release");
    }
    // What cargo set for this test process (CARGO_PKG_NAME=regional-hub …)
    // would look like a changed environment to build scripts that watch it
    // (ring's), and rebuild them and all above them, here and again in the
    // next `cargo test`.
    for (name, _) in std::env::vars() {
        let set_by_cargo = [
            "CARGO_PKG_",
            "CARGO_MANIFEST_",
            "CARGO_CRATE_",
            "CARGO_BIN_",
        ]
        .iter()
        .any(|prefix| name.starts_with(prefix))
            || ["CARGO_PRIMARY_PACKAGE", "CARGO_TARGET_TMPDIR", "OUT_DIR"].contains(&name.as_str());
        if set_by_cargo {
            command.env_remove(name);
        }
    }
    let out = command.output().expect("run cargo build");
    assert!(
        out.status.success(),
        "building depot-server: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(binary.exists(), "{} is missing", binary.display());
    binary
}

/// Runs a hub command line to completion against `db`; returns its stdout.
pub fn hub_command(args: &[&str], db: &str) -> String {
    let out = Command::new(HUB)
        .arg("--db")
        .arg(db)
        .args(args)
        .output()
        .expect("run regional-hub");
    assert!(
        out.status.success(),
        "regional-hub {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Starts a server process and returns it with its base URL, read from the
/// "listening on http://" line it logs.
pub fn serve(mut command: Command) -> (Process, String) {
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn server");
    let stderr = child.stderr.take().expect("stderr");
    let process = Process(child);
    let mut lines = BufReader::new(stderr).lines();
    let address = loop {
        let line = lines
            .next()
            .expect("server exited before listening")
            .expect("read stderr");
        if let Some((_, rest)) = line.split_once("listening on http://") {
            break rest.trim().to_owned();
        }
    };
    // Keep draining, so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (process, format!("http://{address}"))
}

/// Starts a hub process on a free port with `env` on top of the defaults.
pub fn start_hub(db: &str, mqtt: &str, env: &[(&str, &str)]) -> (Process, String) {
    let mut command = Command::new(HUB);
    command
        .args(["run", "--listen", "127.0.0.1:0", "--db", db])
        .env("HUB_MQTT_URL", mqtt)
        .env("HUB_LOG", "info");
    for (key, value) in env {
        command.env(key, value);
    }
    serve(command)
}

pub async fn get(client: &Client, token: &str, url: &str) -> (u16, Value) {
    let response = client
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .expect("GET");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Polls `probe` until it returns `Some`, failing after the deadline with `what`.
pub async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the hub has subscribed (so nothing published later is missed).
pub async fn wait_subscribed(client: &Client, hub: &str) {
    eventually("the hub's subscription", || async {
        let (_, body) = get(client, "", &format!("{hub}/healthz")).await;
        (body["feed"] == "connected").then_some(())
    })
    .await;
}

/// One depot's feed as the hub's `/api/v1/depots` shows it.
pub async fn depot_feed(client: &Client, hub: &str, token: &str, depot: &str) -> Option<Value> {
    let (_, body) = get(client, token, &format!("{hub}/api/v1/depots")).await;
    body["depots"]
        .as_array()?
        .iter()
        .find(|d| d["depot"] == depot)
        .cloned()
}

/// A real depot-server in this process (its library: HTTP, the booking
/// writer and the MQTT feed publisher), with a manager token, an article
/// `ART-1` and a bin `B-1`. Dropping it stops it gracefully.
pub struct Depot {
    pub url: String,
    pub token: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl Depot {
    pub async fn start(id: &str, mqtt: &str) -> Depot {
        let dir = tempfile::tempdir().expect("dir");
        let config = depot_server::config::Config {
            depot_id: id.to_owned(),
            db: dir.path().join("depot.db"),
            listen: "127.0.0.1:0".parse().expect("address"),
            mqtt_url: Some(mqtt.to_owned()),
            gateway: "off".into(),
            // It stands in for a busy depot: its tests book as fast as the
            // feed takes it with one token, far past one handheld's limits.
            api_token_rate_per_s: 0,
            api_address_rate_per_s: 0,
            ..depot_server::config::Config::default()
        };
        let bound = depot_server::app::bind(config).await.expect("bind depot");
        let token = depot_server::users::add(
            bound.depot(),
            "manager",
            depot_server::domain::access::Role::Manager,
            true,
        )
        .await
        .expect("user");
        let url = format!("http://{}", bound.address);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            bound
                .serve(async move {
                    let _ = stopped.await;
                })
                .await
                .expect("depot serves");
        });
        let client = Client::new();
        for (path, body) in [
            (
                "/api/v1/articles",
                json!({"sku":"ART-1","name":"Article one","unit":"piece","unit_volume_ml":1000}),
            ),
            (
                "/api/v1/locations",
                json!({"code":"B-1","zone":"B","kind":"bin","capacity_volume_l":100000}),
            ),
        ] {
            let response = client
                .post(format!("{url}{path}"))
                .bearer_auth(&token)
                .json(&body)
                .send()
                .await
                .expect("seed");
            assert_eq!(response.status(), 201, "seed {body}");
        }
        Depot {
            url,
            token,
            stop: Some(stop),
            task: Some(task),
            _dir: dir,
        }
    }

    /// Books a receive of `quantity` ART-1 at B-1; returns its seq.
    pub async fn book(&self, client: &Client, key: &str, quantity: i64) -> i64 {
        let response = client
            .post(format!("{}/api/v1/movements", self.url))
            .bearer_auth(&self.token)
            .header("Idempotency-Key", key)
            .json(&json!({"kind":"receive","sku":"ART-1","quantity":quantity,"to":"B-1"}))
            .send()
            .await
            .expect("book");
        assert_eq!(response.status(), 201, "booking {key}");
        let body: Value = response.json().await.expect("json");
        body["movements"][0]["seq"].as_i64().expect("seq")
    }

    /// The depot's total stock of ART-1.
    pub async fn total(&self, client: &Client) -> i64 {
        let (status, body) = get(
            client,
            &self.token,
            &format!("{}/api/v1/stock?sku=ART-1", self.url),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        body["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|i| i["quantity"].as_i64().expect("quantity"))
            .sum()
    }

    /// Stops the depot gracefully (its feed says `offline`).
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("depot task");
        }
    }
}
