//! `cargo bench -p regional-hub --bench backlog`: the backlog of a long
//! uplink outage drained by a real depot-server into a real regional-hub
//! through a real Mosquitto while bookings go on (brief §9: drain ≥ 10× the
//! live rate; depot-server RSS ≤ 32 MB).
//!
//! **The real booking rate** (`BENCH_LIVE_RATE`, default 4 bookings/s) is
//! a busy depot's around the clock: 345,600 movements a day from its gates
//! and handhelds. A 72-hour outage (`BENCH_OUTAGE_H`, default 72) then
//! leaves 4 × 72 × 3,600 = 1,036,800 movements unsent, which is also the
//! 1,000,000-row backlog the RSS target names.
//!
//! **How the backlog is made.** Booking a million movements through the
//! API would take this machine many minutes, so the outage's movements are
//! written by the server's own store code while the server is stopped:
//! `depot_server::store::ledger::append_all` (the stock levels follow by
//! the ledger's trigger), receipts of one unit of `BENCH_ARTICLES` articles
//! (default 20) into one bin, their `recorded_at` spread over the outage.
//! The server seals them into its hash chain when it starts (its start-up
//! time is shown). The articles, the bin and the users come through the
//! API and the command line as usual. The feed's cursor stays at 0, so to
//! the server these are committed movements the broker never acknowledged.
//!
//! **The run.** Mosquitto (persistent) and the hub (SQLite) start; the hub
//! subscribes, its session is saved, and the broker stops: the outage. The
//! depot-server starts on the backlog with its uplink down, live bookings
//! begin through the API at the live rate (each with its Idempotency-Key),
//! and after a few seconds the broker comes back. The drain ends when the
//! depot's acknowledged seq (`/api/v1/uplink`, saved every 250 ms) reaches
//! the seq it had when the broker came back. Reported: drain rate
//! (movements acknowledged per second), the live rate actually booked and
//! its latency, their ratio, the hub's apply rate over the same time
//! (movements, and feed messages of every kind from its `/metrics`), the
//! depot's RSS (sampled from `/proc` every 250 ms during the drain, and
//! its lifetime peak `VmHWM`, which includes sealing the backlog at start).
//! Then the bench waits (`BENCH_HUB_WAIT_S`, default 3,600) for the hub to
//! apply everything and checks: every seq arrived, none applied twice, hub
//! stock equals depot stock for every article.
//!
//! The server is `target/release/depot-server` as found (built only when
//! missing: build it after a change), or `BENCH_SERVER=/path/to/depot-server`.

#[path = "../../depot-server/benches/common/measure.rs"]
mod measure;
#[path = "../tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use depot_server::domain::article::Sku;
use depot_server::domain::booking::{MovementKind, Source};
use depot_server::domain::ledger::Movement;
use depot_server::domain::location::LocationCode;
use depot_server::domain::quantity::Lot;
use measure::{env_number, metric, percentile, proc_status_kib};
use reqwest::Client;
use serde_json::{json, Value};
use support::{get, Process};
use time::OffsetDateTime;

const DEPOT: &str = "bench-depot";
/// Movements per transaction when the backlog is written.
const PER_TRANSACTION: usize = 10_000;
/// The pause between two looks at the depot and the hub.
const SAMPLE_EVERY: Duration = Duration::from_millis(250);

fn main() {
    let live_rate = env_number("BENCH_LIVE_RATE", 4);
    let outage_h = env_number("BENCH_OUTAGE_H", 72);
    let articles = env_number("BENCH_ARTICLES", 20);
    let hub_wait = Duration::from_secs(env_number("BENCH_HUB_WAIT_S", 3_600));
    assert!(
        live_rate > 0 && articles > 0,
        "BENCH_LIVE_RATE and BENCH_ARTICLES must be > 0"
    );
    let backlog = live_rate * outage_h * 3_600;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run(live_rate, outage_h, backlog, articles, hub_wait));
}

