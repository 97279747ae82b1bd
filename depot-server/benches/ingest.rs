//! Gate ingest benchmark (not a test): run with
//! `cargo bench -p depot-server --bench ingest` (needs `wrk`, which
//! `scripts/install-deps.sh` installs).
//!
//! `BENCH_GATEWAYS` (default 4) simulated gateways run in this process: the
//! simulator's register bank (`gates::sim::bank`, map version 3) served over
//! Modbus TCP on loopback by tokio-modbus, one port each. A generated trace
//! feeds them: `BENCH_EVENTS_PER_S` (default 2,500) passes per second in
//! all, spread over the gateways, each a new SGTIN-96 tag of one article
//! passing gate 0 inwards, so each pass is one receipt (one new item, one
//! ledger row) at that gateway's dock. The release server polls them
//! (`[[gateways]]`, `poll_interval_ms` 10) for `BENCH_SECONDS` (default 20)
//! and books every pass through its writer. At the same time `wrk` sends
//! handheld bookings (`BENCH_CLIENTS` connections, default 8; a new
//! Idempotency-Key per request, `benches/wrk/bookings.lua`).
//!
//! Measured at the gateways: each event's time from the drain read that
//! first carried it to the acknowledgement that freed it (the server
//! acknowledges only after the pass and its booking are committed), events
//! acknowledged per second, ring overflows. Measured in the database
//! afterwards: gate passes and gate/handheld ledger rows (each must match
//! what was acknowledged or answered 201). The server's peak RSS.

use std::collections::HashMap;
use std::future::{ready, Ready};
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use depot_server::gates::sim::bank::{Bank, Pass};
use depot_server::gates::sim::{self, traffic};
use gateway_registers::{holding, Direction, DrainBlock};
use serde_json::json;
use tokio::net::TcpListener;
use tokio_modbus::server::tcp::{accept_tcp_connection, Server};
use tokio_modbus::{Request, Response, SlaveRequest};

mod common;
use common::{cli, env_number, percentile, proc_status_kib, server, wrk_value};

/// The article every simulated tag belongs to.
const GTIN: &str = "04006381333931";

/// When each event was first served and when it was acknowledged.
#[derive(Default)]
struct Timings {
    first_read: HashMap<u32, Instant>,
    latencies: Vec<Duration>,
    acked: u32,
}

/// The simulator's Modbus service, timing the drain protocol as it passes.
struct Timed {
    inner: sim::Service,
    bank: Arc<Mutex<Bank>>,
    timings: Arc<Mutex<Timings>>,
}

impl tokio_modbus::server::Service for Timed {
    type Request = SlaveRequest<'static>;
    type Response = Option<Response>;
    type Exception = tokio_modbus::ExceptionCode;
    type Future = Ready<Result<Self::Response, Self::Exception>>;

    fn call(&self, request: Self::Request) -> Self::Future {
        let now = Instant::now();
        let mut timings = self.timings.lock().unwrap_or_else(PoisonError::into_inner);
        match &request.request {
            Request::ReadInputRegisters(start, count)
                if *start == DrainBlock::START && *count == DrainBlock::LEN =>
            {
                let bank = self.bank.lock().unwrap_or_else(PoisonError::into_inner);
                if let Ok(regs) = bank.read_input(*start, *count) {
                    if let Ok(block) = DrainBlock::from_registers(&regs) {
                        for event in block.events.events() {
                            timings.first_read.entry(event.seq).or_insert(now);
                        }
                    }
                }
            }
            Request::WriteMultipleRegisters(start, values)
                if *start == holding::ACK_BOOT_ID && values.len() == 4 =>
            {
                let acked = gateway_registers::u32_from_registers(values[2], values[3]);
                for seq in timings.acked + 1..=acked {
                    if let Some(read) = timings.first_read.remove(&seq) {
                        timings.latencies.push(now - read);
                    }
                }
                timings.acked = timings.acked.max(acked);
            }
            _ => {}
        }
        drop(timings);
        tokio_modbus::server::Service::call(&self.inner, request)
    }
}

/// One simulated gateway: its bank, its timings, its address.
struct Gateway {
    bank: Arc<Mutex<Bank>>,
    timings: Arc<Mutex<Timings>>,
    address: SocketAddr,
}

async fn start_gateway() -> Gateway {
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    let bank = Arc::new(Mutex::new(Bank::new(1_024)));
    let timings = Arc::new(Mutex::new(Timings::default()));
    let booted = tokio::time::Instant::now();
    let (serve_bank, serve_timings) = (bank.clone(), timings.clone());
    tokio::spawn(async move {
        let on_connected = |stream, peer| {
            ready(accept_tcp_connection(stream, peer, |_| {
                Ok(Some(Timed {
                    inner: sim::Service::new(serve_bank.clone(), booted),
                    bank: serve_bank.clone(),
                    timings: serve_timings.clone(),
                }))
            }))
        };
        let _ = Server::new(listener).serve(&on_connected, |_| {}).await;
    });
    Gateway {
        bank,
        timings,
        address,
    }
}

