//! A box whose clock is wrong (no battery-backed clock, booted offline):
//! the real binary under libfaketime (Debian's `faketime` package), first
//! at 1970, then behind the times it already wrote (after a day ahead). `/healthz` says
//! so; bookings keep their seq order, a retry is still a replay, the hash
//! chain still verifies.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::crash::start_seeded_server;

/// libfaketime from Debian's `faketime` package (the `faketime` wrapper
/// forks, so the library is preloaded directly: the child is the server).
pub(crate) fn libfaketime() -> std::path::PathBuf {
    std::fs::read_dir("/usr/lib")
        .unwrap()
        .filter_map(|entry| {
            let lib = entry.ok()?.path().join("faketime/libfaketimeMT.so.1");
            lib.exists().then_some(lib)
        })
        .next()
        .expect("libfaketime (apt package faketime, see scripts/install-deps.sh)")
}

/// The binary with its wall clock set by libfaketime's `FAKETIME` (`@DATE`
/// starts there and runs on; `+1d` is a day ahead, `+0` the real time).
fn start_faked(db: &Path, faketime: &str) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_depot-server"))
        .args(["run", "--listen", "127.0.0.1:0", "--db"])
        .arg(db)
        .env("LD_PRELOAD", libfaketime())
        .env("FAKETIME", faketime)
        // Timers and timeouts keep real time; only the wall clock is wrong.
        .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut said = Vec::new();
    let address = loop {
        assert!(Instant::now() < deadline, "server did not start: {said:?}");
        let Some(line) = lines.next() else {
            panic!("server exited: {said:?}");
        };
        let line = line.unwrap();
        if let Some((_, rest)) = line.split_once("listening on http://") {
            break rest.trim().to_owned();
        }
        said.push(line);
    };
    std::thread::spawn(move || for _ in lines {});
    (child, format!("http://{address}"))
}

async fn book(base: &str, staff: &str, key: &str) -> (u16, Value, bool) {
    let response = reqwest::Client::new()
        .post(format!("{base}/api/v1/movements"))
        .bearer_auth(staff)
        .header("Idempotency-Key", key)
        .json(&json!({"kind":"receive","sku":"ART-1","quantity":1,"to":"B-1"}))
        .send()
        .await
        .unwrap();
    let replayed = response.headers().get("idempotency-replayed").is_some();
    (
        response.status().as_u16(),
        response.json().await.unwrap(),
        replayed,
    )
}

async fn health(base: &str) -> Value {
    reqwest::get(format!("{base}/healthz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn stop(mut child: Child) {
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_clock_is_flagged_and_breaks_neither_order_nor_idempotency_nor_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("clock.db");
    let (child, base, staff) = start_seeded_server(&db).await;
    let (status, _, _) = book(&base, &staff, "real-1").await;
    assert_eq!(status, 201);
    assert_eq!(health(&base).await["clock"], "ok");
    stop(child);

    // Booted offline at 1970.
    let (child, base) = start_faked(&db, "@1970-01-02 00:00:00");
    let said = health(&base).await;
    assert_eq!(said["clock"], "before_build", "{said}");
    assert_eq!(
        said["status"], "ok",
        "a wrong clock does not stop the depot: {said}"
    );
    let (status, first, replayed) = book(&base, &staff, "in-1970").await;
    assert_eq!((status, replayed), (201, false), "{first}");
    assert_eq!(first["movements"][0]["seq"], 2, "{first}");
    assert!(first["movements"][0]["recorded_at"]
        .as_str()
        .unwrap()
        .starts_with("1970-"));
    let (status, again, replayed) = book(&base, &staff, "in-1970").await;
    assert_eq!((status, replayed), (201, true));
    assert_eq!(again["movements"][0]["seq"], 2);
    let (_, next, _) = book(&base, &staff, "in-1970-2").await;
    assert_eq!(
        next["movements"][0]["seq"], 3,
        "seq order, whatever the clock"
    );
    stop(child);

    // A clock a day ahead writes, then the right clock is behind that.
    let (child, base) = start_faked(&db, "+1d");
    let (_, ahead, _) = book(&base, &staff, "ahead-1").await;
    assert_eq!(ahead["movements"][0]["seq"], 4);
    assert_eq!(health(&base).await["clock"], "ok");
    stop(child);
    let (child, base) = start_faked(&db, "+0");
    let said = health(&base).await;
    assert_eq!(said["clock"], "behind", "{said}");
    let (status, behind, _) = book(&base, &staff, "behind-1").await;
    assert_eq!(status, 201);
    assert_eq!(behind["movements"][0]["seq"], 5);
    // A key booked before the restart is still a replay.
    let (status, old, replayed) = book(&base, &staff, "ahead-1").await;
    assert_eq!((status, replayed), (201, true));
    assert_eq!(old["movements"][0]["seq"], 4);
    stop(child);

    let out = Command::new(env!("CARGO_BIN_EXE_depot-server"))
        .arg("--db")
        .arg(&db)
        .arg("verify")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}");
    assert!(said.starts_with("ledger verified: 5 movements"), "{said}");
}
