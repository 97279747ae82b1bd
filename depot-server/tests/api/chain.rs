//! The ledger's hash chain through the real binary: `verify` after bookings,
//! a movement changed behind the server's back with the sqlite3 command
//! line (as someone with the file would), a database from before the chain,
//! and the head in `/healthz`.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::{json, Value};

use crate::crash::{start_bookers, start_seeded_server, start_server, wait_for_bookings};

fn verify(db: &Path) -> (bool, String) {
    let out: Output = Command::new(env!("CARGO_BIN_EXE_depot-server"))
        .arg("--db")
        .arg(db)
        .arg("verify")
        .output()
        .unwrap();
    assert!(
        out.status.success() || out.status.code() == Some(1),
        "verify failed to run: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_owned(),
    )
}

fn sqlite(db: &Path, sql: &str) {
    let out = Command::new("sqlite3").arg(db).arg(sql).output().unwrap();
    assert!(
        out.status.success(),
        "sqlite3: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A seeded database with `count` receipts booked through the API; the
/// server stopped. Returns the staff token.
async fn booked(db: &Path, count: usize) -> String {
    let (mut child, base, staff) = start_seeded_server(db).await;
    let client = reqwest::Client::new();
    for n in 0..count {
        let response = client
            .post(format!("{base}/api/v1/movements"))
            .bearer_auth(&staff)
            .header("Idempotency-Key", format!("chain-{n}"))
            .json(&json!({"kind":"receive","sku":"ART-1","quantity":n + 1,"to":"B-1"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
    }
    child.kill().unwrap();
    child.wait().unwrap();
    staff
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_names_the_movement_changed_behind_the_servers_back() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("chain.db");
    booked(&db, 6).await;
    let (ok, said) = verify(&db);
    assert!(ok, "{said}");
    assert!(
        said.starts_with("ledger verified: 6 movements, chain head "),
        "{said}"
    );

    // The append-only trigger stops a plain UPDATE; someone with the file
    // drops it first.
    sqlite(
        &db,
        "DROP TRIGGER movements_are_append_only_update; \
         UPDATE movements SET quantity = 99 WHERE seq = 4;",
    );
    let (ok, said) = verify(&db);
    assert!(!ok);
    assert!(said.starts_with("ledger broken at seq 4: "), "{said}");

    // A removed movement is named too.
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("removed.db");
    booked(&db, 5).await;
    sqlite(
        &db,
        "DROP TRIGGER movements_are_append_only_delete; DELETE FROM movements WHERE seq = 2;",
    );
    let (ok, said) = verify(&db);
    assert!(!ok);
    assert!(
        said.starts_with("ledger broken at seq 2: seq 2 is missing"),
        "{said}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ledger_from_before_the_chain_is_sealed_at_start_and_its_head_is_in_healthz() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("old.db");
    let staff = booked(&db, 4).await;
    // What a database migrated from before the chain holds: no hashes.
    sqlite(
        &db,
        "DROP TRIGGER movements_are_append_only_update; UPDATE movements SET hash = NULL;",
    );
    let (ok, said) = verify(&db);
    assert!(!ok);
    assert!(
        said.starts_with("ledger broken at seq 1: movement 1 has no hash"),
        "{said}"
    );

    let (mut child, address) = start_server(&db);
    let health: Value = reqwest::get(format!("http://{address}/healthz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["chain_head"]["seq"], 4, "{health}");
    // Bookings after the seal extend the chain, sealed in their own commits.
    let (clients, acknowledged) = start_bookers(&format!("http://{address}"), &staff, 4);
    wait_for_bookings(&acknowledged, 30).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let health: Value = reqwest::get(format!("http://{address}/healthz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    for task in clients {
        task.await.unwrap();
    }
    let (ok, said) = verify(&db);
    assert!(ok, "{said}");
    let head_seq = health["chain_head"]["seq"].as_i64().unwrap();
    assert!(head_seq >= 34, "{health}");
    // Read while bookings went on: the head first, the newest seq after it.
    assert!(head_seq <= health["last_seq"].as_i64().unwrap(), "{health}");
    let head_hash = health["chain_head"]["hash"].as_str().unwrap();
    assert_eq!(head_hash.len(), 64);
    // The head /healthz showed is a link of the chain `verify` recomputed.
    let out = Command::new("sqlite3")
        .arg(&db)
        .arg(format!("SELECT hash FROM movements WHERE seq = {head_seq}"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), head_hash);
}