/// Pushes `per_s` new tags a second into `bank` until `until`; returns how
/// many were taken and how many overflowed the ring.
async fn feed(bank: Arc<Mutex<Bank>>, first_serial: u64, per_s: f64, until: Instant) -> (u64, u64) {
    let started = Instant::now();
    let mut ticks = tokio::time::interval(Duration::from_millis(5));
    let (mut pushed, mut overflowed) = (0u64, 0u64);
    while Instant::now() < until {
        ticks.tick().await;
        let due = (started.elapsed().as_secs_f64() * per_s) as u64;
        let mut bank = bank.lock().unwrap_or_else(PoisonError::into_inner);
        while pushed + overflowed < due {
            let serial = first_serial + pushed + overflowed;
            let hex = depot_server::epc::encode(&traffic::tag_uri(GTIN, serial)).expect("tag");
            let pass = Pass {
                gate: 0,
                direction: Direction::In,
                antenna: 1,
                rssi_dbm: -50,
                epc: sim::words(&hex).expect("words"),
            };
            bank.weigh(500);
            match bank.push(&pass) {
                Some(_) => pushed += 1,
                None => overflowed += 1,
            }
        }
    }
    (pushed, overflowed)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let gateways_n = env_number("BENCH_GATEWAYS", 4) as usize;
    let rate = env_number("BENCH_EVENTS_PER_S", 2_500) as f64;
    let seconds = env_number("BENCH_SECONDS", 20);
    let clients = env_number("BENCH_CLIENTS", 8);
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("ingest.db");

    let mut gateways = Vec::new();
    for _ in 0..gateways_n {
        gateways.push(start_gateway().await);
    }
    let mut config = String::new();
    for (i, gateway) in gateways.iter().enumerate() {
        config.push_str(&format!(
            "[[gateways]]\nid = \"g{i}\"\ntransport = \"tcp:{}\"\npoll_interval_ms = 10\ndocks = [\"D-{i}\"]\n\n",
            gateway.address
        ));
    }
    let config_path = dir.path().join("depot.toml");
    std::fs::File::create(&config_path)
        .and_then(|mut f| f.write_all(config.as_bytes()))
        .expect("config");

    let staff = cli(&db, &["user", "add", "staff", "--role", "staff"]);
    let manager = cli(
        &db,
        &[
            "user",
            "add",
            "manager",
            "--role",
            "manager",
            "--restricted",
        ],
    );
    // The server's first start maps the gateways' docks; they must exist
    // before it, so the master data goes in through a first, short start.
    let client = reqwest::Client::new();
    let seed = |base: String| {
        let (client, manager) = (client.clone(), manager.clone());
        async move {
            let mut bodies = vec![
                (
                    "/api/v1/articles",
                    json!({"sku":"TAGGED-1","name":"Tagged","unit":"piece","gtin":GTIN,"unit_weight_g":500}),
                ),
                (
                    "/api/v1/articles",
                    json!({"sku":"BENCH-1","name":"Bench","unit":"piece"}),
                ),
                (
                    "/api/v1/locations",
                    json!({"code":"B-1","zone":"B","kind":"bin"}),
                ),
            ];
            for i in 0..gateways_n {
                bodies.push((
                    "/api/v1/locations",
                    json!({"code":format!("D-{i}"),"zone":"D","kind":"dock"}),
                ));
            }
            for (path, body) in bodies {
                let r = client
                    .post(format!("{base}{path}"))
                    .bearer_auth(&manager)
                    .json(&body)
                    .send()
                    .await
                    .expect("seed");
                assert_eq!(
                    r.status(),
                    201,
                    "seeding {path}: {}",
                    r.text().await.unwrap_or_default()
                );
            }
        }
    };
    {
        let (mut child, base) = spawn_server(&db, None);
        seed(base).await;
        let _ = child.kill();
        let _ = child.wait();
    }

    let (mut child, base) = spawn_server(&db, Some(&config_path));
    let pid = child.id();
    let until = Instant::now() + Duration::from_secs(seconds);
    let per_gateway = rate / gateways_n as f64;
    let feeders: Vec<_> = gateways
        .iter()
        .enumerate()
        .map(|(i, g)| {
            tokio::spawn(feed(
                g.bank.clone(),
                1 + i as u64 * 10_000_000,
                per_gateway,
                until,
            ))
        })
        .collect();
    let wrk = {
        let (staff, base) = (staff.clone(), base.clone());
        tokio::task::spawn_blocking(move || {
            let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/wrk/bookings.lua");
            let out = Command::new("wrk")
                .args(["-t1", &format!("-c{clients}"), &format!("-d{seconds}s")])
                .args(["--timeout", "10s", "-s", script, &base])
                .env("BENCH_TOKEN", &staff)
                .env("BENCH_RUN", format!("{}", std::process::id()))
                .output()
                .expect("run wrk (apt install wrk, or scripts/install-deps.sh)");
            String::from_utf8_lossy(&out.stdout).into_owned()
        })
    };
    let mut peak_rss = 0;
    while Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(200)).await;
        peak_rss = peak_rss.max(proc_status_kib(pid, "VmRSS:").unwrap_or(0));
    }
    let (mut pushed, mut overflowed) = (0, 0);
    for feeder in feeders {
        let (p, o) = feeder.await.expect("feeder");
        pushed += p;
        overflowed += o;
    }
    let wrk_out = wrk.await.expect("wrk");
    // Let the server drain what the last ticks pushed.
    let drain_deadline = Instant::now() + Duration::from_secs(30);
    while gateways.iter().any(|g| {
        g.bank
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .waiting()
            > 0
    }) && Instant::now() < drain_deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let drained = started_to_drained(&gateways);
    peak_rss = peak_rss.max(proc_status_kib(pid, "VmHWM:").unwrap_or(0));
    let _ = child.kill();
    let _ = child.wait();

    let mut latencies = Vec::new();
    let mut acked = 0u64;
    for gateway in &gateways {
        let timings = gateway
            .timings
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        latencies.extend(timings.latencies.iter().copied());
        acked += u64::from(timings.acked);
    }
    latencies.sort();
    let (passes, gate_rows, handheld_rows) = count_rows(&db).await;
    let created = wrk_value(&wrk_out, "created") as u64;

    println!(
        "== gate ingest: {gateways_n} gateways over Modbus TCP, {rate:.0} events/s offered, {seconds} s, \
         with {clients} wrk connections of handheld bookings =="
    );
    println!(
        "events pushed {pushed}, overflowed {overflowed}, acknowledged {acked} ({:.0}/s over the run), all drained: {drained}",
        acked as f64 / seconds as f64
    );
    println!(
        "drain read → acknowledgement: p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms ({} events)",
        percentile(&latencies, 0.50).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        percentile(&latencies, 1.0).as_secs_f64() * 1e3,
        latencies.len()
    );
    println!(
        "database: {passes} gate passes, {gate_rows} gate ledger rows, {handheld_rows} handheld ledger rows \
         (more than answered 201 by the requests in flight when wrk stopped)"
    );
    println!(
        "handheld bookings at the same time: {created} answered 201 ({:.0}/s), other answers {}, \
         p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
        created as f64 / seconds as f64,
        wrk_value(&wrk_out, "other"),
        wrk_value(&wrk_out, "p50_us") / 1e3,
        wrk_value(&wrk_out, "p99_us") / 1e3,
        wrk_value(&wrk_out, "max_us") / 1e3
    );
    println!("server peak RSS during the run: {peak_rss} KiB");
    assert_eq!(
        overflowed, 0,
        "a ring overflowed: the server did not keep up"
    );
    assert_eq!(acked, pushed, "every pushed event acknowledged");
    assert_eq!(passes as u64, pushed, "one pass record per event");
    assert_eq!(gate_rows as u64, pushed, "one receipt per event");
    // wrk stops with up to one request per connection in flight: booked, not counted.
    let handheld = handheld_rows as u64;
    assert!(
        handheld >= created && handheld <= created + clients,
        "one ledger row per 201 ({handheld} rows, {created} answered 201)"
    );
}

