//! Depot → broker → hub, end to end, with nothing simulated: a real
//! Mosquitto on a free port, a real depot-server process publishing its
//! feed, and the real regional-hub binary applying it. A booking at the
//! depot shows at the hub; the hub killed with `kill -9` while bookings go
//! on and started again catches up through its persistent session: hub
//! stock equals depot stock, every seq applied exactly once, no gaps; the
//! broker stopped, and later killed with `kill -9`, while bookings go on:
//! the depot's backlog grows, and when the broker is back every movement
//! arrives at the hub, none is applied twice, hub stock equals depot stock;
//! a broker killed with movements it had acknowledged to the depot and not
//! yet passed on to the (absent) hub loses them, and the hub, seeing the
//! gap last, asks the depot for them again: every seq applied once, hub
//! stock equals depot stock; the depot killed with `kill -9` shows offline
//! at the hub (its Last Will).
//! The peers start once for the binary and the tests run in this order.
//!
//! A depot restored from an older backup (issue 17): bookings reach the
//! hub, a backup is taken, more bookings reach the hub, the depot is
//! stopped, `restore` puts the backup back, the depot starts again and
//! books more. The hub shows the depot restored with exactly the seqs it
//! lost, applies every new movement once and drops none, its stock equals
//! the depot's, and an observer of the broker sees no (epoch, seq)
//! published with two different contents.
//!
//! The depot process is this test binary run again (`harness = false`):
//! with `E2E_DEPOT_DB` set, `main` runs the depot-server library (linked as
//! a dev-dependency) instead of the test, so the test needs no nested
//! `cargo build` of the depot-server binary.

mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::Arc;

use reqwest::Client;
use serde_json::{json, Value};
use support::{eventually, get, hub_command, wait_subscribed, Process};

/// What the depot child prints on stderr once it serves.
const DEPOT_READY: &str = "e2e depot ready: token ";

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    if let Ok(db) = std::env::var("E2E_DEPOT_DB") {
        match std::env::var("E2E_DEPOT_COMMAND").as_deref() {
            Ok("backup") => runtime.block_on(depot_backup(&db)),
            Ok("restore") => runtime.block_on(depot_restore(&db)),
            _ => {
                let mqtt = std::env::var("E2E_DEPOT_MQTT").expect("E2E_DEPOT_MQTT");
                runtime.block_on(depot_child(&db, &mqtt));
            }
        }
        return;
    }
    // A filter as the only argument runs the tests whose name contains it.
    let filter = std::env::args().nth(1).filter(|a| !a.starts_with('-'));
    let filter = filter.as_deref();
    runtime.block_on(async {
        let mut peers = Peers::start().await;
        run(
            filter,
            "bookings_reach_the_hub_and_a_killed_hub_catches_up_applying_each_seq_once",
            bookings_reach_the_hub_and_a_killed_hub_catches_up_applying_each_seq_once(&mut peers),
        )
        .await;
        run(
            filter,
            "a_stopped_and_a_killed_broker_lose_no_movement_and_apply_none_twice_at_the_hub",
            a_stopped_and_a_killed_broker_lose_no_movement_and_apply_none_twice_at_the_hub(
                &mut peers,
            ),
        )
        .await;
        run(
            filter,
            "movements_a_killed_broker_lost_are_asked_for_again_and_applied_once",
            movements_a_killed_broker_lost_are_asked_for_again_and_applied_once(&mut peers),
        )
        .await;
        run(
            filter,
            "a_restored_depot_shows_its_lost_range_and_never_publishes_a_seq_twice",
            a_restored_depot_shows_its_lost_range_and_never_publishes_a_seq_twice(),
        )
        .await;
        run(
            filter,
            "kill_9_of_the_depot_shows_it_offline_at_the_hub",
            kill_9_of_the_depot_shows_it_offline_at_the_hub(peers),
        )
        .await;
    });
}

