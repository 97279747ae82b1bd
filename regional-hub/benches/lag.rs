//! `cargo bench -p regional-hub --bench lag`: replication lag, depot commit
//! → hub applied, with N simulated depots publishing through one real
//! Mosquitto (brief §9: p50 ≤ 1 s, p99 ≤ 5 s at 500 depots × 20 msg/s).
//!
//! The depots are MQTT clients in this process, one connection each, each
//! publishing its ledger movements in the contract's format
//! (`feed_contract::MovementMessage` on `depot/v1/{depot}/movements`, QoS 1,
//! its own gapless seq from 1, `time` = the instant of publishing, which
//! stands for the commit: a real depot publishes right after its commit),
//! paced at R messages/s with the depots' phases spread over the period.
//! Running 500 depot-servers on two cores is not possible, so the depots'
//! own read-and-build path is not in the figure (its cost per movement is
//! in the `backlog` bench).
//!
//! Sinks, each with a fresh broker (`BENCH_SINKS`, default all three):
//! - `broker`: a plain subscriber (QoS 1, parses each payload) counting
//!   what arrives: the broker's own limit beside the hub's. Its lag is
//!   receive − commit time. After its ladder the depots publish unpaced
//!   (as fast as their in-flight windows allow) for the same time: the
//!   highest rate the broker passes on here.
//! - `sqlite`: one real `regional-hub` process on a SQLite file.
//! - `postgres`: two hub processes sharing the subscription
//!   (`$share/bench/…`) on one PostgreSQL cluster of the bench's own,
//!   `fsync=on`.
//!
//! For a hub the lag of a movement is `applied_ns − time_ns` of its row in
//! the hub's `movements` table: the hub's clock when it took the message
//! into its apply transaction (committed a few ms later) minus the commit
//! time the message carries; same machine, same clock. The bench counts
//! the rows: every movement published must be applied exactly once (the
//! primary key (depot, seq) admits no second).
//!
//! Each sink climbs a ladder of rates per depot (`BENCH_RATES`, ascending):
//! a step publishes for `BENCH_SECONDS`, then waits up to `BENCH_WAIT_S`
//! for every movement to arrive. A step passes when all arrived and
//! p50 ≤ 1 s and p99 ≤ 5 s; the climb stops after the first step that
//! fails, so the last passing step is the highest rate this machine
//! carries within the target. A movement still missing after the wait
//! counts as later than the wait (its lag is unknown but larger).
//!
//! Settings: `BENCH_DEPOTS` (500), `BENCH_RATES` (msg/s per depot,
//! `1,2,5,10,20`), `BENCH_SECONDS` (30), `BENCH_WAIT_S` (60),
//! `BENCH_SINKS` (`broker,sqlite,postgres`).

#[path = "../../depot-server/benches/common/measure.rs"]
mod measure;
#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use feed_contract::{
    Audience, ChainHash, DepotId, Epoch, EpochId, MovementKind, MovementMessage, Source, Topic, V2,
};
use measure::{env_number, percentile};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use sha2::Digest;
use sqlx::Row;
use time::OffsetDateTime;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// The target: p50 and p99 of the lag.
const TARGET: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(5));

struct Settings {
    depots: usize,
    rates: Vec<f64>,
    seconds: u64,
    wait: Duration,
    sinks: Vec<String>,
}

impl Settings {
    fn from_env() -> Settings {
        let list = |name: &str, default: &str| -> Vec<String> {
            std::env::var(name)
                .unwrap_or_else(|_| default.into())
                .split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect()
        };
        let rates = list("BENCH_RATES", "1,2,5,10,20")
            .iter()
            .map(|r| r.parse::<f64>().expect("BENCH_RATES: numbers"))
            .inspect(|r| assert!(*r > 0.0, "BENCH_RATES: positive numbers"))
            .collect();
        Settings {
            depots: usize::try_from(env_number("BENCH_DEPOTS", 500)).expect("depots"),
            rates,
            seconds: env_number("BENCH_SECONDS", 30),
            wait: Duration::from_secs(env_number("BENCH_WAIT_S", 60)),
            sinks: list("BENCH_SINKS", "broker,sqlite,postgres"),
        }
    }
}

