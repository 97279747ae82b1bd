//! Writer benchmark (not a test): run with
//! `cargo bench -p depot-server --bench writer` (needs `wrk`, which
//! `scripts/install-deps.sh` installs).
//!
//! It measures the booking writer two ways in one run, so that the cost of
//! the server around the SQL can be told from the SQL itself:
//!
//! 1. **HTTP**: the release server on a fresh database, loaded by `wrk` with
//!    `BENCH_CLIENTS` connections (default 32) for `BENCH_SECONDS` (default
//!    20). Every request is a new `receive` of one unit with an
//!    Idempotency-Key used once (`benches/wrk/bookings.lua`), so every
//!    request is a booking, never a replay. Reports the bookings/s that were
//!    answered 201 and the rows the ledger holds afterwards (they must
//!    agree), the latency percentiles, the group commits and their mean size
//!    (from the server's `/metrics`), and the server's RSS.
//! 2. **In-process replay**: the statements the writer runs for such a
//!    booking (savepoint, idempotency lookup, article, location, stock level,
//!    location usage, the movement's INSERT with its trigger, the idempotency
//!    record, release), and per transaction the seal of the new movements
//!    into the hash chain (read back, SHA-256, one UPDATE), executed on one
//!    thread through rusqlite with cached statements, in transactions of
//!    the mean commit size measured in 1, on
//!    a database made by the server's own migrations, with the server's
//!    settings (WAL, `synchronous=FULL`, foreign keys). No HTTP, no task
//!    hand-offs: what SQLite and the disk cost.
//!
//! The ratio of 1 to 2 is the share of the SQL-only rate the server keeps.
//! Beside it, the writer's own rate: the bookings it committed per second it
//! was busy (`depot_writer_busy_seconds_total`), which says whether the
//! writer or what feeds it (HTTP, the load generator on the same cores) is
//! the limit.
//! `BENCH_SERVER=/path/to/depot-server` measures another build.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use depot_server::domain::chain::{link, ChainHead, StoredLine};
use serde_json::json;

mod common;
use common::{cli, env_number, metric, proc_status_kib, server, wrk_value};

/// What the HTTP half measured.
struct HttpRun {
    created: u64,
    other: u64,
    seconds: f64,
    ledger_rows: i64,
    commits: f64,
    mean_batch: f64,
    /// Bookings committed and the writer's busy seconds, from `/metrics`.
    committed: f64,
    writer_busy_s: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    rss_kib: u64,
    peak_kib: u64,
}

async fn http_run(dir: &Path, clients: u64, seconds: u64) -> HttpRun {
    let db = dir.join("http.db");
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
    let mut child = Command::new(server())
        .args(["run", "--listen", "127.0.0.1:0", "--db"])
        .arg(&db)
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
    std::thread::spawn(move || for _ in lines {});
    let base = format!("http://{address}");
    let client = reqwest::Client::new();
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
        assert_eq!(r.status(), 201, "seeding {path}");
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/wrk/bookings.lua");
    let started = Instant::now();
    let out = Command::new("wrk")
        .args(["-t2", &format!("-c{clients}"), &format!("-d{seconds}s")])
        .args(["--timeout", "10s", "-s", script, &base])
        .env("BENCH_TOKEN", &staff)
        .env("BENCH_RUN", format!("{}", std::process::id()))
        .output()
        .expect("run wrk (apt install wrk, or scripts/install-deps.sh)");
    let seconds = started.elapsed().as_secs_f64();
    let out = String::from_utf8_lossy(&out.stdout).into_owned();
    let metrics = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics body");
    let rss_kib = proc_status_kib(child.id(), "VmRSS:").unwrap_or(0);
    let peak_kib = proc_status_kib(child.id(), "VmHWM:").unwrap_or(0);
    let _ = child.kill();
    let _ = child.wait();
    let ledger_rows = count_movements(&db).await;
    let commits = metric(&metrics, "depot_booking_batch_size_count");
    HttpRun {
        created: wrk_value(&out, "created") as u64,
        other: wrk_value(&out, "other") as u64,
        seconds,
        ledger_rows,
        commits,
        mean_batch: metric(&metrics, "depot_booking_batch_size_sum") / commits,
        committed: metric(&metrics, "depot_bookings_committed_total"),
        writer_busy_s: metric(&metrics, "depot_writer_busy_seconds_total"),
        p50_ms: wrk_value(&out, "p50_us") / 1e3,
        p99_ms: wrk_value(&out, "p99_us") / 1e3,
        max_ms: wrk_value(&out, "max_us") / 1e3,
        rss_kib,
        peak_kib,
    }
}

async fn count_movements(db: &Path) -> i64 {
    let pool = depot_server::store::open_pool(db, &Default::default())
        .await
        .expect("open the benchmarked database");
    sqlx::query_scalar("SELECT COUNT(*) FROM movements")
        .fetch_one(&pool)
        .await
        .expect("count movements")
}

