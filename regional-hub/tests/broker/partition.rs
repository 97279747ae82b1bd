//! A real network partition between the depot and the broker, with the
//! shipped broker configuration and TLS client certificates. What is used:
//! a network namespace made by the test (`ip netns add`, iproute2) holds
//! Mosquitto, joined to this namespace by two veth pairs with private
//! addresses of the test's own: one carries the depot's uplink, the other
//! the hub's. The partition is `ip link set … down` on the depot's pair
//! inside the namespace: the depot's packets vanish with no error and no
//! reset, as on a cut WAN link, while the hub stays connected. Bookings go
//! on throughout; after the link is up again every movement arrives at the
//! hub, each applied once, and the hub's stock equals the depot's.
//!
//! Needs root (or CAP_SYS_ADMIN and CAP_NET_ADMIN) and iproute2; without
//! them it fails saying so. Keep-alive is 5 s on both sides, so the depot
//! notices the silence within about 10 s and the broker publishes the
//! depot's Last Will within 7.5 s; the partition lasts 30 s.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Client;
use serde_json::Value;

use crate::harness::{
    book, cli, depot_server_binary, depot_total, eventually, get, hub_binary, hub_depot, hub_total,
    seed_depot, start_depot, start_hub, Broker, Netns, Pki,
};

const PARTITION: Duration = Duration::from_secs(30);
/// The pause between two bookings of the booking loop.
const BOOKING_EVERY: Duration = Duration::from_millis(100);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_network_partition_between_depot_and_broker_loses_nothing_and_applies_nothing_twice() {
    let depot_server = depot_server_binary();
    // Names and addresses of this process's own, so parallel runs never
    // meet: two /30 networks, this namespace's end .1 and .5, the broker's .2 and .6.
    let id = std::process::id();
    let net = format!("10.213.{}", id % 250);
    let netns = Netns::new(&format!("depot-edge-{id}"));
    let (depot_link, hub_link) = (format!("dd{id}"), format!("dh{id}"));
    let (broker_for_depot, broker_for_hub) = (format!("{net}.2"), format!("{net}.6"));
    netns.link(
        &depot_link,
        &format!("{depot_link}b"),
        &format!("{net}.1/30"),
        &format!("{broker_for_depot}/30"),
    );
    netns.link(
        &hub_link,
        &format!("{hub_link}b"),
        &format!("{net}.5/30"),
        &format!("{broker_for_hub}/30"),
    );
    let pki = Pki::make(
        &[
            &format!("IP:{broker_for_depot}"),
            &format!("IP:{broker_for_hub}"),
        ],
        &["north-1", "hub.north"],
    );
    let _broker = Broker::start_in_netns(&pki, &netns, &broker_for_hub);

    let dir = tempfile::tempdir().expect("dir");
    let client = Client::new();
    let hub_db = dir.path().join("hub.db");
    let cell = cli(
        &hub_binary(),
        &hub_db,
        &["user", "add", "cell", "--role", "hub", "--restricted"],
    );
    let (_hub_process, hub) = start_hub(
        &hub_db,
        &format!("mqtts://{broker_for_hub}:8883"),
        &pki,
        "hub.north",
    );
    eventually("the hub's subscription", || async {
        let (_, body) = get(&client, "", &format!("{hub}/healthz")).await;
        (body["feed"] == "connected").then_some(())
    })
    .await;
    let depot_db = dir.path().join("depot.db");
    let manager = cli(
        &depot_server,
        &depot_db,
        &[
            "user",
            "add",
            "manager",
            "--role",
            "manager",
            "--restricted",
        ],
    );
    let (_depot_process, depot) = start_depot(
        &depot_server,
        &depot_db,
        "north-1",
        &format!("mqtts://{broker_for_depot}:8883"),
        &pki,
        "north-1",
    );
    seed_depot(&client, &depot, &manager).await;

    // Bookings every 100 ms, open and restricted, until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let last_seq = Arc::new(AtomicI64::new(0));
    let booker = {
        let (client, depot, manager) = (client.clone(), depot.clone(), manager.clone());
        let (stop, last_seq) = (stop.clone(), last_seq.clone());
        tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                let sku = if n % 5 == 4 { "SECRET-1" } else { "ART-1" };
                let seq = book(&client, &depot, &manager, &format!("p{n}"), sku, 1).await;
                last_seq.fetch_max(seq, Ordering::SeqCst);
                n += 1;
                tokio::time::sleep(BOOKING_EVERY).await;
            }
        })
    };
    eventually("the first bookings at the hub", || async {
        let feed = hub_depot(&client, &hub, &cell, "north-1").await?;
        (feed["last_seq"].as_i64() >= Some(10)).then_some(())
    })
    .await;

    // Cut the depot's link inside the broker's namespace.
    let inner = format!("{depot_link}b");
    netns.ip(&["link", "set", &inner, "down"]);
    let cut_at = Instant::now();
    let seq_at_cut = last_seq.load(Ordering::SeqCst);
    let uplink = uplink_when(&client, &depot, &manager, "offline", |u| {
        u["state"] == "offline"
    })
    .await;
    assert!(uplink["last_error"].is_string(), "{uplink}");
    eventually("the depot's Last Will at the hub", || async {
        let feed = hub_depot(&client, &hub, &cell, "north-1").await?;
        (feed["link"] == "offline").then_some(())
    })
    .await;
    let remaining = PARTITION.saturating_sub(cut_at.elapsed());
    tokio::time::sleep(remaining).await;
    // Still cut off (between attempts `offline`, during one `connecting`).
    let uplink = uplink_when(&client, &depot, &manager, "cut off with a backlog", |u| {
        u["state"] != "online" && u["backlog_movements"].as_i64() > Some(0)
    })
    .await;
    assert!(
        last_seq.load(Ordering::SeqCst) > seq_at_cut + 50,
        "bookings went on during the partition: {uplink}"
    );
    let hub_during = hub_depot(&client, &hub, &cell, "north-1")
        .await
        .expect("known");

    // Heal, book a little more, stop.
    netns.ip(&["link", "set", &inner, "up"]);
    uplink_when(&client, &depot, &manager, "online again", |u| {
        u["state"] == "online"
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::SeqCst);
    booker.await.expect("booker");
    let last_seq = last_seq.load(Ordering::SeqCst);

    let feed = eventually("every seq at the hub", || async {
        let feed = hub_depot(&client, &hub, &cell, "north-1").await?;
        (feed["last_seq"] == last_seq).then_some(feed)
    })
    .await;
    // Nothing crossed the cut: at most the one booking in flight when it came.
    assert!(
        hub_during["last_seq"].as_i64() <= Some(seq_at_cut + 1),
        "the hub got movements through the partition (cut at seq {seq_at_cut}): {hub_during}"
    );
    assert_eq!(feed["gaps"], serde_json::json!([]), "{feed}");
    assert_eq!(
        feed["movements_applied"], last_seq,
        "each seq applied once: {feed}"
    );
    assert_eq!(feed["link"], "online", "{feed}");
    for sku in ["ART-1", "SECRET-1"] {
        let expected = depot_total(&client, &depot, &manager, sku).await;
        eventually(
            &format!("hub stock of {sku} = depot stock {expected}"),
            || async {
                (hub_total(&client, &hub, &cell, sku).await == Some(expected)).then_some(())
            },
        )
        .await;
    }
    let uplink = uplink_when(&client, &depot, &manager, "drained", |u| {
        u["acked_seq"] == last_seq && u["backlog_movements"] == 0
    })
    .await;
    assert_eq!(uplink["state"], "online", "{uplink}");
}

/// Polls the depot's `/api/v1/uplink` until `done` holds.
async fn uplink_when(
    client: &Client,
    depot: &str,
    token: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    eventually(&format!("the depot's uplink {what}"), || async {
        let (_, uplink) = get(client, token, &format!("{depot}/api/v1/uplink")).await;
        done(&uplink).then_some(uplink)
    })
    .await
}