fn main() {
    let settings = Settings::from_env();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    println!(
        "lag: {} depots, rates {:?} msg/s per depot, {} s a step, wait ≤ {} s; machine load {}",
        settings.depots,
        settings.rates,
        settings.seconds,
        settings.wait.as_secs(),
        load_average()
    );
    runtime.block_on(async {
        let mut broker_limit = None;
        for sink in &settings.sinks {
            let summary = match sink.as_str() {
                "broker" => {
                    let (summary, limit) = broker_sink(&settings).await;
                    broker_limit = Some(limit);
                    summary
                }
                "sqlite" => hub_sink(&settings, Database::Sqlite).await,
                "postgres" => hub_sink(&settings, Database::Postgres).await,
                other => panic!("BENCH_SINKS: unknown sink {other}"),
            };
            println!("== {sink}: {summary}");
            if let (Some(limit), Some(peak)) = (broker_limit, summary.peak_rate) {
                if sink != "broker" {
                    let bound = if summary.saturated { "=" } else { "≥ (not saturated)" };
                    println!(
                        "   ratio {sink} / broker: peak applied {peak:.0}/s ÷ broker limit {limit:.0}/s {bound} {:.2}",
                        peak / limit
                    );
                }
            }
        }
        println!("machine load after: {}", load_average());
    });
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// What one sink reached.
#[derive(Default)]
struct Summary {
    /// The highest total rate (msg/s) whose step met the target.
    passed: Option<f64>,
    /// The highest rate at which the sink took messages in any step.
    peak_rate: Option<f64>,
    /// A step failed while the depots kept their pace: the peak is the
    /// sink's own limit.
    saturated: bool,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.passed {
            Some(rate) => write!(f, "highest rate within the target {rate:.0} msg/s")?,
            None => write!(f, "no step within the target")?,
        }
        if let Some(peak) = self.peak_rate {
            write!(f, "; peak {peak:.0} msg/s taken")?;
        }
        Ok(())
    }
}

/// The simulated depots: one MQTT connection each, publishing movements.
struct Fleet {
    clients: Vec<(AsyncClient, String, DepotId)>,
    /// The next seq of each depot.
    seqs: Arc<Vec<AtomicU64>>,
    /// PUBACKs received from the broker, all depots.
    acked: Arc<AtomicU64>,
    published: u64,
    loops: Vec<JoinHandle<()>>,
}