/// Replays `total` receive bookings, `batch` per transaction; bookings/s.
async fn replay(dir: &Path, total: u64, batch: u64) -> f64 {
    let db = dir.join("replay.db");
    // The schema by the server's own migrations, and the same master data.
    let pool = depot_server::store::open_pool(&db, &Default::default())
        .await
        .expect("migrate");
    sqlx::query("INSERT INTO articles (sku, name, unit, classification, created_at, updated_at) VALUES ('BENCH-1', 'Bench', 'piece', 'open', '', '')")
        .execute(&pool)
        .await
        .expect("article");
    sqlx::query("INSERT INTO locations (code, zone, kind, created_at, updated_at) VALUES ('B-1', 'B', 'bin', '', '')")
        .execute(&pool)
        .await
        .expect("location");
    pool.close().await;

    let conn = rusqlite::Connection::open(&db).expect("open");
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;",
    )
    .expect("pragmas");
    let started = Instant::now();
    let mut n = 0;
    let mut head = ChainHead::EMPTY;
    while n < total {
        conn.execute_batch("BEGIN IMMEDIATE").expect("begin");
        for _ in 0..batch.min(total - n) {
            n += 1;
            book_one(&conn, n).expect("replayed booking");
        }
        head = seal(&conn, head).expect("seal");
        conn.execute_batch("COMMIT").expect("commit");
    }
    let rate = total as f64 / started.elapsed().as_secs_f64();
    let rows: i64 = conn
        .query_row("SELECT COUNT(*) FROM movements", [], |row| row.get(0))
        .expect("count");
    assert_eq!(
        rows as u64, total,
        "the replay wrote one movement per booking"
    );
    rate
}

