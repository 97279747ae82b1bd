//! Depot → broker → hub, end to end, with nothing simulated: a real
//! Mosquitto on a free port, the real depot-server binary publishing its
//! feed, and the real regional-hub binary applying it. A booking at the
//! depot shows at the hub; the hub killed with `kill -9` while bookings go
//! on and started again catches up through its persistent session: hub
//! stock equals depot stock, every seq applied exactly once, no gaps; the
//! depot killed with `kill -9` shows offline at the hub (its Last Will).

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Client;
use serde_json::{json, Value};

const MOSQUITTO: &str = "/usr/sbin/mosquitto";
const DEADLINE: Duration = Duration::from_secs(60);

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// A child process killed (SIGKILL) when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A Mosquitto with its own config in a temp directory.
struct Broker {
    port: u16,
    _process: Process,
    _dir: tempfile::TempDir,
}

impl Broker {
    fn start() -> Broker {
        assert!(
            Path::new(MOSQUITTO).exists(),
            "{MOSQUITTO} is missing: run scripts/install-deps.sh (Debian package mosquitto)"
        );
        let dir = tempfile::tempdir().expect("dir");
        let port = free_port();
        let config = dir.path().join("mosquitto.conf");
        std::fs::write(
            &config,
            format!(
                "user root\nlistener {port} 127.0.0.1\nallow_anonymous true\n\
                 persistence false\nmax_queued_messages 100000\n"
            ),
        )
        .expect("config");
        let log = std::fs::File::create(dir.path().join("log")).expect("log");
        let child = Command::new(MOSQUITTO)
            .arg("-c")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn mosquitto");
        let process = Process(child);
        let deadline = Instant::now() + DEADLINE;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "mosquitto did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
        Broker {
            port,
            _process: process,
            _dir: dir,
        }
    }

    fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }
}

