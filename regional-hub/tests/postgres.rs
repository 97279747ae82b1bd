//! Several hub instances on one database, against real peers: a PostgreSQL
//! cluster of the test's own (and a SQLite file for comparison), Mosquitto,
//! hub processes and a real depot-server publishing its feed.
//!
//! - Two stores (two instances' pools) applying the same redelivered,
//!   reordered messages at once: each (depot, seq) applied once, counters
//!   exact, gaps reported and then filled, the newest snapshot kept.
//! - A depot restored from a backup (a new epoch), on both databases: the
//!   movements above its base are lost (range shown, counted off), the new
//!   epoch's applied once each, a late message of the left epoch changes
//!   nothing current, the newest epoch's snapshot wins, and a rewritten
//!   seq within an epoch is flagged as a diverged history.
//! - Two hub processes sharing one MQTT shared subscription on one
//!   PostgreSQL, one killed with `kill -9` mid-stream and started again:
//!   every seq applied exactly once, gaps reported while it is down and
//!   filled when it is back, hub stock equal to depot stock.

mod support;

use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::Arc;

use regional_hub::core::message::{self, Message};
use regional_hub::store::{ArticleKey, Outcome, Store};
use reqwest::Client;
use serde_json::json;
use support::{depot_feed, eventually, get, hub_command, start_hub, wait_subscribed};
use time::macros::datetime;
use time::OffsetDateTime;

const NOW: OffsetDateTime = datetime!(2026-12-01 10:00 UTC);

fn movement(depot: &str, seq: u64) -> Message {
    let payload = format!(
        r#"{{"v":2,"depot":"{depot}","epoch":{{"id":"0123456789abcdef0123456789abcdef","generation":0,"base":0}},"seq":{seq},"hash":"{seq:064x}","prev":"{:064x}","time":"2026-12-01T09:00:00Z","kind":"receive","sku":"ART-1","quantity":1,"from":null,"to":"B-1","lot":null,"epcs":[],"source":"api"}}"#,
        seq.saturating_sub(1)
    );
    message::parse(&format!("depot/v1/{depot}/movements"), payload.as_bytes()).expect("movement")
}

fn stock(depot: &str, seq: u64) -> Message {
    let payload = format!(
        r#"{{"v":2,"depot":"{depot}","epoch":{{"id":"0123456789abcdef0123456789abcdef","generation":0,"base":0}},"seq":{seq},"time":"2026-12-01T09:00:00Z","article":{{"sku":"ART-1","name":"A","unit":"piece","gtin":null,"nsn":null,"supply_class":null}},"total":{seq},"zones":[{{"zone":"B","quantity":{seq}}}]}}"#
    );
    message::parse(&format!("depot/v1/{depot}/stock/ART-1"), payload.as_bytes()).expect("stock")
}

/// A fixed pseudo-random order (xorshift), so a failure can be replayed.
fn shuffle<T>(items: &mut [T], mut state: u64) {
    for i in (1..items.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let j = usize::try_from(state % (i as u64 + 1)).expect("index");
        items.swap(i, j);
    }
}

const SEQS: u64 = 120;
const DEPOTS: [&str; 2] = ["north-1", "south-2"];
const HELD_BACK: std::ops::RangeInclusive<u64> = 40..=45;

