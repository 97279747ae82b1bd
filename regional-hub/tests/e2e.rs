//! Depot → broker → hub, end to end, with nothing simulated: a real
//! Mosquitto on a free port, a real depot-server process publishing its
//! feed, and the real regional-hub binary applying it. A booking at the
//! depot shows at the hub; the hub killed with `kill -9` while bookings go
//! on and started again catches up through its persistent session: hub
//! stock equals depot stock, every seq applied exactly once, no gaps; the
//! depot killed with `kill -9` shows offline at the hub (its Last Will).
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
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
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
    let runs = |name: &str| filter.as_deref().is_none_or(|f| name.contains(f));
    let name = "bookings_reach_the_hub_and_a_killed_hub_catches_up_applying_each_seq_once";
    if runs(name) {
        println!("test {name} ...");
        runtime
            .block_on(bookings_reach_the_hub_and_a_killed_hub_catches_up_applying_each_seq_once());
        println!("test {name} ... ok");
    }
    let name = "a_restored_depot_shows_its_lost_range_and_never_publishes_a_seq_twice";
    if runs(name) {
        println!("test {name} ...");
        runtime.block_on(a_restored_depot_shows_its_lost_range_and_never_publishes_a_seq_twice());
        println!("test {name} ... ok");
    }
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

async fn bookings_reach_the_hub_and_a_killed_hub_catches_up_applying_each_seq_once() {
    let broker = support::Broker::start();
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