/// The writer's statements for one `receive` booking of one unit
/// (`depot/booking.rs`: `book` → `apply` → `decide_and_append`), in its order.
fn book_one(conn: &rusqlite::Connection, n: u64) -> rusqlite::Result<()> {
    let key = format!("replay-{n}");
    let now = "2026-12-02T08:00:00.000000Z";
    conn.prepare_cached("SAVEPOINT command")?.execute([])?;
    let seen = conn
        .prepare_cached(
            "SELECT request_hash, outcome FROM idempotency_records WHERE actor = ? AND key = ?",
        )?
        .query_row(("staff", &key), |_| Ok(()));
    assert!(matches!(seen, Err(rusqlite::Error::QueryReturnedNoRows)));
    conn.prepare_cached(
        "SELECT sku, name, unit, gtin, nsn, supply_class, classification, unit_weight_g, unit_volume_ml,
                lot_tracked, expiry_tracked FROM articles WHERE sku = ?",
    )?
    .query_row(["BENCH-1"], |_| Ok(()))?;
    conn.prepare_cached(
        "SELECT code, zone, kind, capacity_volume_l, capacity_weight_kg, capacity_pallets
         FROM locations WHERE code = ?",
    )?
    .query_row(["B-1"], |_| Ok(()))?;
    let _level: Option<i64> = conn
        .prepare_cached(
            "SELECT quantity FROM stock_levels WHERE sku = ? AND location = ? AND lot = ?",
        )?
        .query_row(("BENCH-1", "B-1", ""), |row| row.get(0))
        .ok();
    conn.prepare_cached(
        "SELECT TOTAL(CAST(s.quantity AS REAL) * COALESCE(a.unit_volume_ml, 0)),
                TOTAL(CAST(s.quantity AS REAL) * COALESCE(a.unit_weight_g, 0)),
                TOTAL(CASE WHEN a.unit = 'pallet' THEN s.quantity ELSE 0 END)
         FROM stock_levels s JOIN articles a ON a.sku = s.sku WHERE s.location = ?",
    )?
    .query_row(["B-1"], |_| Ok(()))?;
    let seq: i64 = conn
        .prepare_cached(
            "INSERT INTO movements (seq, kind, sku, quantity, from_location, to_location, lot, epcs, actor, source, idempotency_key, reason, recorded_at)
             VALUES ((SELECT COALESCE(MAX(seq), 0) + 1 FROM movements), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
             RETURNING seq",
        )?
        .query_row(
            rusqlite::params![
                "receive", "BENCH-1", 1, None::<&str>, "B-1", "", "[]", "staff", "handheld",
                &key, None::<&str>, now
            ],
            |row| row.get(0),
        )?;
    let outcome = format!(r#"{{"v":1,"booked":[{seq}]}}"#);
    conn.prepare_cached(
        "INSERT INTO idempotency_records (actor, key, request_hash, outcome, created_at) VALUES (?, ?, ?, ?, ?)",
    )?
    .execute((
        "staff",
        &key,
        "0f3c5e8a2b7d4f6e9a1c3b5d7e9f1a2c4b6d8e0f2a4c6e8b0d2f4a6c8e0b2d4f",
        &outcome,
        now,
    ))?;
    conn.prepare_cached("RELEASE command")?.execute([])?;
    Ok(())
}

/// The writer's seal before each COMMIT (`store::chain::seal`): the
/// batch's new movements read back, linked into the hash chain, their
/// hashes written in one UPDATE.
fn seal(conn: &rusqlite::Connection, head: ChainHead) -> rusqlite::Result<ChainHead> {
    let mut select = conn.prepare_cached(
        "SELECT seq, kind, sku, quantity, from_location, to_location, lot, epcs, actor, source,
                idempotency_key, reason, recorded_at
         FROM movements WHERE seq > ? ORDER BY seq LIMIT ?",
    )?;
    let mut rows = select.query((head.seq, -1))?;
    let mut next = head;
    let mut sealed = Vec::new();
    while let Some(row) = rows.next()? {
        let text = |i: usize| row.get::<_, String>(i);
        let optional = |i: usize| row.get::<_, Option<String>>(i);
        let (kind, sku, lot, epcs, actor, source, at) = (
            text(1)?,
            text(2)?,
            text(6)?,
            text(7)?,
            text(8)?,
            text(9)?,
            text(12)?,
        );
        let (from, to, key, reason) = (optional(4)?, optional(5)?, optional(10)?, optional(11)?);
        let line = StoredLine {
            seq: row.get(0)?,
            kind: &kind,
            sku: &sku,
            quantity: row.get(3)?,
            from: from.as_deref(),
            to: to.as_deref(),
            lot: &lot,
            epcs: &epcs,
            actor: &actor,
            source: &source,
            idempotency_key: key.as_deref(),
            reason: reason.as_deref(),
            recorded_at: &at,
        };
        next = ChainHead {
            seq: line.seq,
            hash: link(&next.hash, &line),
        };
        sealed.push((next.seq, next.hash.to_hex()));
    }
    if !sealed.is_empty() {
        let values = vec!["(?, ?)"; sealed.len()].join(", ");
        let sql = format!(
            "WITH sealed (seq, hash) AS (VALUES {values})
             UPDATE movements SET hash = sealed.hash FROM sealed WHERE movements.seq = sealed.seq"
        );
        let params: Vec<&dyn rusqlite::ToSql> = sealed
            .iter()
            .flat_map(|(seq, hash)| [seq as &dyn rusqlite::ToSql, hash as &dyn rusqlite::ToSql])
            .collect();
        conn.prepare_cached(&sql)?.execute(params.as_slice())?;
    }
    Ok(next)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let seconds = env_number("BENCH_SECONDS", 20);
    let clients = env_number("BENCH_CLIENTS", 32);
    let dir = tempfile::tempdir().expect("temp dir");

    let http = http_run(dir.path(), clients, seconds).await;
    let http_rate = http.created as f64 / http.seconds;
    println!("== HTTP: wrk, {clients} connections, {seconds} s, a new booking per request ==");
    println!(
        "answered 201: {} ({:.0}/s), other answers: {}, ledger rows afterwards: {} \
         (the difference: requests in flight when wrk stopped)",
        http.created, http_rate, http.other, http.ledger_rows
    );
    println!(
        "latency p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
        http.p50_ms, http.p99_ms, http.max_ms
    );
    println!(
        "group commits: {:.0} ({:.0}/s), mean commit size {:.1} bookings",
        http.commits,
        http.commits / http.seconds,
        http.mean_batch
    );
    let writer_capacity = http.committed / http.writer_busy_s;
    println!(
        "writer busy {:.1} s of {:.1} s ({:.0} %): {:.0} bookings per busy second",
        http.writer_busy_s,
        http.seconds,
        100.0 * http.writer_busy_s / http.seconds,
        writer_capacity
    );
    println!(
        "server RSS after the run: {} KiB (peak {} KiB)",
        http.rss_kib, http.peak_kib
    );
    assert_eq!(http.other, 0, "every request must be booked");
    // wrk stops with up to one request per connection in flight: those are
    // booked, but their answers are not counted.
    let rows = http.ledger_rows as u64;
    assert!(
        rows >= http.created && rows <= http.created + clients,
        "every 201 is one ledger row ({rows} rows, {} answered 201)",
        http.created
    );

    let batch = http.mean_batch.round().max(1.0) as u64;
    let total = (http.created).clamp(10_000, 200_000);
    let replay_rate = replay(dir.path(), total, batch).await;
    println!("== in-process replay of the writer's statements (rusqlite, one thread) ==");
    println!("{total} bookings in transactions of {batch}: {replay_rate:.0}/s");
    println!("== server / replay: {:.2} ==", http_rate / replay_rate);
    println!(
        "== the writer's own rate (bookings per busy second) / replay: {:.2} ==",
        writer_capacity / replay_rate
    );
}
