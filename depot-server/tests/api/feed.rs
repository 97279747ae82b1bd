//! The feed to regional hubs against a real Mosquitto that the tests start
//! on free ports: bookings reach a subscriber as movements and retained
//! stock; a late subscriber gets the retained state; restricted articles
//! stay under `restricted/`; a `kill -9` of the depot makes the broker
//! publish `offline`; a dead broker (and a depot restart meanwhile) loses
//! nothing, and the backlog arrives in seq order when the broker is back.
//! Every payload received is parsed with the `feed-contract` types, whose
//! JSON Schemas are checked against them in that crate.

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use feed_contract::{LinkState, MovementMessage, Status, StockSnapshot, UtilizationSnapshot};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::{json, Value};

use crate::helpers::{spawn_app_with, TestApp};

const MOSQUITTO: &str = "/usr/sbin/mosquitto";

/// A Mosquitto process in its own directory (config, persistence, log).
/// It runs under a small shell that kills it when the test process ends
/// (its stdin closes), so no broker outlives the tests.
struct Broker {
    port: u16,
    /// The TLS listener's port, if it has one.
    tls_port: Option<u16>,
    dir: PathBuf,
    _keep: tempfile::TempDir,
    guard: Child,
    pid: u32,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

impl Broker {
    fn start() -> Broker {
        Self::start_with(None)
    }

    /// With a second listener on TLS (certificates from `pki`, see [`make_pki`]) that
    /// requires a client certificate and takes its CN as the user name.
    fn start_with(pki: Option<&Path>) -> Broker {
        assert!(
            Path::new(MOSQUITTO).exists(),
            "{MOSQUITTO} is missing: run scripts/install-deps.sh (Debian package mosquitto)"
        );
        let keep = tempfile::tempdir().expect("dir");
        let dir = keep.path().to_path_buf();
        let port = free_port();
        let mut config = format!(
            "user root\nper_listener_settings true\npersistence true\n\
             persistence_location {}/\nautosave_interval 1\nmax_queued_messages 100000\n\
             listener {port} 127.0.0.1\nallow_anonymous true\n",
            dir.display()
        );
        let tls_port = pki.map(|pki| {
            let tls_port = free_port();
            let pki = pki.display();
            config.push_str(&format!(
                "listener {tls_port} 127.0.0.1\ncafile {pki}/ca.crt\ncertfile {pki}/server.crt\n\
                 keyfile {pki}/server.key\nrequire_certificate true\nuse_identity_as_username true\n"
            ));
            tls_port
        });
        std::fs::write(dir.join("mosquitto.conf"), config).expect("config");
        let (guard, pid) = Self::spawn(&dir, port);
        Broker {
            port,
            tls_port,
            dir,
            _keep: keep,
            guard,
            pid,
        }
    }