impl Fleet {
    async fn connect(url: &str, depots: usize) -> Fleet {
        let broker = feed_contract::Broker::parse(url).expect("broker url");
        let acked = Arc::new(AtomicU64::new(0));
        let connected = Arc::new(AtomicU64::new(0));
        let mut clients = Vec::with_capacity(depots);
        let mut loops = Vec::with_capacity(depots);
        for i in 0..depots {
            let id = DepotId::parse(&format!("bench-{i:04}")).expect("depot id");
            let mut options = MqttOptions::new(format!("depot-{id}"), &broker.host, broker.port);
            options
                .set_keep_alive(Duration::from_secs(30))
                .set_inflight(64);
            let (client, mut events) = AsyncClient::new(options, 256);
            let (acked, connected) = (acked.clone(), connected.clone());
            loops.push(tokio::spawn(async move {
                loop {
                    match events.poll().await {
                        Ok(Event::Incoming(Packet::PubAck(_))) => {
                            acked.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(Event::Incoming(Packet::ConnAck(_))) => {
                            connected.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(_) => {}
                        // A pause before rumqttc connects again.
                        Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                    }
                }
            }));
            let topic = Topic::Movements(Audience::Open).name(&id);
            clients.push((client, topic, id));
        }
        wait_for("every depot connected", Duration::from_secs(60), || {
            connected.load(Ordering::Relaxed) >= depots as u64
        })
        .await;
        Fleet {
            clients,
            seqs: Arc::new((0..depots).map(|_| AtomicU64::new(1)).collect()),
            acked,
            published: 0,
            loops,
        }
    }

    /// Publishes from every depot for `seconds`: paced at `rate` msg/s per
    /// depot, or as fast as the in-flight windows allow when `None`. Returns
    /// the step's window of commit times and how many were published; waits
    /// until the broker acknowledged all of them.
    async fn publish(&mut self, rate: Option<f64>, seconds: u64) -> Step {
        let start = Instant::now();
        let end = start + Duration::from_secs(seconds);
        let from_ns = now_ns();
        let count = self.clients.len();
        let mut tasks = Vec::with_capacity(count);
        for (i, (client, topic, id)) in self.clients.iter().enumerate() {
            let (client, topic, id) = (client.clone(), topic.clone(), id.clone());
            let seqs = self.seqs.clone();
            tasks.push(tokio::spawn(async move {
                let mut ticker = rate.map(|rate| {
                    let period = Duration::from_secs_f64(1.0 / rate);
                    let phase = period.mul_f64(i as f64 / count as f64);
                    let mut ticker = tokio::time::interval_at(start + phase, period);
                    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
                    ticker
                });
                let mut sent = 0u64;
                loop {
                    if let Some(ticker) = ticker.as_mut() {
                        ticker.tick().await;
                    }
                    if Instant::now() >= end {
                        return sent;
                    }
                    let seq = seqs[i].fetch_add(1, Ordering::Relaxed);
                    client
                        .publish(&topic, QoS::AtLeastOnce, false, movement(&id, seq))
                        .await
                        .expect("publish");
                    sent += 1;
                }
            }));
        }
        let mut published = 0;
        for task in tasks {
            published += task.await.expect("publisher");
        }
        let to_ns = now_ns();
        // The nominal time: the last tick of a paced depot may fall up to
        // one period after `end` and publishes nothing.
        let elapsed = Duration::from_secs(seconds);
        self.published += published;
        let target = self.published;
        let acked = self.acked.clone();
        wait_for("the broker's PUBACKs", Duration::from_secs(120), || {
            acked.load(Ordering::Relaxed) >= target
        })
        .await;
        Step {
            start,
            from_ns,
            to_ns,
            published,
            offered: rate.map(|r| r * count as f64),
            elapsed,
        }
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for task in &self.loops {
            task.abort();
        }
    }
}

/// One step of publishing.
struct Step {
    start: Instant,
    from_ns: i64,
    to_ns: i64,
    published: u64,
    /// The planned total rate; `None` when unpaced.
    offered: Option<f64>,
    elapsed: Duration,
}

impl Step {
    fn published_rate(&self) -> f64 {
        self.published as f64 / self.elapsed.as_secs_f64()
    }
}

/// A movement of depot `id` as a depot publishes it, with the commit time now.
fn movement(id: &DepotId, seq: u64) -> Vec<u8> {
    let message = MovementMessage {
        v: V2,
        depot: id.as_str().to_owned(),
        epoch: Epoch {
            id: EpochId::parse(&"1".repeat(32)).expect("an epoch id"),
            generation: 0,
            base: 0,
        },
        seq,
        hash: chain_hash(id, seq),
        prev: chain_hash(id, seq - 1),
        time: OffsetDateTime::now_utc(),
        kind: MovementKind::Receive,
        sku: format!("ART-{}", seq % 50),
        quantity: 1,
        from: None,
        to: Some("B-1".into()),
        lot: None,
        epcs: Vec::new(),
        source: Source::Handheld,
    };
    serde_json::to_vec(&message).expect("a movement serialises")
}

/// A stand-in for depot `id`'s hash chain: the hash at `seq` is SHA-256 of
/// `{depot}/{seq}`, 64 zeros before seq 1. The hub compares hashes, it
/// cannot recompute them.
fn chain_hash(id: &DepotId, seq: u64) -> ChainHash {
    let text = if seq == 0 {
        "0".repeat(64)
    } else {
        hex::encode(sha2::Sha256::digest(format!("{}/{seq}", id.as_str())))
    };
    ChainHash::parse(&text).expect("a chain hash")
}

fn now_ns() -> i64 {
    i64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos()).expect("ns")
}

async fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The lags of a step's movements as far as they arrived, and how many
/// were expected; prints the step's line and whether it met the target.
fn judge(step: &Step, mut lags: Vec<Duration>, taken_rate: f64, summary: &mut Summary) -> bool {
    let arrived = lags.len() as u64;
    let missing = step.published.saturating_sub(arrived);
    // A missing movement is later than anything measured.
    lags.extend((0..missing).map(|_| Duration::MAX));
    let lags = sorted(lags);
    let show = |d: Duration| {
        if d == Duration::MAX {
            "> wait".to_owned()
        } else {
            format!("{:.3} s", d.as_secs_f64())
        }
    };
    let (p50, p99) = (percentile(&lags, 0.50), percentile(&lags, 0.99));
    let max = lags.last().copied().unwrap_or_default();
    // Publishers that could not keep their pace leave the rate untested:
    // the machine, not the sink, is the limit at that step.
    let kept_pace = step
        .offered
        .is_none_or(|offered| step.published_rate() >= 0.95 * offered);
    if !kept_pace {
        println!(
            "   the depots published only {:.0} of {:.0} msg/s: this machine's cores are the limit here",
            step.published_rate(),
            step.offered.unwrap_or_default()
        );
    }
    let passed = kept_pace && missing == 0 && p50 <= TARGET.0 && p99 <= TARGET.1;
    let offered = step
        .offered
        .map_or("unpaced".to_owned(), |r| format!("{r:.0} msg/s offered"));
    println!(
        "   {offered}: {} published ({:.0}/s), {arrived} arrived, {missing} missing; \
         taken {taken_rate:.0}/s while publishing; lag p50 {}, p99 {}, max {} → {}",
        step.published,
        step.published_rate(),
        show(p50),
        show(p99),
        show(max),
        if passed {
            "within the target"
        } else {
            "MISSED"
        }
    );
    summary.peak_rate = Some(summary.peak_rate.unwrap_or(0.0).max(taken_rate));
    if passed {
        summary.passed = step.offered;
    } else if kept_pace {
        summary.saturated = true;
    }
    passed
}

/// What the counting subscriber received: how many, their lags since the
/// last step took them, and when the last one came.
#[derive(Default)]
struct Counter {
    count: AtomicU64,
    lags: Mutex<Vec<Duration>>,
    last_at: Mutex<Option<Instant>>,
}

impl Counter {
    fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    fn take_lags(&self) -> Vec<Duration> {
        std::mem::take(&mut *self.lags.lock().expect("lags"))
    }