fn started_to_drained(gateways: &[Gateway]) -> bool {
    gateways.iter().all(|g| {
        g.bank
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .waiting()
            == 0
    })
}

fn spawn_server(db: &Path, config: Option<&Path>) -> (std::process::Child, String) {
    let mut command = Command::new(server());
    if let Some(config) = config {
        command.arg("--config").arg(config);
    }
    let mut child = command
        .args(["run", "--listen", "127.0.0.1:0", "--db"])
        .arg(db)
        .env("DEPOT_LOG", "warn,depot_server::app=info")
        .envs(common::UNLIMITED)
        .env("DEPOT_GATEWAY", "off")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the server");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let address = loop {
        let line = lines.next().expect("server exited").expect("stderr");
        if let Some((_, rest)) = line.split_once("listening on http://") {
            break rest.trim().to_owned();
        }
    };
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            if line.contains("WARN") || line.contains("ERROR") {
                eprintln!("server: {line}");
            }
        }
    });
    (child, format!("http://{address}"))
}

async fn count_rows(db: &Path) -> (i64, i64, i64) {
    let pool = depot_server::store::open_pool(db, &Default::default())
        .await
        .expect("open the benchmarked database");
    let count = |sql: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&pool)
                .await
                .expect(sql)
        }
    };
    (
        count("SELECT COUNT(*) FROM gate_passes").await,
        count("SELECT COUNT(*) FROM movements WHERE source = 'gate'").await,
        count("SELECT COUNT(*) FROM movements WHERE source = 'handheld'").await,
    )
}
