//! The real binary stopped hard (`kill -9`) or asked to stop (SIGTERM) while
//! bookings are in flight: every acknowledged booking survives exactly once,
//! and the database is intact.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::Rng;
use serde_json::{json, Value};
use tokio::task::JoinHandle;

/// Starts the real binary and returns it with the address it listens on.
pub(crate) fn start_server(db: &Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_depot-server"))
        .args(["run", "--listen", "127.0.0.1:0", "--db"])
        .arg(db)
        .env("DEPOT_LOG", "info")
        // Its bookers hammer the API with one token on purpose: a 429 would
        // stop them and leave nothing in flight for the kill.
        .env("DEPOT_API_TOKEN_RATE_PER_S", "0")
        .env("DEPOT_API_ADDRESS_RATE_PER_S", "0")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn depot-server");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let deadline = Instant::now() + Duration::from_secs(30);
    let address = loop {
        assert!(Instant::now() < deadline, "server did not start");
        let line = lines
            .next()
            .expect("server exited before listening")
            .expect("read stderr");
        if let Some((_, rest)) = line.split_once("listening on http://") {
            break rest.trim().to_owned();
        }
    };
    // Keep draining stderr so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, address)
}

fn cli(db: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_depot-server"))
        .arg("--db")
        .arg(db)
        .args(args)
        .output()
        .expect("cli");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A server on a fresh database with article ART-1 and bin B-1; returns it,
/// its base URL and a staff token.
pub(crate) async fn start_seeded_server(db: &Path) -> (Child, String, String) {
    let staff = cli(db, &["user", "add", "staff", "--role", "staff"]);
    let manager = cli(
        db,
        &[
            "user",
            "add",
            "manager",
            "--role",
            "manager",
            "--restricted",
        ],
    );
    let (child, address) = start_server(db);
    let base = format!("http://{address}");
    let client = reqwest::Client::new();
    for (path, body) in [
        (
            "/api/v1/articles",
            json!({"sku":"ART-1","name":"A","unit":"piece"}),
        ),
        (
            "/api/v1/locations",
            json!({"code":"B-1","zone":"B","kind":"bin"}),
        ),
    ] {
        let response = client
            .post(format!("{base}{path}"))
            .bearer_auth(&manager)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
    }
    (child, base, staff)
}

/// What the booking clients saw acknowledged: (Idempotency-Key, seq).
pub(crate) type Acknowledged = Arc<Mutex<Vec<(String, i64)>>>;

/// `workers` handhelds booking one receive after another until the server
/// stops answering; returns their tasks and what was acknowledged.
pub(crate) fn start_bookers(
    base: &str,
    staff: &str,
    workers: usize,
) -> (Vec<JoinHandle<()>>, Acknowledged) {
    let acknowledged = Acknowledged::default();
    let client = reqwest::Client::new();
    let tasks = (0..workers)
        .map(|worker| {
            let (client, base, staff, acknowledged) = (
                client.clone(),
                base.to_owned(),
                staff.to_owned(),
                acknowledged.clone(),
            );
            tokio::spawn(async move {
                for n in 0.. {
                    let key = format!("w{worker}-{n}");
                    let sent = client
                        .post(format!("{base}/api/v1/movements"))
                        .bearer_auth(&staff)
                        .header("Idempotency-Key", &key)
                        .json(&receive_one())
                        .send()
                        .await;
                    let Ok(response) = sent else { break };
                    if response.status() != 201 {
                        break;
                    }
                    let Ok(body) = response.json::<Value>().await else {
                        break;
                    };
                    let seq = body["movements"][0]["seq"].as_i64().expect("seq");
                    acknowledged.lock().unwrap().push((key, seq));
                }
            })
        })
        .collect();
    (tasks, acknowledged)
}

fn receive_one() -> Value {
    json!({"kind":"receive","sku":"ART-1","quantity":1,"to":"B-1"})
}

/// Polls (with a deadline) until at least `count` bookings were acknowledged.
pub(crate) async fn wait_for_bookings(acknowledged: &Acknowledged, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while acknowledged.lock().unwrap().len() < count {
        assert!(Instant::now() < deadline, "no bookings acknowledged");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Each acknowledged booking is in the ledger exactly once, with its seq;
/// the database is intact and its stock equals the ledger.
async fn assert_acknowledged_present_once(db: &Path, acknowledged: &[(String, i64)]) {
    let pool = depot_server::store::open_pool(db, &Default::default())
        .await
        .unwrap();
    let integrity: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(integrity, "ok");
    for (key, seq) in acknowledged {
        let rows: Vec<i64> = sqlx::query_scalar(
            "SELECT seq FROM movements WHERE idempotency_key = ? AND actor = 'staff'",
        )
        .bind(key)
        .fetch_all(&pool)
        .await
        .unwrap();
        assert_eq!(
            rows,
            vec![*seq],
            "acknowledged booking {key} must be present exactly once"
        );
    }
    let mut conn = pool.acquire().await.unwrap();
    assert!(depot_server::store::ledger::ledger_mismatches(&mut conn)
        .await
        .unwrap()
        .is_empty());
    drop(conn);
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_loses_no_acknowledged_booking_and_applies_none_twice() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crash.db");
    let (mut child, base, staff) = start_seeded_server(&db).await;
    let (clients, acknowledged) = start_bookers(&base, &staff, 8);
    // Wait until bookings flow, then a random moment more, then kill -9.
    wait_for_bookings(&acknowledged, 20).await;
    let wait_ms = rand::thread_rng().gen_range(300..1200);
    tokio::time::sleep(Duration::from_millis(wait_ms)).await;
    child.kill().expect("kill -9");
    child.wait().expect("reap");
    for task in clients {
        task.await.unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert_acknowledged_present_once(&db, &acknowledged).await;
    // Every committed movement was sealed into the hash chain in its own
    // transaction: the chain holds after the kill.
    let verified = Command::new(env!("CARGO_BIN_EXE_depot-server"))
        .arg("--db")
        .arg(&db)
        .arg("verify")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&verified.stdout);
    assert!(verified.status.success(), "{said}");
    assert!(said.starts_with("ledger verified: "), "{said}");

    // After the restart a retry of an acknowledged booking books nothing.
    let (mut child, address) = start_server(&db);
    let (key, seq) = &acknowledged[acknowledged.len() / 2];
    let retry = reqwest::Client::new()
        .post(format!("http://{address}/api/v1/movements"))
        .bearer_auth(&staff)
        .header("Idempotency-Key", key)
        .json(&receive_one())
        .send()
        .await
        .unwrap();
    assert_eq!(retry.status(), 201);
    assert_eq!(retry.headers().get("idempotency-replayed").unwrap(), "true");
    let body: Value = retry.json().await.unwrap();
    assert_eq!(body["movements"][0]["seq"].as_i64(), Some(*seq));
    child.kill().expect("kill");
    child.wait().expect("reap");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_in_flight_bookings_and_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("term.db");
    let (mut child, base, staff) = start_seeded_server(&db).await;
    let (clients, acknowledged) = start_bookers(&base, &staff, 4);
    wait_for_bookings(&acknowledged, 20).await;
    let term = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(term.success());
    let status = child.wait().expect("wait");
    assert!(
        status.success(),
        "a SIGTERM shutdown exits with status 0, got {status}"
    );
    for task in clients {
        task.await.unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert_acknowledged_present_once(&db, &acknowledged).await;
}