    fn spawn(dir: &Path, port: u16) -> (Child, u32) {
        let mut guard = Command::new("sh")
            .args([
                "-c",
                "\"$0\" -c \"$1/mosquitto.conf\" >>\"$1/log\" 2>&1 & echo $!; read _; kill -9 $! 2>/dev/null",
                MOSQUITTO,
            ])
            .arg(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start mosquitto");
        let mut line = String::new();
        BufReader::new(guard.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("pid");
        let pid = line.trim().parse().expect("mosquitto pid");
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "mosquitto did not listen on {port}: {}",
                std::fs::read_to_string(dir.join("log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        (guard, pid)
    }

    fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// `kill -9`: no goodbye, nothing saved since the last autosave.
    fn kill9(&mut self) {
        let status = Command::new("kill")
            .args(["-9", &self.pid.to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
            assert!(Instant::now() < deadline, "mosquitto still listens");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts it again on the same port and persistence.
    fn restart(&mut self) {
        drop(self.guard.stdin.take());
        let _ = self.guard.wait();
        let (guard, pid) = Self::spawn(&self.dir, self.port);
        self.guard = guard;
        self.pid = pid;
    }

    /// Waits until the broker has saved its state (sessions, subscriptions) after `since`.
    fn saved_after(&self, since: SystemTime) {
        let db = self.dir.join("mosquitto.db");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let saved = std::fs::metadata(&db)
                .and_then(|m| m.modified())
                .is_ok_and(|at| at > since);
            if saved {
                return;
            }
            assert!(Instant::now() < deadline, "mosquitto did not autosave");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A test CA, a server certificate for 127.0.0.1 and a client certificate
/// for the depot (CN `feed-tls`), made with openssl in `dir`.
fn make_pki(dir: &Path) {
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl is missing: run scripts/install-deps.sh (Debian package openssl)");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .expect("ext");
    std::fs::write(
        dir.join("client.ext"),
        "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n",
    )
    .expect("ext");
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=depot-edge-test-ca",
    ]);
    for (name, cn, ext) in [
        ("server", "127.0.0.1", "server.ext"),
        ("depot", "feed-tls", "client.ext"),
    ] {
        let (key, csr, crt) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.crt"),
        );
        openssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &csr,
            "-subj",
            &format!("/CN={cn}"),
        ]);
        openssl(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            &crt,
            "-days",
            "2",
            "-extfile",
            ext,
        ]);
    }
}

/// One broker for the tests that do not stop it.
fn shared_broker() -> &'static Mutex<Broker> {
    static BROKER: OnceLock<Mutex<Broker>> = OnceLock::new();
    BROKER.get_or_init(|| Mutex::new(Broker::start()))
}

fn shared_url() -> String {
    shared_broker()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .url()
}

#[derive(Debug, Clone)]
struct Received {
    topic: String,
    payload: Vec<u8>,
    retain: bool,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.payload).expect("JSON payload")
    }
}

/// A rumqttc client as a hub or cell would run it: collects what arrives,
/// reconnects by itself.
struct Subscriber {
    received: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Subscriber {
    /// Connects and waits until every filter is subscribed.
    async fn connect(url: &str, id: &str, clean: bool, filters: &[&str]) -> Subscriber {
        let port: u16 = url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("port");
        let mut options = MqttOptions::new(id, "127.0.0.1", port);
        options
            .set_keep_alive(Duration::from_secs(5))
            .set_clean_session(clean);
        let (client, mut eventloop) = AsyncClient::new(options, 100);
        let received = Arc::new(Mutex::new(Vec::new()));
        let subscribed = Arc::new(AtomicUsize::new(0));
        let filters: Vec<String> = filters.iter().map(|f| (*f).to_owned()).collect();
        let task = {
            let received = received.clone();
            let subscribed = subscribed.clone();
            let filters = filters.clone();
            tokio::spawn(async move {
                loop {
                    match eventloop.poll().await {
                        Ok(Event::Incoming(Packet::ConnAck(_))) => {
                            for filter in &filters {
                                let _ = client.try_subscribe(filter.as_str(), QoS::AtLeastOnce);
                            }
                        }
                        Ok(Event::Incoming(Packet::SubAck(_))) => {
                            subscribed.fetch_add(1, Ordering::SeqCst);
                        }
                        Ok(Event::Incoming(Packet::Publish(publish))) => {
                            received.lock().unwrap().push(Received {
                                topic: publish.topic.clone(),
                                payload: publish.payload.to_vec(),
                                retain: publish.retain,
                            });
                        }
                        Ok(_) => {}
                        // rumqttc reconnects on the next poll.
                        Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                    }
                }
            })
        };
        let subscriber = Subscriber { received, task };
        let deadline = Instant::now() + Duration::from_secs(20);
        while subscribed.load(Ordering::SeqCst) < filters.len() {
            assert!(Instant::now() < deadline, "not subscribed to {filters:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        subscriber
    }

    fn all(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Polls until `done` holds for what arrived, or fails after `seconds`.
    async fn wait(
        &self,
        what: &str,
        seconds: u64,
        done: impl Fn(&[Received]) -> bool,
    ) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(seconds);
        loop {
            let all = self.all();
            if done(&all) {
                return all;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; received: {:?}",
                all.iter()
                    .map(|r| format!("{} {}", r.topic, String::from_utf8_lossy(&r.payload)))
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

/// The newest message on `topic`.
fn last<'a>(all: &'a [Received], topic: &str) -> Option<&'a Received> {
    all.iter().rev().find(|r| r.topic == topic)
}

/// The seqs of movements on `topic`, in arrival order.
fn seqs(all: &[Received], topic: &str) -> Vec<u64> {
    all.iter()
        .filter(|r| r.topic == topic)
        .map(|r| {
            serde_json::from_slice::<MovementMessage>(&r.payload)
                .expect("a movement payload of the contract")
                .seq
        })
        .collect()
}

/// Every payload parses with the contract type of its topic.
fn assert_contract(all: &[Received]) {
    for message in all {
        let topic = message.topic.as_str();
        let parsed = if message.payload.is_empty() {
            // A cleared retained snapshot.
            Ok(())
        } else if topic.ends_with("/status") {
            serde_json::from_slice::<Status>(&message.payload).map(drop)
        } else if topic.ends_with("/movements") {
            serde_json::from_slice::<MovementMessage>(&message.payload).map(drop)
        } else if topic.contains("/stock/") {
            serde_json::from_slice::<StockSnapshot>(&message.payload).map(drop)
        } else if topic.ends_with("/utilization") {
            serde_json::from_slice::<UtilizationSnapshot>(&message.payload).map(drop)
        } else {
            panic!("unexpected topic {topic}");
        };
        if let Err(error) = parsed {
            panic!(
                "{topic}: {error}: {}",
                String::from_utf8_lossy(&message.payload)
            );
        }
    }
}

async fn feed_app(url: String, depot: &str) -> TestApp {
    let depot = depot.to_owned();
    spawn_app_with(move |config| {
        config.mqtt_url = Some(url);
        config.depot_id = depot;
        config.mqtt_inflight = 8;
        config.mqtt_keep_alive_s = 5;
    })
    .await
}

async fn uplink(app: &TestApp) -> Value {
    let response = app.get(&app.auditor, "/api/v1/uplink").await;
    assert_eq!(response.status(), 200);
    response.json().await.expect("uplink json")
}

/// Polls `/api/v1/uplink` until `done` holds.
async fn wait_uplink(app: &TestApp, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let state = uplink(app).await;
        if done(&state) {
            return state;
        }
        assert!(Instant::now() < deadline, "uplink never {what}: {state}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn receive(app: &TestApp, token: &str, key: &str, sku: &str, quantity: i64, to: &str) {
    let response = app
        .book(
            token,
            key,
            &json!({"kind":"receive","sku":sku,"quantity":quantity,"to":to}),
        )
        .await;
    assert_eq!(response.status(), 201, "booking {key}");
}

#[tokio::test]
async fn bookings_reach_a_subscriber_as_movements_and_retained_stock() {
    let url = shared_url();
    let app = feed_app(url.clone(), "feed-live").await;
    let hub = Subscriber::connect(&url, "hub-live", true, &["depot/v1/feed-live/#"]).await;
    hub.wait("online", 20, |all| {
        last(all, "depot/v1/feed-live/status").is_some_and(|r| r.json()["state"] == "online")
    })
    .await;
    receive(&app, &app.staff, "k1", "ART-1", 5, "A-1").await;
    receive(&app, &app.cleared_staff, "k2", "SECRET-1", 3, "B-1").await;

    let all = hub
        .wait("the movements and stock", 20, |all| {
            seqs(all, "depot/v1/feed-live/movements") == [1]
                && last(all, "depot/v1/feed-live/stock/ART-1")
                    .is_some_and(|r| r.json()["total"] == 5)
                && last(all, "depot/v1/feed-live/restricted/stock/SECRET-1")
                    .is_some_and(|r| r.json()["total"] == 3)
                && last(all, "depot/v1/feed-live/utilization").is_some_and(|r| r.json()["seq"] == 2)
        })
        .await;
    assert_contract(&all);
    let movement = last(&all, "depot/v1/feed-live/movements")
        .expect("movement")
        .json();
    assert_eq!(
        (
            movement["v"].clone(),
            movement["depot"].clone(),
            movement["sku"].clone(),
            movement["quantity"].clone(),
            movement["to"].clone()
        ),
        (
            json!(2),
            json!("feed-live"),
            json!("ART-1"),
            json!(5),
            json!("A-1")
        )
    );
    // The first epoch of a new database, and seq 1's chain link.
    assert_eq!(movement["epoch"]["generation"], 0);
    assert_eq!(movement["epoch"]["base"], 0);
    assert_eq!(movement["prev"], "0".repeat(64));
    assert_eq!(movement["hash"].as_str().map(str::len), Some(64));
    let body = last(&all, "depot/v1/feed-live/stock/ART-1")
        .expect("stock")
        .json();
    assert_eq!(body["epoch"], movement["epoch"]);
    assert_eq!(body["seq"], 1, "the seq of the article's newest movement");
    assert_eq!(body["zones"], json!([{"zone":"A","quantity":5}]));
    assert_eq!(body["article"]["name"], "Article one");
    let secret = seqs(&all, "depot/v1/feed-live/restricted/movements");
    assert_eq!(secret, [2]);
    // A restricted article never appears in an open topic or payload.
    for message in &all {
        if !message.topic.starts_with("depot/v1/feed-live/restricted/") {
            assert!(
                !message.topic.contains("SECRET-1")
                    && !String::from_utf8_lossy(&message.payload).contains("SECRET-1"),
                "{} names a restricted article",
                message.topic
            );
        }
    }
    let utilization = last(&all, "depot/v1/feed-live/utilization")
        .expect("utilization")
        .json();
    let zone_a = utilization["zones"]
        .as_array()
        .expect("zones")
        .iter()
        .find(|z| z["zone"] == "A")
        .expect("zone A")
        .clone();
    assert_eq!(
        zone_a["volume_ml"],
        json!({"used":5000,"capacity":20000,"free":15000})
    );

    // A subscriber that connects later gets the retained state, and no movement.
    let late = Subscriber::connect(&url, "cell-late", true, &["depot/v1/feed-live/#"]).await;
    let retained = late
        .wait("the retained state", 20, |all| {
            last(all, "depot/v1/feed-live/stock/ART-1").is_some_and(|r| r.json()["total"] == 5)
                && last(all, "depot/v1/feed-live/utilization").is_some()
                && last(all, "depot/v1/feed-live/status")
                    .is_some_and(|r| r.json()["state"] == "online")
        })
        .await;
    assert!(retained.iter().all(|r| r.retain), "only retained messages");
    assert!(retained.iter().all(|r| !r.topic.ends_with("/movements")));
    assert_contract(&retained);

    // The depot reports the feed as acknowledged up to seq 2.
    let state = wait_uplink(&app, "acknowledged", |u| {
        u["acked_seq"] == 2 && u["backlog_outbox"] == 0
    })
    .await;
    assert_eq!(state["state"], "online");
    assert_eq!(state["backlog_movements"], 0);
    assert_eq!(state["lag_ms"], 0);
    assert!(state["last_puback"].is_string());
    let health: Value = app
        .client
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("healthz")
        .json()
        .await
        .expect("json");
    assert_eq!(health["uplink_state"], "online");
    assert_eq!(health["feed"]["acked_seq"], 2);
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    for line in [
        "depot_feed_connected 1\n",
        "depot_feed_acked_seq 2\n",
        "depot_feed_backlog_movements 0\n",
    ] {
        assert!(metrics.contains(line), "{line:?} missing from\n{metrics}");
    }
}

#[tokio::test]
async fn a_reclassified_article_leaves_no_open_snapshot_behind() {
    let url = shared_url();
    let app = feed_app(url.clone(), "feed-reclass").await;
    receive(&app, &app.staff, "r1", "TAGGED", 2, "B-1").await;
    let cell = Subscriber::connect(
        &url,
        "cell-reclass",
        true,
        &["depot/v1/feed-reclass/stock/#"],
    )
    .await;
    cell.wait("the open snapshot", 20, |all| {
        last(all, "depot/v1/feed-reclass/stock/TAGGED").is_some_and(|r| !r.payload.is_empty())
    })
    .await;
    let response = app
        .put(
            &app.manager,
            "/api/v1/articles/TAGGED",
            &json!({"sku":"TAGGED","name":"Tagged article","unit":"piece","gtin":"80614141123458","classification":"restricted"}),
        )
        .await;
    assert!(response.status().is_success(), "{}", response.status());
    // The open retained snapshot is cleared (an empty retained message).
    cell.wait("the open snapshot cleared", 20, |all| {
        last(all, "depot/v1/feed-reclass/stock/TAGGED").is_some_and(|r| r.payload.is_empty())
    })
    .await;
    wait_uplink(&app, "acknowledged", |u| {
        u["backlog_outbox"] == 0 && u["backlog_movements"] == 0
    })
    .await;
    // A cell that connects now finds nothing of it outside restricted/.
    let late = Subscriber::connect(
        &url,
        "cell-reclass-late",
        true,
        &["depot/v1/feed-reclass/#"],
    )
    .await;
    late.wait("the restricted snapshot", 20, |all| {
        last(all, "depot/v1/feed-reclass/restricted/stock/TAGGED")
            .is_some_and(|r| r.json()["total"] == 2)
    })
    .await;
    assert!(late
        .all()
        .iter()
        .all(|r| r.topic != "depot/v1/feed-reclass/stock/TAGGED"));
}

#[tokio::test]
async fn a_dead_broker_and_a_depot_restart_lose_nothing() {
    let mut broker = Broker::start();
    let url = broker.url();
    let mut app = feed_app(url.clone(), "feed-outage").await;
    let topic = "depot/v1/feed-outage/movements";
    // The hub's session outlives broker restarts (persisted by the broker).
    let hub = Subscriber::connect(&url, "hub-outage", false, &[topic]).await;
    let subscribed_at = SystemTime::now();
    for i in 1..=5 {
        receive(&app, &app.staff, &format!("o{i}"), "ART-1", 1, "B-1").await;
    }
    hub.wait("seqs 1 to 5", 20, |all| seqs(all, topic).len() == 5)
        .await;
    wait_uplink(&app, "acknowledged", |u| u["acked_seq"] == 5).await;
    broker.saved_after(subscribed_at);

    broker.kill9();
    wait_uplink(&app, "offline", |u| u["state"] == "offline").await;
    for i in 6..=25 {
        receive(&app, &app.staff, &format!("o{i}"), "ART-1", 1, "B-1").await;
    }
    let state = uplink(&app).await;
    assert_eq!(
        (
            state["acked_seq"].clone(),
            state["backlog_movements"].clone()
        ),
        (json!(5), json!(20))
    );
    assert!(state["lag_ms"].as_i64().is_some_and(|ms| ms > 0));
    let health = app
        .client
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(health.status(), 200, "a cut uplink does not fail the depot");
    let health: Value = health.json().await.expect("json");
    assert_eq!(
        (health["status"].clone(), health["uplink_state"].clone()),
        (json!("ok"), json!("offline"))
    );

    // `depot-server status` reads the same from the database.
    let out = Command::new(env!("CARGO_BIN_EXE_depot-server"))
        .args(["status", "--db"])
        .arg(&app.db)
        .env("DEPOT_MQTT_URL", &url)
        .env("DEPOT_ID", "feed-outage")
        .output()
        .expect("status");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in [
        "acknowledged up to:    seq 5",
        "backlog:               20 movements, 0 master-data changes",
        "oldest unacknowledged: seq 6,",
        "as depot feed-outage",
    ] {
        assert!(text.contains(line), "{line:?} missing from\n{text}");
    }

    // The depot restarts while the broker is down: the backlog is in its database.
    app = app.restart().await;
    for i in 26..=45 {
        receive(&app, &app.staff, &format!("o{i}"), "ART-1", 1, "B-1").await;
    }
    assert_eq!(uplink(&app).await["backlog_movements"], 40);

    broker.restart();
    let all = hub
        .wait("seqs 6 to 45", 30, |all| seqs(all, topic).contains(&45))
        .await;
    let arrived = seqs(&all, topic);
    let mut first_seen = Vec::new();
    for seq in &arrived {
        if !first_seen.contains(seq) {
            first_seen.push(*seq);
        }
    }
    assert_eq!(
        first_seen,
        (1..=45).collect::<Vec<u64>>(),
        "in seq order, none missing: {arrived:?}"
    );
    wait_uplink(&app, "drained", |u| {
        u["acked_seq"] == 45 && u["backlog_movements"] == 0 && u["state"] == "online"
    })
    .await;
    app.assert_ledger_consistent().await;
}

#[tokio::test]
async fn kill_9_of_the_depot_makes_the_broker_publish_offline() {
    let url = shared_url();
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("depot.db");
    let topic = "depot/v1/feed-kill/status";
    let watcher = Subscriber::connect(&url, "cell-kill", true, &[topic]).await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_depot-server"))
        .args(["run", "--listen", "127.0.0.1:0", "--db"])
        .arg(&db)
        .env("DEPOT_ID", "feed-kill")
        .env("DEPOT_MQTT_URL", &url)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn depot-server");
    let online = watcher
        .wait("online", 30, |all| {
            last(all, topic).is_some_and(|r| r.json()["state"] == "online")
        })
        .await
        .len();
    child.kill().expect("kill -9");
    child.wait().expect("reaped");
    let all = watcher
        .wait("offline", 30, |all| {
            all.len() > online && last(all, topic).is_some_and(|r| r.json()["state"] == "offline")
        })
        .await;
    let offline: Status =
        serde_json::from_slice(&last(&all, topic).expect("status").payload).expect("status");
    assert_eq!(
        (offline.state, offline.depot.as_str()),
        (LinkState::Offline, "feed-kill")
    );
    // Retained: a cell that looks later sees the depot offline.
    let late = Subscriber::connect(&url, "cell-kill-late", true, &[topic]).await;
    late.wait("retained offline", 20, |all| {
        last(all, topic).is_some_and(|r| r.retain && r.json()["state"] == "offline")
    })
    .await;
}

#[tokio::test]
async fn the_feed_runs_over_tls_and_the_broker_requires_the_client_certificate() {
    let pki = tempfile::tempdir().expect("dir");
    make_pki(pki.path());
    let broker = Broker::start_with(Some(pki.path()));
    let mqtts = format!(
        "mqtts://127.0.0.1:{}",
        broker.tls_port.expect("tls listener")
    );
    let hub = Subscriber::connect(&broker.url(), "hub-tls", true, &["depot/v1/+/movements"]).await;
    let file = |name: &str| Some(pki.path().join(name));
    let app = {
        let mqtts = mqtts.clone();
        let (ca, cert, key) = (file("ca.crt"), file("depot.crt"), file("depot.key"));
        spawn_app_with(move |config| {
            config.mqtt_url = Some(mqtts);
            config.depot_id = "feed-tls".into();
            config.mqtt_ca_file = ca;
            config.mqtt_cert_file = cert;
            config.mqtt_key_file = key;
        })
        .await
    };
    receive(&app, &app.staff, "t1", "ART-1", 2, "B-1").await;
    hub.wait("the movement over TLS", 20, |all| {
        seqs(all, "depot/v1/feed-tls/movements") == [1]
    })
    .await;
    wait_uplink(&app, "online", |u| {
        u["state"] == "online" && u["acked_seq"] == 1
    })
    .await;

    // Without a client certificate the broker refuses the depot; bookings go on.
    let refused = {
        let ca = file("ca.crt");
        spawn_app_with(move |config| {
            config.mqtt_url = Some(mqtts);
            config.depot_id = "feed-tls-anonymous".into();
            config.mqtt_ca_file = ca;
        })
        .await
    };
    receive(&refused, &refused.staff, "t2", "ART-1", 2, "B-1").await;
    let state = wait_uplink(&refused, "refused", |u| {
        u["state"] == "offline" && u["last_error"].is_string()
    })
    .await;
    assert_eq!(state["acked_seq"], 0, "{state}");
    assert!(hub
        .all()
        .iter()
        .all(|r| !r.topic.starts_with("depot/v1/feed-tls-anonymous/")));
}

/// Starts the real binary on `db` with the feed on; returns it and its base URL.
fn start_binary(db: &Path, url: &str, depot: &str) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_depot-server"))
        .args(["run", "--listen", "127.0.0.1:0", "--db"])
        .arg(db)
        .env("DEPOT_ID", depot)
        .env("DEPOT_MQTT_URL", url)
        .env("DEPOT_MQTT_INFLIGHT", "16")
        .env("DEPOT_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn depot-server");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let address = loop {
        let line = lines
            .next()
            .expect("server exited before listening")
            .expect("stderr");
        if let Some((_, rest)) = line.split_once("listening on http://") {
            break rest.trim().to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (child, format!("http://{address}"))
}

#[tokio::test]
async fn kill_9_while_the_backlog_drains_loses_no_movement() {
    let url = shared_url();
    let topic = "depot/v1/feed-crash/movements";
    // A backlog of 300 movements, booked while the feed was off.
    // (300 bookings in a row with one token: past its rate limits, off here.)
    let mut app = spawn_app_with(|config| {
        config.depot_id = "feed-crash".into();
        config.api_token_rate_per_s = 0;
        config.api_address_rate_per_s = 0;
    })
    .await;
    for i in 1..=300 {
        receive(&app, &app.staff, &format!("c{i}"), "ART-1", 1, "B-1").await;
    }
    app.shutdown().await;
    let hub = Subscriber::connect(&url, "hub-crash", true, &[topic]).await;
    let client = reqwest::Client::new();
    // kill -9 at random instants while it publishes, then let it finish.
    for round in 0..6 {
        let (mut child, base) = start_binary(&app.db, &url, "feed-crash");
        if round < 5 {
            let pause = rand::random::<u64>() % 300;
            tokio::time::sleep(Duration::from_millis(pause)).await;
            child.kill().expect("kill -9");
            child.wait().expect("reaped");
            continue;
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let state: Value = client
                .get(format!("{base}/api/v1/uplink"))
                .bearer_auth(&app.auditor)
                .send()
                .await
                .expect("uplink")
                .json()
                .await
                .expect("json");
            if state["acked_seq"] == 300 {
                break;
            }
            assert!(Instant::now() < deadline, "never drained: {state}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        child.kill().expect("kill");
        child.wait().expect("reaped");
    }
    let all = hub
        .wait("seq 300", 30, |all| seqs(all, topic).contains(&300))
        .await;
    let arrived = seqs(&all, topic);
    let mut first_seen = Vec::new();
    for seq in &arrived {
        if !first_seen.contains(seq) {
            first_seen.push(*seq);
        }
    }
    assert_eq!(
        first_seen,
        (1..=300).collect::<Vec<u64>>(),
        "in seq order, none missing ({} messages, resends included)",
        arrived.len()
    );
}