/// The depot-server binary of this build profile, built if needed: it is
/// another package's binary, so cargo does not hand its path to this test.
fn depot_server_binary() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args([
            "build",
            "--quiet",
            "-p",
            "depot-server",
            "--bin",
            "depot-server",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("run cargo build");
    assert!(status.success(), "building depot-server failed");
    // target/debug/deps/e2e-… → target/debug/depot-server
    let exe = std::env::current_exe().expect("test path");
    let binary = exe
        .parent()
        .and_then(Path::parent)
        .expect("target dir")
        .join("depot-server");
    assert!(binary.exists(), "{} is missing", binary.display());
    binary
}

/// Runs a command line to completion and returns its stdout.
fn run(binary: &Path, args: &[&str], db: &Path) -> String {
    let out = Command::new(binary)
        .arg("--db")
        .arg(db)
        .args(args)
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{} {args:?}: {}",
        binary.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Starts a server binary and returns it with its base URL, read from the
/// "listening on http://" line it logs.
fn serve(mut command: Command) -> (Process, String) {
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

fn start_hub(db: &Path, mqtt: &str) -> (Process, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_regional-hub"));
    command
        .args(["run", "--listen", "127.0.0.1:0", "--db"])
        .arg(db)
        .env("HUB_MQTT_URL", mqtt)
        .env("HUB_MQTT_CLIENT_ID", "hub-e2e")
        .env("HUB_LOG", "info");
    serve(command)
}

async fn get(client: &Client, token: &str, url: &str) -> (u16, Value) {
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
async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
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

/// Waits until the hub has subscribed (so nothing the depot sends is missed).
async fn wait_subscribed(client: &Client, hub: &str) {
    eventually("the hub's subscription", || async {
        let (_, body) = get(client, "", &format!("{hub}/healthz")).await;
        (body["feed"] == "connected").then_some(())
    })
    .await;
}

/// The hub's total stock of `sku` as `token` sees it; `None` if 404.
async fn hub_total(client: &Client, hub: &str, token: &str, sku: &str) -> Option<i64> {
    let (status, body) = get(client, token, &format!("{hub}/api/v1/stock?sku={sku}")).await;
    (status == 200).then(|| body["total"].as_i64().expect("total"))
}

/// The depot's total stock of `sku`.
async fn depot_total(client: &Client, depot: &str, token: &str, sku: &str) -> i64 {
    let (status, body) = get(client, token, &format!("{depot}/api/v1/stock?sku={sku}")).await;
    assert_eq!(status, 200, "{body}");
    body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["quantity"].as_i64().expect("quantity"))
        .sum()
}

/// Books a receive of `quantity` of `sku` at B-1; returns its seq.
async fn book(
    client: &Client,
    depot: &str,
    token: &str,
    key: &str,
    sku: &str,
    quantity: i64,
) -> i64 {
    let response = client
        .post(format!("{depot}/api/v1/movements"))
        .bearer_auth(token)
        .header("Idempotency-Key", key)
        .json(&json!({"kind":"receive","sku":sku,"quantity":quantity,"to":"B-1"}))
        .send()
        .await
        .expect("book");
    assert_eq!(response.status(), 201, "booking {key}");
    let body: Value = response.json().await.expect("json");
    body["movements"][0]["seq"].as_i64().expect("seq")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bookings_reach_the_hub_and_a_killed_hub_catches_up_applying_each_seq_once() {
    let depot_server = depot_server_binary();
    let broker = Broker::start();
    let dir = tempfile::tempdir().expect("dir");
    let client = Client::new();

    // The hub first, so its persistent session exists before the depot publishes.
    let hub_db = dir.path().join("hub.db");
    let cell = run(
        Path::new(env!("CARGO_BIN_EXE_regional-hub")),
        &["user", "add", "cell", "--role", "hub", "--restricted"],
        &hub_db,
    );
    let civil = run(
        Path::new(env!("CARGO_BIN_EXE_regional-hub")),
        &["user", "add", "civil", "--role", "hub"],
        &hub_db,
    );
    let (hub_process, hub) = start_hub(&hub_db, &broker.url());
    wait_subscribed(&client, &hub).await;

    let depot_db = dir.path().join("depot.db");
    let manager = run(
        &depot_server,
        &[
            "user",
            "add",
            "manager",
            "--role",
            "manager",
            "--restricted",
        ],
        &depot_db,
    );
    let mut command = Command::new(&depot_server);
    command
        .args(["run", "--listen", "127.0.0.1:0", "--db"])
        .arg(&depot_db)
        .env("DEPOT_ID", "north-1")
        .env("DEPOT_MQTT_URL", broker.url())
        .env("DEPOT_LOG", "info");
    let (depot_process, depot) = serve(command);
    for (path, body) in [
        (
            "/api/v1/articles",
            json!({"sku":"ART-1","name":"Article one","unit":"piece","unit_volume_ml":1000}),
        ),
        (
            "/api/v1/articles",
            json!({"sku":"SECRET-1","name":"Restricted","unit":"box","classification":"restricted"}),
        ),
        (
            "/api/v1/locations",
            json!({"code":"B-1","zone":"B","kind":"bin","capacity_volume_l":1000}),
        ),
    ] {
        let response = client
            .post(format!("{depot}{path}"))
            .bearer_auth(&manager)
            .json(&body)
            .send()
            .await
            .expect("seed");
        assert_eq!(response.status(), 201, "seed {body}");
    }

    // A booking at the depot → the hub shows the new stock.
    book(&client, &depot, &manager, "first", "ART-1", 5).await;
    book(&client, &depot, &manager, "secret", "SECRET-1", 2).await;
    eventually("ART-1 at the hub", || async {
        (hub_total(&client, &hub, &civil, "ART-1").await == Some(5)).then_some(())
    })
    .await;
    eventually("SECRET-1 at the hub for a cleared cell", || async {
        (hub_total(&client, &hub, &cell, "SECRET-1").await == Some(2)).then_some(())
    })
    .await;
    // The clearance rule: an uncleared cell never sees restricted stock.
    assert_eq!(hub_total(&client, &hub, &civil, "SECRET-1").await, None);
    let (status, _) = get(&client, "wrong", &format!("{hub}/api/v1/depots")).await;
    assert_eq!(status, 401);
    let (status, body) = get(
        &client,
        &cell,
        &format!("{hub}/api/v1/stock?sku=ART-1&gtin=1"),
    )
    .await;
    assert_eq!(
        (status, body["status"].as_u64()),
        (400, Some(400)),
        "{body}"
    );
    // Free capacity per depot and for the region, from the retained utilisation.
    eventually("north-1's capacity at the hub", || async {
        let (_, body) = get(&client, &cell, &format!("{hub}/api/v1/capacity")).await;
        let depot = body["depots"]
            .as_array()?
            .iter()
            .find(|d| d["depot"] == "north-1")?
            .clone();
        (depot["volume_ml"]["used"] == 5000
            && depot["volume_ml"]["capacity"] == 1_000_000
            && body["region"]["volume_ml"]["free"] == 995_000)
            .then_some(())
    })
    .await;

    // Bookings go on while the hub is killed and started again.
    let booked = Arc::new(AtomicUsize::new(0));
    let last_seq = Arc::new(AtomicI64::new(0));
    let bookings = 60;
    let booker = {
        let (client, depot, manager) = (client.clone(), depot.clone(), manager.clone());
        let (booked, last_seq) = (booked.clone(), last_seq.clone());
        tokio::spawn(async move {
            for n in 0..bookings {
                let seq = book(&client, &depot, &manager, &format!("run-{n}"), "ART-1", 1).await;
                last_seq.fetch_max(seq, Ordering::SeqCst);
                booked.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    let wait_booked = |count: usize| {
        let booked = booked.clone();
        async move {
            eventually("bookings", || async {
                (booked.load(Ordering::SeqCst) >= count).then_some(())
            })
            .await
        }
    };
    wait_booked(10).await;
    drop(hub_process); // SIGKILL
    let booked_while_down = booked.load(Ordering::SeqCst);
    wait_booked(booked_while_down + 20).await;
    let (_hub_process, hub) = start_hub(&hub_db, &broker.url());
    booker.await.expect("booker");
    let last_seq = last_seq.load(Ordering::SeqCst);
    assert_eq!(
        last_seq,
        2 + bookings as i64,
        "the depot's ledger is all ours"
    );

    let feed = eventually("the hub to apply every seq", || async {
        let (_, body) = get(&client, &cell, &format!("{hub}/api/v1/depots")).await;
        let feed = body["depots"]
            .as_array()?
            .iter()
            .find(|d| d["depot"] == "north-1")?
            .clone();
        (feed["last_seq"] == last_seq).then_some(feed)
    })
    .await;
    assert_eq!(feed["gaps"], json!([]), "{feed}");
    assert_eq!(
        feed["movements_applied"], last_seq,
        "each seq applied once: {feed}"
    );
    assert_eq!(feed["link"], "online", "{feed}");
    assert_eq!(feed["freshness"], "fresh", "{feed}");

    let expected = depot_total(&client, &depot, &manager, "ART-1").await;
    assert_eq!(expected, 5 + bookings as i64);
    eventually("hub stock to equal depot stock", || async {
        (hub_total(&client, &hub, &civil, "ART-1").await == Some(expected)).then_some(())
    })
    .await;
    assert_eq!(
        hub_total(&client, &hub, &cell, "SECRET-1").await,
        Some(depot_total(&client, &depot, &manager, "SECRET-1").await)
    );

    // kill -9 of the depot: the broker publishes its Last Will, the hub shows it offline.
    drop(depot_process);
    eventually("north-1 offline at the hub", || async {
        let (_, body) = get(&client, &cell, &format!("{hub}/api/v1/depots")).await;
        let feed = body["depots"]
            .as_array()?
            .iter()
            .find(|d| d["depot"] == "north-1")?
            .clone();
        (feed["link"] == "offline" && feed["freshness"] == "stale").then_some(())
    })
    .await;
}