async fn run(live_rate: u64, outage_h: u64, backlog: u64, articles: u64, hub_wait: Duration) {
    println!(
        "backlog: {outage_h} h at {live_rate} bookings/s = {backlog} movements of {articles} articles; \
         machine load {}",
        load_average()
    );
    let dir = tempfile::tempdir().expect("dir");
    let client = Client::new();
    // Another build of the server (e.g. the previous commit's) by path, as
    // in depot-server's benches; by default this profile's.
    let binary = std::env::var_os("BENCH_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(support::depot_server_binary);

    // The hub subscribes; its session is saved; the broker goes away.
    let mut broker = support::Broker::start_persistent();
    let hub_db = dir.path().join("hub.db");
    let hub_db = hub_db.to_str().expect("utf-8");
    let cell = support::hub_command(
        &["user", "add", "cell", "--role", "hub", "--restricted"],
        hub_db,
    );
    let (_hub_process, hub) = support::start_hub(
        hub_db,
        &broker.url(),
        &[("HUB_MQTT_CLIENT_ID", "hub-backlog")],
    );
    support::wait_subscribed(&client, &hub).await;
    broker.saved_after(std::time::SystemTime::now());
    broker.stop();

    // The depot: users, articles and a bin as usual, then the outage's
    // movements through its store code while it is stopped.
    let db = dir.path().join("depot.db");
    let token = depot_cli(&binary, &db, &["user", "add", "bench", "--role", "manager"]);
    let skus: Vec<String> = (1..=articles).map(|n| format!("ART-{n:03}")).collect();
    {
        let (process, url) = start_depot(&binary, &db, &broker.url());
        for sku in &skus {
            post(
                &client,
                &url,
                &token,
                "/api/v1/articles",
                json!({"sku": sku, "name": sku, "unit": "piece"}),
            )
            .await;
        }
        post(
            &client,
            &url,
            &token,
            "/api/v1/locations",
            json!({"code": "B-1", "zone": "B", "kind": "bin"}),
        )
        .await;
        terminate(process);
    }
    let written = Instant::now();
    write_backlog(&db, backlog, outage_h, &skus).await;
    println!(
        "backlog written through store::ledger::append_all in {:.1} s",
        written.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    let (process, depot) = start_depot(&binary, &db, &broker.url());
    let pid = process.0.id();
    println!(
        "depot-server started on it (sealing {backlog} movements into the hash chain) in {:.1} s, \
         VmHWM so far {} KiB",
        started.elapsed().as_secs_f64(),
        proc_status_kib(pid, "VmHWM:").unwrap_or(0)
    );

    // Live bookings from now to the end; the broker comes back a little later.
    let live = Live::start(&client, &depot, &token, live_rate, &skus);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let before = uplink(&client, &depot, &token).await;
    assert_ne!(
        before["state"], "online",
        "the uplink is down during the outage"
    );
    let owed_seq = before["last_seq"].as_i64().expect("last_seq");
    let acked_from = before["acked_seq"].as_i64().expect("acked_seq");
    let hub_from = HubFigures::read(&client, &hub, &cell).await;
    let live_from = live.booked();
    let back = Instant::now();
    broker.restart();

    // The drain: until the depot's acknowledged seq reaches what it owed.
    // Its rate counts from the depot's reconnection (its backoff while the
    // broker was away is up to 5 s).
    let mut peak_rss = 0;
    let mut online: Option<(Instant, u64)> = None;
    let drained = loop {
        peak_rss = peak_rss.max(proc_status_kib(pid, "VmRSS:").unwrap_or(0));
        let now = uplink(&client, &depot, &token).await;
        if online.is_none() && now["state"] == "online" {
            online = Some((Instant::now(), live.booked()));
        }
        if now["acked_seq"].as_i64() >= Some(owed_seq) {
            break now;
        }
        assert!(
            back.elapsed() < Duration::from_secs(6 * 3_600),
            "the drain did not end: {now}"
        );
        tokio::time::sleep(SAMPLE_EVERY).await;
    };
    let (online_at, live_from) = online.unwrap_or((back, live_from));
    let reconnect_s = (online_at - back).as_secs_f64();
    let drain_s = online_at.elapsed().as_secs_f64();
    let since_back_s = back.elapsed().as_secs_f64();
    let hub_at_drained = HubFigures::read(&client, &hub, &cell).await;
    let live_during = live.booked() - live_from;
    let acked = drained["acked_seq"].as_i64().expect("acked_seq") - acked_from;
    let drain_rate = acked as f64 / drain_s;
    let live_measured = live_during as f64 / drain_s;
    let depot_metrics = text(&client, &format!("{depot}/metrics")).await;
    println!(
        "== drain (depot online {reconnect_s:.1} s after the broker came back → acknowledged up to seq {owed_seq}) =="
    );
    println!(
        "{acked} movements acknowledged in {drain_s:.1} s: drain {drain_rate:.0} movements/s; \
         feed messages published {:.0}, acknowledged {:.0} (snapshots and resends included)",
        metric(&depot_metrics, "depot_feed_published_total"),
        metric(&depot_metrics, "depot_feed_acked_total"),
    );
    println!(
        "live bookings meanwhile: {live_during} ({live_measured:.1}/s; {live_rate}/s planned); \
         all live bookings p99 {:.1} ms, max {:.1} ms; ratio drain / live = {:.0}× (target ≥ 10×)",
        live.latency(0.99).as_secs_f64() * 1e3,
        live.latency(1.0).as_secs_f64() * 1e3,
        drain_rate / live_rate as f64,
    );
    println!(
        "hub from the broker's return to the end of the drain ({since_back_s:.1} s): \
         {} movements applied ({:.0}/s), {} feed messages handled ({:.0}/s)",
        hub_at_drained.movements - hub_from.movements,
        (hub_at_drained.movements - hub_from.movements) as f64 / since_back_s,
        hub_at_drained.messages - hub_from.messages,
        (hub_at_drained.messages - hub_from.messages) as f64 / since_back_s,
    );
    println!(
        "depot-server RSS: peak sampled during the drain {peak_rss} KiB ({:.1} MiB); \
         VmHWM (lifetime, start-up sealing included) {} KiB; target ≤ 32 MB",
        peak_rss as f64 / 1024.0,
        proc_status_kib(pid, "VmHWM:").unwrap_or(0)
    );

    // The hub catches up; then nothing may be missing or doubled.
    let live_total = live.stop().await;
    let last_seq = uplink(&client, &depot, &token).await["last_seq"]
        .as_i64()
        .expect("last_seq");
    let hub_deadline = Instant::now() + hub_wait;
    let feed = loop {
        let (_, body) = get(&client, &cell, &format!("{hub}/api/v1/depots")).await;
        let feed = body["depots"]
            .as_array()
            .and_then(|depots| depots.iter().find(|d| d["depot"] == DEPOT).cloned());
        if let Some(feed) = feed.filter(|f| f["last_seq"] == last_seq) {
            break feed;
        }
        assert!(
            Instant::now() < hub_deadline,
            "the hub did not apply every seq up to {last_seq} within BENCH_HUB_WAIT_S"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let hub_done = HubFigures::read(&client, &hub, &cell).await;
    let hub_s = back.elapsed().as_secs_f64();
    println!("== the hub caught up {hub_s:.1} s after the broker came back ==");
    println!(
        "{} movements applied since ({:.0}/s), {} feed messages handled ({:.0}/s); \
         seqs 1..={last_seq} ({backlog} backlog + {live_total} live): gaps {}, applied {}, duplicates {}",
        hub_done.movements - hub_from.movements,
        (hub_done.movements - hub_from.movements) as f64 / hub_s,
        hub_done.messages - hub_from.messages,
        (hub_done.messages - hub_from.messages) as f64 / hub_s,
        feed["gaps"],
        feed["movements_applied"],
        feed["duplicates"],
    );
    assert_eq!(feed["gaps"], json!([]), "every seq arrived: {feed}");
    assert_eq!(
        feed["movements_applied"], last_seq,
        "none applied twice: {feed}"
    );
    for sku in &skus {
        let depot_total = depot_stock(&client, &depot, &token, sku).await;
        let (status, body) = get(&client, &cell, &format!("{hub}/api/v1/stock?sku={sku}")).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            body["total"], depot_total,
            "hub stock equals depot stock for {sku}"
        );
    }
    println!(
        "checked: every seq once at the hub, hub stock equals depot stock for {} articles; \
         machine load {}",
        skus.len(),
        load_average()
    );
    drop(process);
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// `depot-server --db DB ARGS…` to completion; its stdout.
fn depot_cli(binary: &Path, db: &Path, args: &[&str]) -> String {
    let out = Command::new(binary)
        .arg("--db")
        .arg(db)
        .args(args)
        .output()
        .expect("run depot-server");
    assert!(
        out.status.success(),
        "depot-server {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The release depot-server on `db`, its feed pointed at `mqtt`.
fn start_depot(binary: &Path, db: &Path, mqtt: &str) -> (Process, String) {
    let mut command = Command::new(binary);
    command
        .args(["run", "--listen", "127.0.0.1:0", "--db"])
        .arg(db)
        .env("DEPOT_ID", DEPOT)
        .env("DEPOT_MQTT_URL", mqtt)
        .env("DEPOT_GATEWAY", "off")
        .env("DEPOT_LOG", "info");
    support::serve(command)
}

/// Stops a server cleanly (SIGTERM) and waits for it.
fn terminate(mut process: Process) {
    let status = Command::new("kill")
        .args(["-TERM", &process.0.id().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(status.success());
    process.0.wait().expect("the server exits");
}

async fn post(client: &Client, base: &str, token: &str, path: &str, body: Value) {
    let response = client
        .post(format!("{base}{path}"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 201, "{path} {body}");
}

async fn text(client: &Client, url: &str) -> String {
    client
        .get(url)
        .send()
        .await
        .expect("GET")
        .text()
        .await
        .expect("text")
}

async fn uplink(client: &Client, depot: &str, token: &str) -> Value {
    let (status, body) = get(client, token, &format!("{depot}/api/v1/uplink")).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn depot_stock(client: &Client, depot: &str, token: &str, sku: &str) -> i64 {
    let (status, body) = get(client, token, &format!("{depot}/api/v1/stock?sku={sku}")).await;
    assert_eq!(status, 200, "{body}");
    body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["quantity"].as_i64().expect("quantity"))
        .sum()
}

/// Writes `count` receipts after the ledger's last seq through the
/// server's store code, `recorded_at` spread over the `hours` before now.
async fn write_backlog(db: &Path, count: u64, hours: u64, skus: &[String]) {
    let pool = depot_server::store::open_pool(db, &Default::default())
        .await
        .expect("open the depot's database");
    let mut conn = pool.acquire().await.expect("connection");
    let last: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM movements")
        .fetch_one(&mut *conn)
        .await
        .expect("last seq");
    let now = OffsetDateTime::now_utc();
    let span = time::Duration::hours(i64::try_from(hours).expect("hours"));
    let skus: Vec<Sku> = skus.iter().map(|s| Sku::parse(s).expect("sku")).collect();
    let bin = LocationCode::parse("B-1").expect("code");
    let count = i64::try_from(count).expect("count");
    let mut next = 1;
    while next <= count {
        let end = (next + PER_TRANSACTION as i64 - 1).min(count);
        let movements: Vec<Movement> = (next..=end)
            .map(|n| Movement {
                seq: last + n,
                kind: MovementKind::Receive,
                sku: skus[usize::try_from(n).expect("n") % skus.len()].clone(),
                quantity: 1,
                from: None,
                to: Some(bin.clone()),
                lot: Lot::none(),
                epcs: Vec::new(),
                actor: "bench".into(),
                source: Source::Handheld,
                idempotency_key: None,
                reason: None,
                recorded_at: now - span + span * ((n - 1) as f64 / count as f64),
            })
            .collect();
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut *conn)
            .await
            .expect("begin");
        depot_server::store::ledger::append_all(&mut conn, &movements)
            .await
            .expect("append");
        sqlx::query("COMMIT")
            .execute(&mut *conn)
            .await
            .expect("commit");
        next = end + 1;
    }
    drop(conn);
    pool.close().await;
}

/// Bookings through the API at a steady rate, each a receipt of one unit
/// with its own Idempotency-Key, on a task of their own.
struct Live {
    booked: Arc<AtomicU64>,
    latencies: Arc<Mutex<Vec<Duration>>>,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Live {
    fn start(client: &Client, depot: &str, token: &str, rate: u64, skus: &[String]) -> Live {
        let booked = Arc::new(AtomicU64::new(0));
        let latencies: Arc<Mutex<Vec<Duration>>> = Arc::default();
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let task = {
            let (client, depot, token) = (client.clone(), depot.to_owned(), token.to_owned());
            let (booked, latencies, skus) = (booked.clone(), latencies.clone(), skus.to_vec());
            tokio::spawn(async move {
                let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
                let run = rand::random::<u32>();
                for n in 0usize.. {
                    tokio::select! {
                        _ = ticker.tick() => {}
                        _ = stopped.changed() => return,
                    }
                    let sent = Instant::now();
                    let response = client
                        .post(format!("{depot}/api/v1/movements"))
                        .bearer_auth(&token)
                        .header("Idempotency-Key", format!("live-{run:08x}-{n}"))
                        .json(&json!({"kind": "receive", "sku": skus[n % skus.len()], "quantity": 1, "to": "B-1"}))
                        .send()
                        .await
                        .expect("book");
                    assert_eq!(response.status(), 201, "a live booking");
                    latencies.lock().expect("latencies").push(sent.elapsed());
                    booked.fetch_add(1, Ordering::SeqCst);
                }
            })
        };
        Live {
            booked,
            latencies,
            stop,
            task,
        }
    }

    fn booked(&self) -> u64 {
        self.booked.load(Ordering::SeqCst)
    }

    fn latency(&self, quantile: f64) -> Duration {
        let mut all = self.latencies.lock().expect("latencies").clone();
        all.sort_unstable();
        percentile(&all, quantile)
    }

    /// Stops booking; how many were booked in all.
    async fn stop(self) -> u64 {
        self.stop.send_replace(true);
        let booked = self.booked.clone();
        self.task.await.expect("live bookings");
        booked.load(Ordering::SeqCst)
    }
}

/// What the hub has applied so far.
struct HubFigures {
    /// Movements of the bench's depot applied (`/api/v1/depots`).
    movements: i64,
    /// Feed messages of every kind this hub handled (`/metrics`).
    messages: i64,
}

impl HubFigures {
    async fn read(client: &Client, hub: &str, token: &str) -> HubFigures {
        let (_, body) = get(client, token, &format!("{hub}/api/v1/depots")).await;
        let movements = body["depots"]
            .as_array()
            .and_then(|depots| depots.iter().find(|d| d["depot"] == DEPOT))
            .and_then(|d| d["movements_applied"].as_i64())
            .unwrap_or(0);
        let metrics = text(client, &format!("{hub}/metrics")).await;
        let messages = ["applied", "unchanged", "refused"]
            .iter()
            .map(|outcome| {
                metric(
                    &metrics,
                    &format!("hub_feed_messages_total{{outcome=\"{outcome}\"}}"),
                )
            })
            .sum::<f64>();
        HubFigures {
            movements,
            messages: messages as i64,
        }
    }
}
