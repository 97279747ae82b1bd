//! Booking benchmark (not a test): run with
//! `cargo bench -p depot-server --bench bookings`.
//!
//! 1. Cold start: spawn the release binary, time until `/healthz` answers 200.
//! 2. Handheld bookings: `BENCH_CLIENTS` (default 32) concurrent HTTP clients
//!    book one receive each, with an Idempotency-Key, for `BENCH_SECONDS`
//!    (default 20); each answer is durable (WAL, synchronous=FULL, group
//!    commit). Reports bookings/s and latency percentiles, then the server's
//!    RSS (VmRSS, VmHWM).
//! 3. The disk's fsync cost (4 KiB write + fdatasync) in the database directory.
//! 4. Bulk ledger append through `store::ledger::append_all`, 10,000 movements
//!    per transaction (the stock levels follow by trigger).
//! 5. The binary's size.
//!
//! Client and server share the machine's cores; the figures are for both together.
//!
//! `BENCH_SERVER=/path/to/depot-server` benchmarks another build of the
//! server (e.g. the previous commit's release binary) with the same load, so
//! two versions can be compared in one sitting on one machine.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use depot_server::domain::article::Sku;
use depot_server::domain::booking::{MovementKind, Source};
use depot_server::domain::ledger::Movement;
use depot_server::domain::location::LocationCode;
use depot_server::domain::quantity::Lot;
use serde_json::json;

mod common;
use common::{cli, env_number, percentile, proc_status_kib, server};

fn fsync_cost(dir: &Path) -> Duration {
    let path = dir.join("fsync-probe");
    let mut file = std::fs::File::create(&path).expect("probe file");
    let block = [0u8; 4096];
    let rounds = 200;
    let started = Instant::now();
    for _ in 0..rounds {
        file.write_all(&block).expect("write");
        file.sync_data().expect("fdatasync");
    }
    let cost = started.elapsed() / rounds;
    let _ = std::fs::remove_file(path);
    cost
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let seconds = env_number("BENCH_SECONDS", 20);
    let clients = env_number("BENCH_CLIENTS", 32) as usize;
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("bench.db");
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

    let started = Instant::now();
    let mut child = Command::new(server())
        .args(["run", "--listen", "127.0.0.1:0", "--db"])
        .arg(&db)
        .env("DEPOT_LOG", "warn,depot_server::app=info")
        .envs(common::UNLIMITED)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let address = loop {
        let line = lines.next().expect("server exited").expect("stderr");
        if let Some((_, rest)) = line.split_once("listening on http://") {
            break rest.trim().to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let client = reqwest::Client::new();
    let base = format!("http://{address}");
    loop {
        if let Ok(r) = client.get(format!("{base}/healthz")).send().await {
            if r.status() == 200 {
                break;
            }
        }
    }
    let cold_start = started.elapsed();

    for (path, body) in [
        (
            "/api/v1/articles",
            json!({"sku":"BENCH-1","name":"Bench","unit":"piece"}),
        ),
        (
            "/api/v1/locations",
            json!({"code":"B-1","zone":"B","kind":"bin"}),
        ),
    ] {
        let r = client
            .post(format!("{base}{path}"))
            .bearer_auth(&manager)
            .json(&body)
            .send()
            .await
            .expect("seed");
        assert_eq!(r.status(), 201);
    }

    let deadline = Instant::now() + Duration::from_secs(seconds);
    let staff = Arc::new(staff);
    let mut tasks = Vec::new();
    for worker in 0..clients {
        let (client, base, staff) = (client.clone(), base.clone(), staff.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut n = 0u64;
            while Instant::now() < deadline {
                let sent = Instant::now();
                let response = client
                    .post(format!("{base}/api/v1/movements"))
                    .bearer_auth(staff.as_str())
                    .header("Idempotency-Key", format!("w{worker}-{n}"))
                    .json(&json!({"kind":"receive","sku":"BENCH-1","quantity":1,"to":"B-1"}))
                    .send()
                    .await
                    .expect("booking");
                assert_eq!(response.status(), 201);
                response.bytes().await.expect("body");
                latencies.push(sent.elapsed());
                n += 1;
            }
            latencies
        }));
    }
    let load_started = Instant::now();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("client"));
    }
    let elapsed = load_started.elapsed();
    latencies.sort();
    let pid = child.id();
    let rss = proc_status_kib(pid, "VmRSS:");
    let hwm = proc_status_kib(pid, "VmHWM:");
    let _ = child.kill();
    let _ = child.wait();

    println!("== handheld bookings over HTTP ({clients} clients, {seconds} s) ==");
    println!(
        "bookings: {}  rate: {:.0}/s",
        latencies.len(),
        latencies.len() as f64 / elapsed.as_secs_f64()
    );
    println!(
        "latency p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
        percentile(&latencies, 0.50).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        percentile(&latencies, 1.0).as_secs_f64() * 1e3
    );
    println!(
        "server RSS after the run: {} KiB (peak {} KiB)",
        rss.unwrap_or(0),
        hwm.unwrap_or(0)
    );
    println!(
        "cold start to /healthz 200: {:.0} ms",
        cold_start.as_secs_f64() * 1e3
    );
    println!(
        "fsync (4 KiB write + fdatasync) in {}: {:.2} ms",
        dir.path().display(),
        fsync_cost(dir.path()).as_secs_f64() * 1e3
    );

    let bulk = bulk_append(dir.path()).await;
    println!("== bulk ledger append ==\n{bulk}");
    let binary = server();
    let size = std::fs::metadata(&binary).map(|m| m.len()).unwrap_or(0);
    println!("== binary ==\n{binary}: {:.1} MiB", size as f64 / 1048576.0);
}

/// Appends movements through `store::ledger::append_all` in transactions of 10,000.
async fn bulk_append(dir: &Path) -> String {
    let db = dir.join("bulk.db");
    let pool = depot_server::store::open_pool(&db, &Default::default())
        .await
        .expect("open");
    let mut conn = pool.acquire().await.expect("conn");
    sqlx::query("INSERT INTO articles (sku, name, unit, classification, created_at, updated_at) VALUES ('BULK-1', 'Bulk', 'piece', 'open', '', '')")
        .execute(&mut *conn)
        .await
        .expect("article");
    sqlx::query("INSERT INTO locations (code, zone, kind, created_at, updated_at) VALUES ('B-1', 'B', 'bin', '', '')")
        .execute(&mut *conn)
        .await
        .expect("location");
    let total = 100_000;
    let per_tx = 10_000;
    let movements: Vec<Movement> = (1..=total)
        .map(|seq| Movement {
            seq,
            kind: MovementKind::Receive,
            sku: Sku::parse("BULK-1").expect("sku"),
            quantity: 1,
            from: None,
            to: Some(LocationCode::parse("B-1").expect("code")),
            lot: Lot::none(),
            epcs: Vec::new(),
            actor: "bench".into(),
            source: Source::Import,
            idempotency_key: None,
            reason: None,
            recorded_at: time::OffsetDateTime::now_utc(),
        })
        .collect();
    let started = Instant::now();
    for chunk in movements.chunks(per_tx) {
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut *conn)
            .await
            .expect("begin");
        depot_server::store::ledger::append_all(&mut conn, chunk)
            .await
            .expect("append");
        sqlx::query("COMMIT")
            .execute(&mut *conn)
            .await
            .expect("commit");
    }
    let elapsed = started.elapsed();
    format!(
        "{total} movements (stock updated by trigger) via append_all, 10,000 per transaction, in {:.2} s: {:.0} rows/s",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64()
    )
}