/// Runs one test unless a filter leaves it out.
async fn run(filter: Option<&str>, name: &str, test: impl std::future::Future<Output = ()>) {
    if filter.is_some_and(|f| !name.contains(f)) {
        return;
    }
    println!("test {name} ...");
    test.await;
    println!("test {name} ... ok");
}

/// `depot-server backup PATH` (`E2E_DEPOT_BACKUP`) while the depot serves,
/// as the command line does it: the depot opened beside the server, an
/// online `VACUUM INTO`.
async fn depot_backup(db: &str) {
    let path = std::env::var("E2E_DEPOT_BACKUP").expect("E2E_DEPOT_BACKUP");
    let config = depot_server::config::Config {
        depot_id: "north-1".into(),
        db: db.into(),
        gateway: "off".into(),
        ..depot_server::config::Config::default()
    };
    let (depot, writer) = depot_server::app::open_depot(&config)
        .await
        .expect("open the depot");
    depot.backup(Path::new(&path)).await.expect("backup");
    depot.close().await;
    drop(depot);
    writer.finished().await;
}

/// `depot-server restore PATH` (`E2E_DEPOT_BACKUP`) of the stopped depot;
/// prints what the command prints.
async fn depot_restore(db: &str) {
    let path = std::env::var("E2E_DEPOT_BACKUP").expect("E2E_DEPOT_BACKUP");
    let restored = depot_server::backups::restore(Path::new(db), Path::new(&path), "north-1")
        .await
        .expect("restore");
    println!(
        "restored up to seq {} in epoch {} generation {}",
        restored.last_seq,
        restored.epoch.id.to_hex(),
        restored.epoch.generation
    );
}

/// The depot process: the real depot-server (HTTP, booking writer, feed
/// publisher) as `north-1`, with a manager; serves until killed.
async fn depot_child(db: &str, mqtt: &str) {
    let config = depot_server::config::Config {
        depot_id: "north-1".into(),
        db: db.into(),
        listen: "127.0.0.1:0".parse().expect("address"),
        mqtt_url: Some(mqtt.to_owned()),
        gateway: "off".into(),
        // One token books as fast as the tests go, for minutes: the API's
        // rate limits are depot-server's abuse tests' to check, not these.
        api_token_rate_per_s: 0,
        api_address_rate_per_s: 0,
        ..depot_server::config::Config::default()
    };
    let bound = depot_server::app::bind(config).await.expect("bind depot");
    // A restored database may hold the user of an earlier start.
    let user = std::env::var("E2E_DEPOT_USER").unwrap_or_else(|_| "manager".into());
    let token = depot_server::users::add(
        bound.depot(),
        &user,
        depot_server::domain::access::Role::Manager,
        true,
    )
    .await
    .expect("user");
    eprintln!("{DEPOT_READY}{token} listening on http://{}", bound.address);
    bound
        .serve(std::future::pending())
        .await
        .expect("depot serves");
}

/// Starts the depot child on `db`; returns it, its URL and the manager's token.
fn start_depot(db: &Path, mqtt: &str) -> (Process, String, String) {
    start_depot_as(db, mqtt, "manager")
}

