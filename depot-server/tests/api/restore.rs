//! Backups and restore through the real binary: `restore` refuses a file
//! that is not a good backup of this depot (and anything while the server
//! runs) and changes nothing then; it restores a good one and keeps the
//! replaced database; scheduled backups keep the newest; a database is
//! copied before a migration, and a failed migration leaves it as it was.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::crash::{start_seeded_server, start_server};

fn depot(db: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_depot-server"));
    command.arg("--db").arg(db).args(args);
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().unwrap()
}

fn sqlite(db: &Path, sql: &str) -> String {
    let out = Command::new("sqlite3").arg(db).arg(sql).output().unwrap();
    assert!(
        out.status.success(),
        "sqlite3: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn movements(db: &Path) -> String {
    sqlite(db, "SELECT COUNT(*) FROM movements")
}

async fn book(base: &str, staff: &str, from: usize, to: usize) {
    let client = reqwest::Client::new();
    for n in from..to {
        let response = client
            .post(format!("{base}/api/v1/movements"))
            .bearer_auth(staff)
            .header("Idempotency-Key", format!("restore-{n}"))
            .json(&json!({"kind":"receive","sku":"ART-1","quantity":n,"to":"B-1"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
    }
}

fn refused(db: &Path, backup: &Path, env: &[(&str, &str)], reason: &str) {
    let out = depot(db, &["restore", backup.to_str().unwrap()], env);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{} was restored", backup.display());
    assert!(said.contains(reason), "expected '{reason}' in: {said}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_refuses_what_is_not_a_good_backup_of_this_depot_and_restores_one() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("depot.db");
    let (mut child, base, staff) = start_seeded_server(&db).await;
    book(&base, &staff, 1, 4).await;
    let good = dir.path().join("good.db");
    let out = depot(&db, &["backup", good.to_str().unwrap()], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    book(&base, &staff, 4, 6).await;

    // While the server runs nothing is replaced, even a good backup.
    refused(&db, &good, &[], "a depot-server is running");
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(movements(&db), "5");

    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, b"this is not a database at all, just text").unwrap();
    refused(&db, &junk, &[], "not a SQLite database");

    let truncated = dir.path().join("truncated.db");
    let bytes = std::fs::read(&good).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    refused(&db, &truncated, &[], "is refused");

    let foreign = dir.path().join("foreign.db");
    sqlite(
        &foreign,
        "CREATE TABLE notes (text TEXT); INSERT INTO notes VALUES ('hello');",
    );
    refused(&db, &foreign, &[], "not a depot database");

    refused(
        &db,
        &good,
        &[("DEPOT_ID", "depot-2")],
        "a backup of depot 'depot-1'",
    );

    let tampered = dir.path().join("tampered.db");
    std::fs::copy(&good, &tampered).unwrap();
    sqlite(
        &tampered,
        "DROP TRIGGER movements_are_append_only_update; UPDATE movements SET quantity = 50 WHERE seq = 2;",
    );
    refused(&db, &tampered, &[], "hash chain breaks at seq 2");

    // Every refusal left the database as it was.
    assert_eq!(movements(&db), "5");

    let out = depot(&db, &["restore", good.to_str().unwrap()], &[]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("ledger up to seq 3"), "{said}");
    assert_eq!(movements(&db), "3");
    let kept: Vec<PathBuf> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with("depot.db.replaced-") && name.ends_with('Z')
        })
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(movements(&kept[0]), "5");
    let out = depot(&db, &["verify"], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // The restored depot serves its stock as of the backup.
    let (mut child, address) = start_server(&db);
    let stock: serde_json::Value = reqwest::Client::new()
        .get(format!("http://{address}/api/v1/stock?sku=ART-1"))
        .bearer_auth(&staff)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // …and starts a new feed epoch based on the backup's chain head.
    let health: serde_json::Value = reqwest::get(format!("http://{address}/healthz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(stock.to_string().contains("\"quantity\":6"), "{stock}");
    let epoch = &health["epoch"];
    assert_eq!(epoch["generation"], 1, "{health}");
    assert_eq!(epoch["base_seq"], 3, "{health}");
    assert_eq!(epoch["restored"]["head_seq"], 3, "{health}");
    assert_eq!(
        epoch["restored"]["head_hash"], health["chain_head"]["hash"],
        "nothing booked since: the head is the backup's: {health}"
    );
    assert_eq!(epoch["id"].as_str().map(str::len), Some(32), "{health}");
    assert!(said.contains("epoch"), "{said}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_backups_keep_the_newest_and_each_restores() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("depot.db");
    let backups = dir.path().join("backups");
    let (mut child, base, staff) = start_seeded_server(&db).await;
    book(&base, &staff, 1, 3).await;
    child.kill().unwrap();
    child.wait().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_depot-server"))
        .args(["run", "--listen", "127.0.0.1:0", "--db"])
        .arg(&db)
        .env("DEPOT_BACKUP_DIR", &backups)
        .env("DEPOT_BACKUP_INTERVAL_S", "1")
        .env("DEPOT_BACKUP_KEEP", "2")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let listed = || -> Vec<PathBuf> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(&backups)
            .map(|d| d.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default();
        names.sort();
        names
    };
    // The first at once, then one a second: after 3.5 s at least 3 were
    // taken and only the newest 2 are kept.
    let deadline = Instant::now() + Duration::from_secs(20);
    let first = loop {
        assert!(Instant::now() < deadline, "no scheduled backup appeared");
        if let Some(first) = listed().first().cloned() {
            break first;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    tokio::time::sleep(Duration::from_millis(3_500)).await;
    child.kill().unwrap();
    child.wait().unwrap();
    let kept = listed();
    assert_eq!(kept.len(), 2, "{kept:?}");
    assert!(!kept.contains(&first), "the oldest was deleted: {kept:?}");
    for backup in kept {
        let name = backup.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            name.starts_with("depot-depot-1-") && name.ends_with("Z.db"),
            "{name}"
        );
        let fresh = dir.path().join(format!("restored-{name}"));
        let out = depot(&fresh, &["restore", backup.to_str().unwrap()], &[]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(movements(&fresh), "2");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_is_copied_before_a_migration_and_a_failed_one_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("depot.db");
    let (mut child, base, staff) = start_seeded_server(&db).await;
    book(&base, &staff, 1, 4).await;
    child.kill().unwrap();
    child.wait().unwrap();
    // Pretend the hash-chain migration is pending: it will run again and
    // fail (its column exists), as a migration that meets an unexpected
    // database would.
    let before = sqlite(
        &db,
        "SELECT MAX(version) FROM _sqlx_migrations WHERE version <> 7",
    );
    sqlite(&db, "DELETE FROM _sqlx_migrations WHERE version = 7;");
    let out = depot(&db, &["migrate"], &[]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the migration ran twice");
    assert!(said.contains("migration 7"), "{said}");
    let copy = dir
        .path()
        .join(format!("depot.db.before-migration-{before:0>4}"));
    assert!(copy.exists(), "no copy before the migration: {said}");
    assert_eq!(movements(&copy), "3");
    assert_eq!(movements(&db), "3");
    assert_eq!(
        sqlite(&db, "SELECT MAX(version) FROM _sqlx_migrations"),
        before
    );
}