    /// Waits up to `limit` until `total` messages arrived in all.
    async fn wait(&self, total: u64, limit: Duration) {
        let deadline = Instant::now() + limit;
        while self.count() < total && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The broker alone: a plain subscriber counting and timing what arrives.
async fn broker_sink(settings: &Settings) -> (Summary, f64) {
    let broker = support::Broker::start();
    let counter = Arc::new(Counter::default());
    let subscriber = {
        let mut options = MqttOptions::new("bench-counter", "127.0.0.1", broker.port);
        options.set_keep_alive(Duration::from_secs(30));
        let (client, mut events) = AsyncClient::new(options, 64);
        client
            .subscribe("depot/v1/+/movements", QoS::AtLeastOnce)
            .await
            .expect("subscribe");
        let counter = counter.clone();
        let (subscribed, mut is_subscribed) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(async move {
            let _client = client;
            loop {
                match events.poll().await {
                    Ok(Event::Incoming(Packet::Publish(publish))) => {
                        let at = OffsetDateTime::now_utc();
                        let message: MovementMessage =
                            serde_json::from_slice(&publish.payload).expect("a movement");
                        let lag = (at - message.time).try_into().unwrap_or(Duration::ZERO);
                        counter.lags.lock().expect("lags").push(lag);
                        *counter.last_at.lock().expect("last") = Some(Instant::now());
                        counter.count.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        subscribed.send_replace(true);
                    }
                    Ok(_) => {}
                    Err(error) => panic!("the counting subscriber lost the broker: {error}"),
                }
            }
        });
        is_subscribed
            .wait_for(|s| *s)
            .await
            .expect("the subscriber's SUBACK");
        task
    };
    let mut fleet = Fleet::connect(&broker.url(), settings.depots).await;
    let mut summary = Summary::default();
    for &rate in &settings.rates {
        let before = counter.count();
        let step = fleet.publish(Some(rate), settings.seconds).await;
        let during = counter.count() - before;
        counter.wait(fleet.published, settings.wait).await;
        let taken_rate = during as f64 / step.elapsed.as_secs_f64();
        if !judge(&step, counter.take_lags(), taken_rate, &mut summary) {
            break;
        }
    }
    // The broker's own limit: the same depots unpaced, the same subscriber,
    // from the first publish to the last arrival.
    counter.wait(fleet.published, settings.wait).await;
    assert_eq!(
        counter.count(),
        fleet.published,
        "the broker lost messages to a connected subscriber"
    );
    let before = counter.count();
    let step = fleet.publish(None, settings.seconds).await;
    counter.wait(fleet.published, settings.wait).await;
    let arrived = counter.count() - before;
    let last_at = counter.last_at.lock().expect("last").unwrap_or(step.start);
    let broker_limit = arrived as f64 / (last_at - step.start).as_secs_f64();
    let lags = counter.take_lags();
    println!(
        "   unpaced: {} published in {:.1} s, {arrived} arrived in {:.1} s: \
         broker limit {broker_limit:.0} msg/s ({} depots → Mosquitto → 1 subscriber, QoS 1, \
         on this machine's cores); lag p50 {:.3} s",
        step.published,
        step.elapsed.as_secs_f64(),
        (last_at - step.start).as_secs_f64(),
        settings.depots,
        percentile(&sorted(lags), 0.5).as_secs_f64(),
    );
    assert_eq!(
        arrived, step.published,
        "the broker lost messages to a connected subscriber"
    );
    subscriber.abort();
    drop(fleet);
    (summary, broker_limit)
}

fn sorted(mut durations: Vec<Duration>) -> Vec<Duration> {
    durations.sort_unstable();
    durations
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Database {
    Sqlite,
    Postgres,
}

/// The real hub: one process on SQLite, or two sharing the feed on PostgreSQL.
async fn hub_sink(settings: &Settings, database: Database) -> Summary {
    let broker = support::Broker::start();
    let dir = tempfile::tempdir().expect("dir");
    let postgres = (database == Database::Postgres).then(|| support::Postgres::start_with(true));
    let db = match &postgres {
        Some(postgres) => postgres.database("hub_bench").await,
        None => dir
            .path()
            .join("hub.db")
            .to_str()
            .expect("utf-8")
            .to_owned(),
    };
    let hubs: Vec<(support::Process, String)> = match database {
        Database::Sqlite => vec![support::start_hub(
            &db,
            &broker.url(),
            &[("HUB_MQTT_CLIENT_ID", "hub-bench")],
        )],
        Database::Postgres => ["hub-bench-a", "hub-bench-b"]
            .into_iter()
            .map(|id| {
                support::start_hub(
                    &db,
                    &broker.url(),
                    &[
                        ("HUB_MQTT_CLIENT_ID", id),
                        ("HUB_MQTT_SHARE_GROUP", "bench"),
                    ],
                )
            })
            .collect(),
    };
    let client = reqwest::Client::new();
    for (_, url) in &hubs {
        support::wait_subscribed(&client, url).await;
    }
    let rows = HubRows::open(&db).await;
    let mut fleet = Fleet::connect(&broker.url(), settings.depots).await;
    let mut summary = Summary::default();
    for &rate in &settings.rates {
        let before = rows.count().await;
        let step = fleet.publish(Some(rate), settings.seconds).await;
        let during = rows.count().await - before;
        let limit = Instant::now() + settings.wait;
        while rows.count().await - before < step.published && Instant::now() < limit {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let lags = rows.lags(step.from_ns, step.to_ns).await;
        let taken_rate = during as f64 / step.elapsed.as_secs_f64();
        if !judge(&step, lags, taken_rate, &mut summary) {
            break;
        }
    }
    let (count, applied, duplicates) = rows.counters().await;
    println!(
        "   the hub's depots rows: {applied} movements applied, {duplicates} duplicates; {count} rows"
    );
    assert_eq!(
        applied, count,
        "one row per movement applied: none applied twice"
    );
    drop(fleet);
    rows.close().await;
    drop(hubs);
    summary
}

/// The hub's `movements` table, read by the bench beside the hub.
struct HubRows {
    pool: sqlx::AnyPool,
}

impl HubRows {
    async fn open(db: &str) -> HubRows {
        sqlx::any::install_default_drivers();
        let url = if db.starts_with("postgres") {
            db.to_owned()
        } else {
            format!("sqlite://{db}?mode=ro")
        };
        let pool = sqlx::any::AnyPoolOptions::new()
            .max_connections(1)
            .connect(&url)
            .await
            .expect("open the hub's database");
        HubRows { pool }
    }

    async fn count(&self) -> u64 {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM movements")
            .fetch_one(&self.pool)
            .await
            .expect("count");
        count.unsigned_abs()
    }

    /// The lags of the movements committed between `from_ns` and `to_ns`.
    async fn lags(&self, from_ns: i64, to_ns: i64) -> Vec<Duration> {
        sqlx::query(
            "SELECT applied_ns - time_ns AS lag FROM movements WHERE time_ns >= $1 AND time_ns <= $2",
        )
        .bind(from_ns)
        .bind(to_ns)
        .fetch_all(&self.pool)
        .await
        .expect("lags")
        .iter()
        .map(|row| Duration::from_nanos(row.get::<i64, _>("lag").max(0).unsigned_abs()))
        .collect()
    }

    /// The rows, and the movements applied and duplicates summed over the
    /// depots, in one statement: one snapshot, though the hub goes on
    /// applying (it writes a row and its depot's counters in one transaction).
    async fn counters(&self) -> (u64, u64, u64) {
        let row = sqlx::query(
            "SELECT CAST(COUNT(*) AS BIGINT) AS count, \
             (SELECT CAST(COALESCE(SUM(movements_applied), 0) AS BIGINT) FROM depots) AS applied, \
             (SELECT CAST(COALESCE(SUM(duplicates), 0) AS BIGINT) FROM depots) AS duplicates \
             FROM movements",
        )
        .fetch_one(&self.pool)
        .await
        .expect("counters");
        let get = |name: &str| row.get::<i64, _>(name).unsigned_abs();
        (get("count"), get("applied"), get("duplicates"))
    }

    async fn close(self) {
        self.pool.close().await;
    }
}