/// Starts the depot child on `db` with a new manager `user`.
fn start_depot_as(db: &Path, mqtt: &str, user: &str) -> (Process, String, String) {
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .env("E2E_DEPOT_DB", db)
        .env("E2E_DEPOT_MQTT", mqtt)
        .env("E2E_DEPOT_USER", user)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the depot");
    let stderr = child.stderr.take().expect("stderr");
    let process = Process(child);
    let mut lines = BufReader::new(stderr).lines();
    let (token, address) = loop {
        let line = lines
            .next()
            .expect("the depot exited before serving")
            .expect("read stderr");
        if let Some(rest) = line.strip_prefix(DEPOT_READY) {
            let (token, address) = rest.split_once(" listening on ").expect("ready line");
            break (token.to_owned(), address.trim().to_owned());
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (process, address, token)
}

fn start_hub(db: &Path, mqtt: &str) -> (Process, String) {
    support::start_hub(
        db.to_str().expect("utf-8"),
        mqtt,
        &[("HUB_MQTT_CLIENT_ID", "hub-e2e")],
    )
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

/// The peers every test here shares: a persistent Mosquitto (the hub's
/// session outlives a broker restart), the hub process with two users, and
/// the depot process with two articles and a bin.
struct Peers {
    broker: support::Broker,
    client: Client,
    hub_db: std::path::PathBuf,
    /// Cleared for restricted articles.
    cell: String,
    civil: String,
    /// `None` while killed.
    hub_process: Option<Process>,
    hub: String,
    depot_process: Process,
    depot: String,
    manager: String,
    _dir: tempfile::TempDir,
}

impl Peers {
    async fn start() -> Peers {
        let broker = support::Broker::start_persistent();
        let dir = tempfile::tempdir().expect("dir");
        let client = Client::new();

        // The hub first, so its persistent session exists before the depot publishes.
        let hub_db = dir.path().join("hub.db");
        let hub_db_text = hub_db.to_str().expect("utf-8");
        let cell = hub_command(
            &["user", "add", "cell", "--role", "hub", "--restricted"],
            hub_db_text,
        );
        let civil = hub_command(&["user", "add", "civil", "--role", "hub"], hub_db_text);
        let (hub_process, hub) = start_hub(&hub_db, &broker.url());
        wait_subscribed(&client, &hub).await;

        let depot_db = dir.path().join("depot.db");
        let (depot_process, depot, manager) = start_depot(&depot_db, &broker.url());
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
        Peers {
            broker,
            client,
            hub_db,
            cell,
            civil,
            hub_process: Some(hub_process),
            hub,
            depot_process,
            depot,
            manager,
            _dir: dir,
        }
    }

    /// The depot's feed as the depot sees it (`/api/v1/uplink`).
    async fn uplink(&self) -> Value {
        let (status, body) = get(
            &self.client,
            &self.manager,
            &format!("{}/api/v1/uplink", self.depot),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// The hub's view of north-1's feed once every seq up to `last_seq` is
    /// applied.
    async fn hub_applied(&self, last_seq: i64) -> Value {
        eventually("the hub to apply every seq", || async {
            let (_, body) = get(
                &self.client,
                &self.cell,
                &format!("{}/api/v1/depots", self.hub),
            )
            .await;
            let feed = body["depots"]
                .as_array()?
                .iter()
                .find(|d| d["depot"] == "north-1")?
                .clone();
            (feed["last_seq"] == last_seq).then_some(feed)
        })
        .await
    }

    /// Waits until the hub's stock of every article equals the depot's, as
    /// a cleared cell sees it.
    async fn assert_hub_stock_equals_depot_stock(&self) {
        for sku in ["ART-1", "SECRET-1"] {
            let expected = depot_total(&self.client, &self.depot, &self.manager, sku).await;
            eventually("hub stock to equal depot stock", || async {
                (hub_total(&self.client, &self.hub, &self.cell, sku).await == Some(expected))
                    .then_some(())
            })
            .await;
        }
    }
}

/// Books receives of ART-1 one after another from a task of its own until
/// stopped, so bookings go on whatever the feed does.
struct Booker {
    booked: Arc<AtomicUsize>,
    last_seq: Arc<AtomicI64>,
    held: Arc<tokio::sync::RwLock<()>>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Booker {
    fn start(peers: &Peers, prefix: &str) -> Booker {
        let booked = Arc::new(AtomicUsize::new(0));
        let last_seq = Arc::new(AtomicI64::new(0));
        let held = Arc::new(tokio::sync::RwLock::new(()));
        let stop = Arc::new(AtomicBool::new(false));
        let task = {
            let (client, depot, manager) = (
                peers.client.clone(),
                peers.depot.clone(),
                peers.manager.clone(),
            );
            let (booked, last_seq, held, stop) =
                (booked.clone(), last_seq.clone(), held.clone(), stop.clone());
            let prefix = prefix.to_owned();
            tokio::spawn(async move {
                let mut n = 0;
                while !stop.load(Ordering::SeqCst) {
                    let _turn = held.read().await;
                    let key = format!("{prefix}-{n}");
                    let seq = book(&client, &depot, &manager, &key, "ART-1", 1).await;
                    last_seq.fetch_max(seq, Ordering::SeqCst);
                    booked.fetch_add(1, Ordering::SeqCst);
                    n += 1;
                    // A pace, not a wait for a condition.
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
            })
        };
        Booker {
            booked,
            last_seq,
            held,
            stop,
            task,
        }
    }

    fn booked(&self) -> usize {
        self.booked.load(Ordering::SeqCst)
    }

    /// Waits until `count` more bookings than now were made.
    async fn wait_more(&self, count: usize) {
        let target = self.booked() + count;
        eventually("bookings", || async {
            (self.booked() >= target).then_some(())
        })
        .await;
    }

    /// Stops booking; the last seq booked.
    async fn stop(self) -> i64 {
        self.stop.store(true, Ordering::SeqCst);
        self.task.await.expect("booker");
        self.last_seq.load(Ordering::SeqCst)
    }
}

async fn bookings_reach_the_hub_and_a_killed_hub_catches_up_applying_each_seq_once(
    peers: &mut Peers,
) {
    let (client, depot, manager) = (&peers.client, &peers.depot, &peers.manager);
    let (cell, civil) = (&peers.cell, &peers.civil);
    let hub = peers.hub.clone();

    // A booking at the depot → the hub shows the new stock.
    book(client, depot, manager, "first", "ART-1", 5).await;
    book(client, depot, manager, "secret", "SECRET-1", 2).await;
    eventually("ART-1 at the hub", || async {
        (hub_total(client, &hub, civil, "ART-1").await == Some(5)).then_some(())
    })
    .await;
    eventually("SECRET-1 at the hub for a cleared cell", || async {
        (hub_total(client, &hub, cell, "SECRET-1").await == Some(2)).then_some(())
    })
    .await;
    // The clearance rule: an uncleared cell never sees restricted stock.
    assert_eq!(hub_total(client, &hub, civil, "SECRET-1").await, None);
    let (status, _) = get(client, "wrong", &format!("{hub}/api/v1/depots")).await;
    assert_eq!(status, 401);
    let (status, body) = get(
        client,
        cell,
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
        let (_, body) = get(client, cell, &format!("{hub}/api/v1/capacity")).await;
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
    let booker = Booker::start(peers, "run");
    booker.wait_more(10).await;
    peers.hub_process = None; // SIGKILL
    booker.wait_more(20).await;
    let (process, hub) = start_hub(&peers.hub_db, &peers.broker.url());
    (peers.hub_process, peers.hub) = (Some(process), hub);
    booker.wait_more(30).await;
    let last_seq = booker.stop().await;

    let feed = peers.hub_applied(last_seq).await;
    assert_eq!(feed["gaps"], json!([]), "{feed}");
    assert_eq!(
        feed["movements_applied"], last_seq,
        "each seq applied once: {feed}"
    );
    assert_eq!(feed["link"], "online", "{feed}");
    assert_eq!(feed["freshness"], "fresh", "{feed}");
    assert_eq!(
        depot_total(&peers.client, &peers.depot, &peers.manager, "ART-1").await,
        5 + last_seq - 2,
        "the depot's ledger is all ours"
    );
    peers.assert_hub_stock_equals_depot_stock().await;
}

/// The broker goes away twice while bookings go on: first a clean stop
/// (SIGTERM: Mosquitto saves its sessions and queues and leaves), then
/// `kill -9` (nothing saved since its last autosave). Each time the depot
/// keeps booking and its backlog grows; when the broker is back every
/// movement reaches the hub, none is applied twice, and the hub's stock
/// equals the depot's.
///
/// The kill comes at an instant when the hub has applied everything the
/// depot published (the booker holds its next booking for that instant):
/// Mosquitto writes its state only every `autosave_interval`, and the
/// depot forgets a message at the broker's PUBACK (brief §6), so a message
/// acknowledged to the depot and not yet passed on to the hub when the
/// broker dies is lost with the broker; the hub then has to ask the depot
/// for it again, which the next test shows. Here what a persistent session
/// survives on its own is checked: the hub's subscription and what is
/// queued for it, and redeliveries from the saved state are applied as
/// duplicates, never twice.
async fn a_stopped_and_a_killed_broker_lose_no_movement_and_apply_none_twice_at_the_hub(
    peers: &mut Peers,
) {
    let before = peers
        .hub_applied(peers.uplink().await["last_seq"].as_i64().expect("seq"))
        .await;
    let duplicates_before = before["duplicates"].as_i64().expect("duplicates");
    // The hub's session (its subscription) is in the broker's saved state.
    peers.broker.saved_after(std::time::SystemTime::now());
    let booker = Booker::start(peers, "outage");
    booker.wait_more(5).await;

    for kill in [false, true] {
        if kill {
            let held = booker.held.write().await;
            let published = peers.uplink().await["last_seq"].as_i64().expect("seq");
            peers.hub_applied(published).await;
            peers.broker.kill9();
            drop(held);
        } else {
            peers.broker.stop();
        }
        eventually("the depot to see the broker gone", || async {
            (peers.uplink().await["state"] == "offline").then_some(())
        })
        .await;
        // Bookings go on; the backlog grows with them.
        let backlog = |uplink: Value| uplink["backlog_movements"].as_i64().expect("backlog");
        let first = backlog(peers.uplink().await);
        booker.wait_more(15).await;
        let grown = backlog(peers.uplink().await);
        assert!(grown >= first + 15, "backlog {first} → {grown}");
        peers.broker.restart();
        booker.wait_more(10).await;
        // Drained: the broker acknowledged all the depot had when it came back.
        let drained_to = peers.uplink().await["last_seq"].as_i64().expect("seq");
        eventually("the depot's backlog to drain", || async {
            let uplink = peers.uplink().await;
            (uplink["acked_seq"].as_i64() >= Some(drained_to)).then_some(())
        })
        .await;
    }
    let last_seq = booker.stop().await;
    let feed = peers.hub_applied(last_seq).await;
    assert_eq!(feed["gaps"], json!([]), "every movement arrived: {feed}");
    assert_eq!(
        feed["movements_applied"], last_seq,
        "each seq applied once: {feed}"
    );
    let redelivered = feed["duplicates"].as_i64().expect("duplicates") - duplicates_before;
    println!("  {redelivered} redelivered movements applied as duplicates, none twice");
    peers.assert_hub_stock_equals_depot_stock().await;
    // The depot's acknowledged position (saved every 250 ms) reaches its end.
    eventually("the depot's backlog to be empty", || async {
        let uplink = peers.uplink().await;
        (uplink["acked_seq"] == last_seq && uplink["backlog_movements"] == 0).then_some(())
    })
    .await;
}

/// The loss the test above steps around, made on purpose: the broker saves
/// its state only at a clean stop, the hub is away (killed), the depot books
/// and the broker acknowledges (the depot forgets those messages), then the
/// broker is killed and comes back from its saved state without them. The
/// hub, back too, sees the gap below the next movements, sees it again at
/// its next look, and asks the depot (`hub/v1/north-1/resend`), which
/// sends those movements again from its ledger.
async fn movements_a_killed_broker_lost_are_asked_for_again_and_applied_once(peers: &mut Peers) {
    const LOST: i64 = 10;
    let before = peers
        .hub_applied(peers.uplink().await["last_seq"].as_i64().expect("seq"))
        .await;
    let duplicates_before = before["duplicates"].as_i64().expect("duplicates");
    // A clean stop saves the hub's session; from then on nothing is saved.
    peers.broker.set_autosave(0);
    peers.broker.stop();
    peers.broker.restart();
    eventually("the depot back online", || async {
        (peers.uplink().await["state"] == "online").then_some(())
    })
    .await;
    wait_subscribed(&peers.client, &peers.hub).await;
    peers.hub_process = None; // SIGKILL
    let mut last = 0;
    for n in 0..LOST {
        last = book(
            &peers.client,
            &peers.depot,
            &peers.manager,
            &format!("lost-{n}"),
            "ART-1",
            1,
        )
        .await;
    }
    eventually("the broker to acknowledge every booking", || async {
        (peers.uplink().await["acked_seq"] == last).then_some(())
    })
    .await;
    peers.broker.kill9();
    peers.broker.set_autosave(1);
    peers.broker.restart();
    let (process, hub) = support::start_hub(
        peers.hub_db.to_str().expect("utf-8"),
        &peers.broker.url(),
        &[
            ("HUB_MQTT_CLIENT_ID", "hub-e2e"),
            ("HUB_RESEND_AFTER_S", "1"),
        ],
    );
    (peers.hub_process, peers.hub) = (Some(process), hub);
    wait_subscribed(&peers.client, &peers.hub).await;
    eventually("the depot back online", || async {
        (peers.uplink().await["state"] == "online").then_some(())
    })
    .await;
    // The next movements arrive; the lost ones lie below them.
    for n in 0..2 {
        last = book(
            &peers.client,
            &peers.depot,
            &peers.manager,
            &format!("after-loss-{n}"),
            "ART-1",
            1,
        )
        .await;
    }
    let feed = peers.hub_applied(last).await;
    assert_eq!(feed["gaps"], json!([]), "{feed}");
    assert_eq!(feed["movements_applied"], last, "each seq once: {feed}");
    // A second ask before the first answer arrived brings duplicates: harmless.
    let redelivered = feed["duplicates"].as_i64().expect("duplicates") - duplicates_before;
    println!("  {redelivered} movements arrived twice, applied once");
    let metric = |text: &str, name: &str| -> i64 {
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.trim().parse::<f64>().ok())
            .map_or(0, |value| value as i64)
    };
    let text = |url: String| {
        let client = peers.client.clone();
        async move {
            let response = client.get(url).send().await.expect("metrics");
            response.text().await.expect("text")
        }
    };
    let resent = metric(
        &text(format!("{}/metrics", peers.depot)).await,
        "depot_feed_resent_total",
    );
    assert!(
        resent >= LOST,
        "the depot sent the lost ones again: {resent}"
    );
    let asked = metric(
        &text(format!("{}/metrics", peers.hub)).await,
        "hub_resend_requests_total",
    );
    assert!(asked >= 1, "the hub asked: {asked}");
    peers.assert_hub_stock_equals_depot_stock().await;
}

/// kill -9 of the depot: the broker publishes its Last Will, the hub shows it offline.
async fn kill_9_of_the_depot_shows_it_offline_at_the_hub(peers: Peers) {
    drop(peers.depot_process);
    eventually("north-1 offline at the hub", || async {
        let (_, body) = get(
            &peers.client,
            &peers.cell,
            &format!("{}/api/v1/depots", peers.hub),
        )
        .await;
        let feed = body["depots"]
            .as_array()?
            .iter()
            .find(|d| d["depot"] == "north-1")?
            .clone();
        (feed["link"] == "offline" && feed["freshness"] == "stale").then_some(())
    })
    .await;
}

/// Runs this binary as a depot command (`backup` or `restore`) on `db` with
/// `backup`; returns its standard output.
fn depot_command(command: &str, db: &Path, backup: &Path) -> String {
    let out = Command::new(std::env::current_exe().expect("test binary"))
        .env("E2E_DEPOT_DB", db)
        .env("E2E_DEPOT_COMMAND", command)
        .env("E2E_DEPOT_BACKUP", backup)
        .output()
        .expect("run the depot command");
    assert!(
        out.status.success(),
        "{command}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Every movement message the broker delivers, as a subscriber of its own sees it.
#[derive(Clone, Default)]
struct Observed(Arc<std::sync::Mutex<Vec<Value>>>);

impl Observed {
    /// Subscribes to north-1's movements (open and restricted) and records
    /// every payload; returns once the broker granted the subscription.
    async fn start(port: u16) -> Observed {
        use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
        let observed = Observed::default();
        let mut options = MqttOptions::new("e2e-observer", "127.0.0.1", port);
        options.set_keep_alive(std::time::Duration::from_secs(5));
        let (client, mut events) = AsyncClient::new(options, 100);
        for topic in [
            "depot/v1/north-1/movements",
            "depot/v1/north-1/restricted/movements",
        ] {
            client
                .subscribe(topic, QoS::AtLeastOnce)
                .await
                .expect("subscribe");
        }
        let (granted, subscribed) = tokio::sync::oneshot::channel();
        let mut granted = Some(granted);
        let mut acks = 0;
        let record = observed.clone();
        tokio::spawn(async move {
            let _client = client;
            loop {
                match events.poll().await {
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        acks += 1;
                        if acks == 2 {
                            if let Some(granted) = granted.take() {
                                let _ = granted.send(());
                            }
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(publish))) => {
                        let payload: Value =
                            serde_json::from_slice(&publish.payload).expect("a JSON movement");
                        record.0.lock().expect("lock").push(payload);
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
                }
            }
        });
        tokio::time::timeout(std::time::Duration::from_secs(30), subscribed)
            .await
            .expect("the observer's subscription")
            .expect("granted");
        observed
    }

    fn all(&self) -> Vec<Value> {
        self.0.lock().expect("lock").clone()
    }
}

/// north-1 as the hub's API shows it, once `ready` holds for it.
async fn hub_depot(
    client: &Client,
    hub: &str,
    token: &str,
    what: &str,
    ready: impl Fn(&Value) -> bool,
) -> Value {
    eventually(what, || async {
        let (_, body) = get(client, token, &format!("{hub}/api/v1/depots")).await;
        let feed = body["depots"]
            .as_array()?
            .iter()
            .find(|d| d["depot"] == "north-1")?
            .clone();
        ready(&feed).then_some(feed)
    })
    .await
}

async fn a_restored_depot_shows_its_lost_range_and_never_publishes_a_seq_twice() {
    const BEFORE_BACKUP: i64 = 10;
    const AFTER_BACKUP: i64 = 7;
    const AFTER_RESTORE: i64 = 5;
    let broker = support::Broker::start();
    let dir = tempfile::tempdir().expect("dir");
    let client = Client::new();
    let observed = Observed::start(broker.port).await;

    let hub_db = dir.path().join("hub.db");
    let hub_db_text = hub_db.to_str().expect("utf-8");
    let cell = hub_command(
        &["user", "add", "cell", "--role", "hub", "--restricted"],
        hub_db_text,
    );
    let (_hub_process, hub) = start_hub(&hub_db, &broker.url());
    wait_subscribed(&client, &hub).await;

    let depot_db = dir.path().join("depot.db");
    let (depot_process, depot, manager) = start_depot_as(&depot_db, &broker.url(), "before");
    for (path, body) in [
        (
            "/api/v1/articles",
            json!({"sku":"ART-1","name":"Article one","unit":"piece"}),
        ),
        (
            "/api/v1/locations",
            json!({"code":"B-1","zone":"B","kind":"bin"}),
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
    for n in 0..BEFORE_BACKUP {
        book(&client, &depot, &manager, &format!("a-{n}"), "ART-1", 1).await;
    }
    let backup = dir.path().join("backup.db");
    depot_command("backup", &depot_db, &backup);
    for n in 0..AFTER_BACKUP {
        book(&client, &depot, &manager, &format!("b-{n}"), "ART-1", 2).await;
    }
    let before = hub_depot(&client, &hub, &cell, "the hub to apply every seq", |d| {
        d["last_seq"] == BEFORE_BACKUP + AFTER_BACKUP
    })
    .await;
    let first_epoch = before["epoch"].clone();
    assert_eq!(first_epoch["generation"], 0, "{before}");
    assert_eq!(before["restored"], Value::Null, "{before}");

    drop(depot_process);
    let said = depot_command("restore", &depot_db, &backup);
    assert!(
        said.contains(&format!("restored up to seq {BEFORE_BACKUP} ")),
        "{said}"
    );
    let (_depot_process, depot, manager) = start_depot_as(&depot_db, &broker.url(), "after");
    let mut new_seqs = Vec::new();
    for n in 0..AFTER_RESTORE {
        new_seqs.push(book(&client, &depot, &manager, &format!("c-{n}"), "ART-1", 1).await);
    }
    let last_seq = BEFORE_BACKUP + AFTER_RESTORE;
    assert_eq!(
        new_seqs,
        (BEFORE_BACKUP + 1..=last_seq).collect::<Vec<_>>(),
        "the restored depot numbers on from the backup"
    );

    let feed = hub_depot(&client, &hub, &cell, "the hub to see the restore", |d| {
        d["last_seq"] == last_seq && d["restored"]["at"].is_string()
    })
    .await;
    assert_eq!(
        feed["restored"]["lost"],
        json!({"from": BEFORE_BACKUP + 1, "to": BEFORE_BACKUP + AFTER_BACKUP}),
        "exactly the seqs booked after the backup: {feed}"
    );
    assert_eq!(feed["restored"]["lost_movements"], AFTER_BACKUP, "{feed}");
    assert_eq!(feed["epoch"]["generation"], 1, "{feed}");
    assert_eq!(feed["epoch"]["base"], BEFORE_BACKUP, "{feed}");
    assert_ne!(feed["epoch"]["id"], first_epoch["id"], "{feed}");
    assert_eq!(feed["gaps"], json!([]), "none dropped: {feed}");
    assert_eq!(
        feed["movements_applied"], last_seq,
        "each movement of the current history applied once: {feed}"
    );
    assert_eq!(feed["history_diverged"], Value::Null, "{feed}");

    let expected = depot_total(&client, &depot, &manager, "ART-1").await;
    assert_eq!(expected, BEFORE_BACKUP + AFTER_RESTORE);
    eventually("hub stock to equal depot stock", || async {
        (hub_total(&client, &hub, &cell, "ART-1").await == Some(expected)).then_some(())
    })
    .await;

    // Never two different movements under one (epoch, seq): every copy the
    // broker delivered of an (epoch, seq) has the same content.
    let mut seen: std::collections::HashMap<(String, i64), Value> = Default::default();
    for message in observed.all() {
        let key = (
            message["epoch"]["id"]
                .as_str()
                .expect("epoch id")
                .to_owned(),
            message["seq"].as_i64().expect("seq"),
        );
        if let Some(earlier) = seen.insert(key.clone(), message.clone()) {
            assert_eq!(earlier, message, "{key:?} published with two contents");
        }
    }
    let new_epoch = feed["epoch"]["id"].as_str().expect("id").to_owned();
    for seq in BEFORE_BACKUP + 1..=last_seq {
        assert!(
            seen.contains_key(&(new_epoch.clone(), seq)),
            "seq {seq} of the new epoch was published"
        );
    }
    // What the two epochs share (up to the backup) is the same history.
    let old_epoch = first_epoch["id"].as_str().expect("id").to_owned();
    for ((epoch, seq), message) in &seen {
        if *epoch == new_epoch && *seq <= BEFORE_BACKUP {
            let old = &seen[&(old_epoch.clone(), *seq)];
            assert_eq!(old["hash"], message["hash"], "seq {seq}");
        }
    }
}