/// Two instances' stores on `db` apply every message of two depots, each
/// seq delivered one to three times, in a shuffled order, from 8 tasks at
/// once; seqs 40–45 are held back first (gaps), then delivered.
async fn two_instances_apply_each_seq_once(db: &str) {
    let stores = [
        Store::open(db).await.expect("open a"),
        Store::open(db).await.expect("open b"),
    ];
    let mut deliveries: Vec<Message> = Vec::new();
    let mut held_back: Vec<Message> = Vec::new();
    for depot in DEPOTS {
        for seq in 1..=SEQS {
            let copies = 1 + seq % 3;
            for _ in 0..copies {
                if HELD_BACK.contains(&seq) {
                    held_back.push(movement(depot, seq));
                } else {
                    deliveries.push(movement(depot, seq));
                }
                deliveries.push(stock(depot, seq));
            }
        }
    }
    let total_copies: u64 = (1..=SEQS).map(|seq| 1 + seq % 3).sum();
    shuffle(&mut deliveries, 0x9E37_79B9_7F4A_7C15);
    shuffle(&mut held_back, 0xD1B5_4A32_D192_ED03);

    let apply_all = |messages: Vec<Message>| {
        let stores = stores.clone();
        async move {
            let messages = Arc::new(messages);
            let next = Arc::new(AtomicUsize::new(0));
            let mut tasks = Vec::new();
            for worker in 0..8 {
                let store = stores[worker % 2].clone();
                let (messages, next) = (messages.clone(), next.clone());
                tasks.push(tokio::spawn(async move {
                    loop {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        let Some(message) = messages.get(i) else {
                            return;
                        };
                        store.apply(message, NOW).await.expect("apply");
                    }
                }));
            }
            for task in tasks {
                task.await.expect("worker");
            }
        }
    };
    apply_all(deliveries).await;
    let feeds = stores[1]
        .depots(NOW, time::Duration::hours(1))
        .await
        .expect("depots");
    for feed in &feeds {
        assert_eq!(feed.contiguous_seq, 39, "{feed:?}");
        assert_eq!(feed.gaps, vec![(40, 45)], "{feed:?}");
        assert_eq!(feed.movements_applied, (SEQS - 6) as i64, "{feed:?}");
    }
    apply_all(held_back).await;
    let feeds = stores[0]
        .depots(NOW, time::Duration::hours(1))
        .await
        .expect("depots");
    assert_eq!(feeds.len(), DEPOTS.len());
    for feed in &feeds {
        assert_eq!(feed.contiguous_seq, SEQS as i64, "{feed:?}");
        assert!(feed.gaps.is_empty(), "{feed:?}");
        // Every seq once; every other copy counted as a duplicate, none lost
        // to a concurrent update of the counters.
        assert_eq!(feed.movements_applied, SEQS as i64, "{feed:?}");
        assert_eq!(feed.duplicates, (total_copies - SEQS) as i64, "{feed:?}");
    }
    let rows = stores[0]
        .stock(&ArticleKey::Sku("ART-1".into()), false)
        .await
        .expect("stock");
    assert_eq!(
        rows.iter().map(|r| (r.seq, r.total)).collect::<Vec<_>>(),
        vec![(SEQS as i64, SEQS as i64); 2],
        "the newest snapshot of each depot"
    );
    for store in stores {
        store.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_postgres_apply_each_seq_once() {
    let postgres = support::Postgres::start();
    let db = postgres.database("hub_store").await;
    two_instances_apply_each_seq_once(&db).await;
    an_apply_waits_for_another_instance_holding_the_depot(&db).await;
}

/// The serialisation is the database's: another instance's apply holds the
/// depot's row and writes a newer snapshot (seq +2); an apply of an older
/// one (seq +1) started meanwhile waits, then sees the newer one and
/// changes nothing. Were the depot's row not taken first, it would have
/// read the old snapshot and overwritten the newer one (a lost update).
async fn an_apply_waits_for_another_instance_holding_the_depot(db: &str) {
    use sqlx::Connection;
    let store = Store::open(db).await.expect("open");
    let mut other = sqlx::PgConnection::connect(db).await.expect("connect");
    let mut held = other.begin().await.expect("begin");
    sqlx::query("SELECT depot FROM depots WHERE depot = 'north-1' FOR UPDATE")
        .fetch_one(&mut *held)
        .await
        .expect("lock the depot row");
    let newer = (SEQS + 2) as i64;
    sqlx::query("UPDATE stock SET seq = $1, total = $1 WHERE depot = 'north-1' AND sku = 'ART-1'")
        .bind(newer)
        .execute(&mut *held)
        .await
        .expect("a newer snapshot");
    let apply = {
        let store = store.clone();
        tokio::spawn(async move { store.apply(&stock("north-1", SEQS + 1), NOW).await })
    };
    // A bounded look: still waiting after half a second.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(
        !apply.is_finished(),
        "the apply did not wait for the depot's row"
    );
    held.commit().await.expect("commit");
    let outcome = tokio::time::timeout(std::time::Duration::from_secs(30), apply)
        .await
        .expect("the apply goes on after the commit")
        .expect("task")
        .expect("apply");
    assert_eq!(outcome, regional_hub::store::Outcome::Unchanged);
    let rows = store
        .stock(&ArticleKey::Sku("ART-1".into()), false)
        .await
        .expect("stock");
    let north = rows.iter().find(|r| r.depot == "north-1").expect("north-1");
    assert_eq!((north.seq, north.total), (newer, newer), "no lost update");
    store.close().await;
}

/// One feed message of depot `east-3` in the epoch `(id digit, generation, base)`.
fn in_epoch(epoch: (char, u64, u64), topic: &str, body: &str) -> Message {
    let (id, generation, base) = epoch;
    let payload = format!(
        r#"{{"v":2,"depot":"east-3","epoch":{{"id":"{}","generation":{generation},"base":{base}}},{body}}}"#,
        id.to_string().repeat(32)
    );
    message::parse(&format!("depot/v1/east-3/{topic}"), payload.as_bytes()).expect("message")
}

/// A movement whose chain hash is made of `tag` and `seq` (the same tag:
/// the same history).
fn moved(epoch: (char, u64, u64), tag: u64, seq: u64) -> Message {
    let body = format!(
        r#""seq":{seq},"hash":"{:064x}","prev":"{:064x}","time":"2026-12-01T09:00:00Z","kind":"receive","sku":"ART-1","quantity":1,"from":null,"to":"B-1","lot":null,"epcs":[],"source":"api""#,
        tag * 1000 + seq,
        tag * 1000 + seq - 1
    );
    in_epoch(epoch, "movements", &body)
}

fn stocked(epoch: (char, u64, u64), sku: &str, seq: u64, total: u64) -> Message {
    let body = format!(
        r#""seq":{seq},"time":"2026-12-01T09:00:00Z","article":{{"sku":"{sku}","name":"A","unit":"piece","gtin":null,"nsn":null,"supply_class":null}},"total":{total},"zones":[]"#
    );
    in_epoch(epoch, &format!("stock/{sku}"), &body)
}

fn status(epoch: (char, u64, u64), seq: u64, hash: u64, state: &str, restored: &str) -> Message {
    let body = format!(
        r#""seq":{seq},"hash":"{hash:064x}","time":"2026-12-01T09:00:00Z","state":"{state}","restored":{restored}"#
    );
    in_epoch(epoch, "status", &body)
}

/// Epoch A books 1–8; the depot is restored from a backup at seq 5 (epoch
/// B, generation 1) and books 6–7 anew; late messages of A arrive after B's.
async fn a_restore_is_seen_with_its_lost_range(db: &str) {
    const A: (char, u64, u64) = ('a', 0, 0);
    const B: (char, u64, u64) = ('b', 1, 5);
    let store = Store::open(db).await.expect("open");
    let apply = |message: Message| {
        let store = store.clone();
        async move { store.apply(&message, NOW).await.expect("apply") }
    };
    apply(status(A, 0, 0, "online", "null")).await;
    for seq in 1..=8 {
        apply(moved(A, 0xa, seq)).await;
    }
    apply(stocked(A, "ART-1", 8, 8)).await;
    // Touched only by the lost movements: the restored depot has none of it.
    apply(stocked(A, "ART-2", 7, 2)).await;
    apply(status(A, 8, 0xa * 1000 + 8, "offline", "null")).await;

    let restored = format!(
        r#"{{"at":"2026-12-01T09:30:00Z","head_seq":5,"head_hash":"{:064x}"}}"#,
        0xa * 1000 + 5
    );
    apply(status(B, 5, 0xa * 1000 + 5, "online", &restored)).await;
    // Resent from the backup's feed cursor: the same movements as A's.
    for seq in [4, 5] {
        assert_eq!(apply(moved(B, 0xa, seq)).await, Outcome::Unchanged);
    }
    for seq in [7, 6] {
        assert_eq!(apply(moved(B, 0xb, seq)).await, Outcome::Applied);
    }
    apply(stocked(B, "ART-1", 7, 3)).await;
    // Late, from the left epoch: its 9 is lost too, its 3 is shared, its
    // snapshot and its Last Will are old news.
    apply(moved(A, 0xa, 9)).await;
    assert_eq!(apply(moved(A, 0xa, 3)).await, Outcome::Unchanged);
    assert_eq!(apply(stocked(A, "ART-1", 9, 9)).await, Outcome::Unchanged);
    assert_eq!(
        apply(status(A, 9, 0xa * 1000 + 9, "offline", "null")).await,
        Outcome::Unchanged
    );

    let feeds = store
        .depots(NOW, time::Duration::hours(1))
        .await
        .expect("depots");
    let feed = feeds.iter().find(|f| f.depot == "east-3").expect("east-3");
    let epoch = feed.epoch.as_ref().expect("epoch");
    assert_eq!((epoch.generation, epoch.base), (1, 5), "{feed:?}");
    let restore = feed.restored.as_ref().expect("restored");
    assert_eq!(restore.lost, Some((6, 9)), "{feed:?}");
    assert_eq!(restore.lost_count, 4, "{feed:?}");
    assert_eq!(
        restore.at,
        Some(time::macros::datetime!(2026-12-01 09:30 UTC))
    );
    assert_eq!(feed.contiguous_seq, 7, "{feed:?}");
    assert_eq!(feed.newest_seq, 7, "{feed:?}");
    assert_eq!(feed.movements_applied, 7, "{feed:?}");
    assert!(feed.gaps.is_empty(), "{feed:?}");
    assert_eq!(feed.diverged, None, "{feed:?}");
    assert_eq!(
        feed.link.map(|l| l.0),
        Some(feed_contract::LinkState::Online)
    );
    let rows = store
        .stock(&ArticleKey::Sku("ART-1".into()), false)
        .await
        .expect("stock");
    let east: Vec<_> = rows.iter().filter(|r| r.depot == "east-3").collect();
    assert_eq!(
        east.iter().map(|r| (r.seq, r.total)).collect::<Vec<_>>(),
        [(7, 3)]
    );
    let gone = store
        .stock(&ArticleKey::Sku("ART-2".into()), false)
        .await
        .expect("stock");
    assert!(gone.iter().all(|r| r.depot != "east-3"), "{gone:?}");

    // Another movement under a seq held in the same epoch: a rewritten
    // history, flagged and not applied.
    assert_eq!(apply(moved(B, 0xc, 6)).await, Outcome::Applied);
    let feeds = store
        .depots(NOW, time::Duration::hours(1))
        .await
        .expect("depots");
    let feed = feeds.iter().find(|f| f.depot == "east-3").expect("east-3");
    assert_eq!(feed.diverged.map(|d| d.0), Some(6), "{feed:?}");
    assert_eq!(feed.movements_applied, 7, "{feed:?}");
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restored_depot_on_postgres_and_sqlite() {
    let postgres = support::Postgres::start();
    a_restore_is_seen_with_its_lost_range(&postgres.database("hub_restore").await).await;
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("hub.db");
    a_restore_is_seen_with_its_lost_range(db.to_str().expect("utf-8")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_sqlite_file_apply_each_seq_once() {
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("hub.db");
    two_instances_apply_each_seq_once(db.to_str().expect("utf-8")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hubs_share_a_subscription_on_one_postgres_and_a_killed_one_misses_nothing() {
    let postgres = support::Postgres::start();
    let broker = support::Broker::start();
    let db = postgres.database("hub_e2e").await;
    let client = Client::new();
    let token = hub_command(&["user", "add", "cell", "--role", "hub"], &db);

    let hub_env = |id: &'static str| [("HUB_MQTT_CLIENT_ID", id), ("HUB_MQTT_SHARE_GROUP", "hubs")];
    let (hub_a_process, hub_a) = start_hub(&db, &broker.url(), &hub_env("hub-a"));
    let (_hub_b_process, hub_b) = start_hub(&db, &broker.url(), &hub_env("hub-b"));
    wait_subscribed(&client, &hub_a).await;
    wait_subscribed(&client, &hub_b).await;

    let depot = Arc::new(support::Depot::start("north-1", &broker.url()).await);
    let bookings = 150;
    let booked = Arc::new(AtomicUsize::new(0));
    let last_seq = Arc::new(AtomicI64::new(0));
    let booker = {
        let (client, depot) = (client.clone(), depot.clone());
        let (booked, last_seq) = (booked.clone(), last_seq.clone());
        tokio::spawn(async move {
            for n in 0..bookings {
                let seq = depot.book(&client, &format!("b-{n}"), 1).await;
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
    wait_booked(30).await;
    drop(hub_a_process); // kill -9, mid-stream
                         // While hub A is down, the broker keeps its persistent session's share
                         // of the feed (and what A had received but not acknowledged): hub B
                         // applies the rest, so the depot's feed shows gaps.
    let gaps = eventually("gaps while hub A is down", || async {
        let feed = depot_feed(&client, &hub_b, &token, "north-1").await?;
        let gaps = feed["gaps"].as_array()?.clone();
        (!gaps.is_empty()).then_some(gaps)
    })
    .await;
    assert!(gaps.iter().all(|g| g["from"].as_i64() <= g["to"].as_i64()));
    wait_booked(90).await;
    let (_hub_a_process, hub_a) = start_hub(&db, &broker.url(), &hub_env("hub-a"));
    booker.await.expect("booker");
    let last_seq = last_seq.load(Ordering::SeqCst);
    assert_eq!(last_seq, bookings as i64, "the depot's ledger is all ours");

    for hub in [&hub_a, &hub_b] {
        let feed = eventually("every seq applied", || async {
            let feed = depot_feed(&client, hub, &token, "north-1").await?;
            (feed["last_seq"] == last_seq).then_some(feed)
        })
        .await;
        assert_eq!(feed["gaps"], json!([]), "{feed}");
        assert_eq!(feed["movements_applied"], last_seq, "each once: {feed}");
    }
    // The database agrees: one row per seq, 1..=last.
    let (count, min, max): (i64, i64, i64) = {
        use sqlx::Connection;
        let mut connection = sqlx::PgConnection::connect(&db).await.expect("connect");
        sqlx::query_as("SELECT COUNT(*), MIN(seq), MAX(seq) FROM movements WHERE depot = 'north-1'")
            .fetch_one(&mut connection)
            .await
            .expect("count")
    };
    assert_eq!((count, min, max), (last_seq, 1, last_seq));

    let expected = depot.total(&client).await;
    assert_eq!(expected, bookings as i64);
    eventually("hub stock equal to depot stock", || async {
        let (status, body) = get(&client, &token, &format!("{hub_b}/api/v1/stock?sku=ART-1")).await;
        (status == 200 && body["total"] == expected).then_some(())
    })
    .await;
    if let Ok(depot) = Arc::try_unwrap(depot) {
        depot.stop().await;
    }
}
