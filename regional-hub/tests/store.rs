//! The store against real SQLite files: each (depot, seq) applied once
//! across redeliveries and a reopen (a hub restart), gaps reported and then
//! filled, the newest snapshot kept, restricted stock only for the cleared.

use feed_contract::{Audience, DepotId};
use regional_hub::core::message;
use regional_hub::store::{ArticleKey, Outcome, Store};
use time::macros::datetime;
use time::OffsetDateTime;

const NOW: OffsetDateTime = datetime!(2026-12-01 10:00 UTC);

fn movement(seq: u64) -> message::Message {
    movement_of("north-1", seq)
}

fn movement_of(depot: &str, seq: u64) -> message::Message {
    let payload = format!(
        r#"{{"v":2,"depot":"{depot}","epoch":{{"id":"0123456789abcdef0123456789abcdef","generation":0,"base":0}},"seq":{seq},"hash":"{seq:064x}","prev":"{:064x}","time":"2026-12-01T09:00:00Z","kind":"receive","sku":"ART-1","quantity":1,"from":null,"to":"B-1","lot":null,"epcs":[],"source":"api"}}"#,
        seq.saturating_sub(1)
    );
    message::parse(&format!("depot/v1/{depot}/movements"), payload.as_bytes()).expect("movement")
}

fn stock(audience: Audience, sku: &str, seq: u64, total: u64) -> message::Message {
    let topic = match audience {
        Audience::Open => format!("depot/v1/north-1/stock/{sku}"),
        Audience::Restricted => format!("depot/v1/north-1/restricted/stock/{sku}"),
    };
    let payload = format!(
        r#"{{"v":2,"depot":"north-1","epoch":{{"id":"0123456789abcdef0123456789abcdef","generation":0,"base":0}},"seq":{seq},"time":"2026-12-01T09:00:00Z","article":{{"sku":"{sku}","name":"A","unit":"piece","gtin":null,"nsn":"2510010288573","supply_class":null}},"total":{total},"zones":[{{"zone":"B","quantity":{total}}}]}}"#
    );
    message::parse(&topic, payload.as_bytes()).expect("stock")
}

async fn feed_of(store: &Store) -> regional_hub::store::DepotFeed {
    let depots = store
        .depots(NOW, time::Duration::hours(1))
        .await
        .expect("depots");
    assert_eq!(depots.len(), 1);
    assert_eq!(
        depots[0].depot,
        DepotId::parse("north-1").expect("id").as_str()
    );
    depots[0].clone()
}

#[tokio::test]
async fn each_seq_applied_once_across_redelivery_and_reopen_with_gaps_filled() {
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("hub.db");
    let db = db.to_str().expect("utf-8");
    let store = Store::open(db).await.expect("open");
    for seq in [1, 2, 5, 2, 7] {
        store.apply(&movement(seq), NOW).await.expect("apply");
    }
    let feed = feed_of(&store).await;
    assert_eq!(feed.contiguous_seq, 2);
    assert_eq!(feed.gaps, vec![(3, 4), (6, 6)]);
    assert_eq!((feed.movements_applied, feed.duplicates), (4, 1));
    store.close().await;

    // A restart: the cursor and the applied set come back from the file.
    let store = Store::open(db).await.expect("reopen");
    assert_eq!(
        store.apply(&movement(5), NOW).await.expect("apply"),
        Outcome::Unchanged
    );
    for seq in [4, 3, 6] {
        assert_eq!(
            store.apply(&movement(seq), NOW).await.expect("apply"),
            Outcome::Applied
        );
    }
    let feed = feed_of(&store).await;
    assert_eq!(feed.contiguous_seq, 7);
    assert!(feed.gaps.is_empty());
    assert_eq!((feed.movements_applied, feed.duplicates), (7, 2));
}

#[tokio::test]
async fn a_batch_applies_each_message_once_in_its_depots_order() {
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("hub.db");
    let store = Store::open(db.to_str().expect("utf-8"))
        .await
        .expect("open");
    // Two depots interleaved, one out of order, redeliveries inside the
    // batch itself, a snapshot among the movements: one transaction.
    let batch = [
        movement_of("south-2", 1),
        movement_of("north-1", 2),
        movement_of("north-1", 1),
        movement_of("south-2", 1),
        stock(Audience::Open, "ART-1", 2, 5),
        movement_of("north-1", 2),
        movement_of("south-2", 2),
    ];
    let outcomes = store.apply_batch(&batch, NOW).await.expect("apply");
    use Outcome::{Applied, Unchanged};
    assert_eq!(
        outcomes,
        vec![Applied, Applied, Applied, Unchanged, Applied, Unchanged, Applied]
    );
    let depots = store
        .depots(NOW, time::Duration::hours(1))
        .await
        .expect("depots");
    let figures: Vec<_> = depots
        .iter()
        .map(|d| {
            (
                d.depot.as_str(),
                d.contiguous_seq,
                d.movements_applied,
                d.duplicates,
            )
        })
        .collect();
    assert_eq!(figures, vec![("north-1", 2, 2, 1), ("south-2", 2, 2, 1)]);
    // The same batch again (the broker redelivering all of it unacked).
    assert!(store
        .apply_batch(&batch, NOW)
        .await
        .expect("apply")
        .iter()
        .all(|o| *o == Unchanged));
}

#[tokio::test]
async fn newest_snapshot_wins_and_restricted_stock_is_only_for_the_cleared() {
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("hub.db");
    let store = Store::open(db.to_str().expect("utf-8"))
        .await
        .expect("open");
    store
        .apply(&stock(Audience::Open, "ART-1", 4, 9), NOW)
        .await
        .expect("apply");
    // An older snapshot arriving late changes nothing.
    assert_eq!(
        store
            .apply(&stock(Audience::Open, "ART-1", 3, 1), NOW)
            .await
            .expect("apply"),
        Outcome::Unchanged
    );
    store
        .apply(&stock(Audience::Restricted, "AMMO-1", 2, 6), NOW)
        .await
        .expect("apply");
    let open = store
        .stock(&ArticleKey::Sku("ART-1".into()), false)
        .await
        .expect("stock");
    assert_eq!(open.iter().map(|s| s.total).collect::<Vec<_>>(), vec![9]);
    assert!(store
        .stock(&ArticleKey::Sku("AMMO-1".into()), false)
        .await
        .expect("stock")
        .is_empty());
    assert!(store
        .stock(&ArticleKey::Nsn("2510010288573".into()), false)
        .await
        .expect("stock")
        .iter()
        .all(|s| !s.restricted));
    let cleared = store
        .stock(&ArticleKey::Nsn("2510010288573".into()), true)
        .await
        .expect("stock");
    assert_eq!(cleared.len(), 2);
}
