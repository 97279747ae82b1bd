//! The shipped ACL (`deploy/mosquitto/acl`) with TLS client certificates:
//! three depots, a cell without clearance, a cleared cell and the hub. Every
//! publish and every read of the feed's topics is tried by every identity;
//! the allowed ones arrive, the forbidden ones never do. Then the real
//! depot-server and regional-hub run the feed through that broker over
//! `mqtts://`, each with its own certificate.
//!
//! Mosquitto refuses quietly: a forbidden publish is acknowledged and
//! dropped, a forbidden subscription is granted and delivers nothing. So a
//! denial is shown by absence, against a witness: the hub reads every feed
//! topic, and a last "sentinel" message, published after everything else,
//! has reached a reader only after everything routed to it before (a
//! subscriber's queue is in order). Where an identity may read nothing at
//! all, the wait is bounded instead (`QUIET`), after the sentinel reached
//! everyone who may read it.

use std::collections::BTreeSet;
use std::time::Duration;

use feed_contract::topic::PREFIX;
use feed_contract::{Audience, DepotId, Topic};
use reqwest::Client;
use serde_json::Value;

use crate::harness::{
    book, cli, depot_server_binary, eventually, free_port, get, hub_binary, hub_depot, hub_total,
    seed_depot, start_depot, start_hub, Broker, Mqtt, Pki, Received,
};

const DEPOTS: [&str; 3] = ["north-1", "north-2", "north-3"];
const HUB: &str = "hub.north";
const CIVIL: &str = "cell.civil";
const MILITARY: &str = "cell.military";
/// How long a session that may read nothing is watched after the sentinel
/// reached every reader.
const QUIET: Duration = Duration::from_secs(2);

/// Every feed topic of `depot` (brief §6), with whether the feed retains it.
fn feed_topics(depot: &str) -> Vec<(String, bool)> {
    let id = DepotId::parse(depot).expect("depot id");
    [
        Topic::Status,
        Topic::Stock(Audience::Open, "ART-1".into()),
        Topic::Utilization,
        Topic::Movements(Audience::Open),
        Topic::Stock(Audience::Restricted, "SECRET-1".into()),
        Topic::Movements(Audience::Restricted),
    ]
    .into_iter()
    .map(|topic| {
        // A new kind of topic fails to compile here until the ACL and
        // this matrix say who may read it.
        match &topic {
            Topic::Status | Topic::Stock(..) | Topic::Utilization | Topic::Movements(_) => {}
        }
        (topic.name(&id), topic.retained())
    })
    .collect()
}

/// What the shipped ACL lets `reader` read of the depots' feed topics.
fn may_read(reader: &str, topic: &str) -> bool {
    let movements = topic.ends_with("/movements");
    let restricted = topic.contains("/restricted/");
    match reader {
        HUB => true,
        MILITARY => !movements,
        CIVIL => !movements && !restricted,
        _ => false,
    }
}

/// One session of `identity` subscribed to `filters`.
async fn session(pki: &Pki, port: u16, identity: &str, name: &str, filters: &[&str]) -> Mqtt {
    let client = Mqtt::connect(pki, port, identity, &format!("{identity}-{name}")).await;
    for filter in filters {
        client.subscribe(filter).await;
    }
    client
}

fn set(messages: Vec<Received>) -> BTreeSet<Received> {
    messages.into_iter().collect()
}

/// The hub's resend requests (`hub/v1/{depot}/resend`): only the hub may
/// write them, and each depot reads only its own; cells read none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_hub_asks_and_each_depot_hears_only_its_own_requests() {
    let readers = [HUB, CIVIL, MILITARY];
    let identities: Vec<&str> = DEPOTS.iter().copied().chain(readers).collect();
    let pki = Pki::make(&["IP:127.0.0.1"], &identities);
    let port = free_port();
    let _broker = Broker::start(&pki, port);
    let mut listeners = Vec::new();
    for identity in &identities {
        listeners.push((
            *identity,
            session(&pki, port, identity, "requests", &["hub/v1/#"]).await,
        ));
    }
    // Forged requests first, each acknowledged (and dropped) by the broker.
    for identity in identities.iter().filter(|i| **i != HUB) {
        let forger = Mqtt::connect(&pki, port, identity, &format!("{identity}-forger")).await;
        for depot in DEPOTS {
            let topic = feed_contract::resend_topic(&DepotId::parse(depot).expect("id"));
            forger
                .publish(&topic, &format!("forged by {identity}"), false)
                .await;
        }
    }
    let hub = Mqtt::connect(&pki, port, HUB, "hub-requests").await;
    for depot in DEPOTS {
        let topic = feed_contract::resend_topic(&DepotId::parse(depot).expect("id"));
        hub.publish(&topic, "from the hub", false).await;
    }
    for (identity, client) in listeners.iter().filter(|(i, _)| DEPOTS.contains(i)) {
        let topic = format!("hub/v1/{identity}/resend");
        client.wait_for(&topic, "from the hub").await;
        let expected = set(vec![Received {
            topic,
            payload: "from the hub".into(),
        }]);
        assert_eq!(set(client.received()), expected, "{identity}");
    }
    tokio::time::sleep(QUIET).await;
    for (identity, client) in listeners.iter().filter(|(i, _)| readers.contains(i)) {
        assert!(client.received().is_empty(), "{identity} reads no request");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_acl_grades_every_publish_and_read() {
    let readers = [HUB, CIVIL, MILITARY];
    let identities: Vec<&str> = DEPOTS.iter().copied().chain(readers).collect();
    let pki = Pki::make(&["IP:127.0.0.1"], &identities);
    let port = free_port();
    let broker = Broker::start(&pki, port);

    // Each identity reads everything it can (`depot/v1/#`), and in a second
    // session asks for exactly what it must not read.
    let mut wide = Vec::new();
    let mut narrow = Vec::new();
    for identity in &identities {
        wide.push((
            *identity,
            session(&pki, port, identity, "wide", &[&format!("{PREFIX}/#")]).await,
        ));
        let forbidden: Vec<String> = match *identity {
            HUB => vec![],
            CIVIL => vec![
                format!("{PREFIX}/+/movements"),
                format!("{PREFIX}/+/restricted/#"),
            ],
            MILITARY => vec![
                format!("{PREFIX}/+/movements"),
                format!("{PREFIX}/+/restricted/movements"),
            ],
            depot => vec![
                format!("{PREFIX}/{depot}/#"),
                format!("{PREFIX}/+/status"),
                "#".into(),
            ],
        };
        if !forbidden.is_empty() {
            let filters: Vec<&str> = forbidden.iter().map(String::as_str).collect();
            narrow.push((
                *identity,
                session(&pki, port, identity, "narrow", &filters).await,
            ));
        }
    }
    let publishers: Vec<(&str, Mqtt)> = {
        let mut publishers = Vec::new();
        for identity in &identities {
            publishers.push((
                *identity,
                Mqtt::connect(&pki, port, identity, &format!("{identity}-pub")).await,
            ));
        }
        publishers
    };

    // Every forbidden publish first: under another depot's id, by a reader
    // under any depot's id, and by a reader under its own name.
    let mut forged = 0;
    for (identity, client) in &publishers {
        let mut topics: Vec<(String, bool)> = DEPOTS
            .iter()
            .filter(|depot| *depot != identity)
            .flat_map(|depot| feed_topics(depot))
            .collect();
        if readers.contains(identity) {
            topics.push((format!("{PREFIX}/{identity}/status"), true));
        }
        for (topic, retain) in topics {
            client
                .publish(&topic, &format!("forged by {identity}"), retain)
                .await;
            forged += 1;
        }
    }
    // Then each depot publishes its own feed, as the real publisher does.
    let mut allowed = Vec::new();
    for (identity, client) in publishers.iter().filter(|(i, _)| DEPOTS.contains(i)) {
        for (topic, retain) in feed_topics(identity) {
            let payload = format!("from {identity}");
            client.publish(&topic, &payload, retain).await;
            allowed.push(Received { topic, payload });
        }
    }
    // The sentinel: readable by every reader, sent last.
    let sentinel_topic = format!("{PREFIX}/north-3/status");
    publishers[2]
        .1
        .publish(&sentinel_topic, "sentinel", true)
        .await;
    let sentinel = Received {
        topic: sentinel_topic.clone(),
        payload: "sentinel".into(),
    };
    for (identity, client) in wide.iter().filter(|(i, _)| readers.contains(i)) {
        client.wait_for(&sentinel_topic, "sentinel").await;
        let expected: BTreeSet<Received> = allowed
            .iter()
            .filter(|m| may_read(identity, &m.topic))
            .cloned()
            .chain([sentinel.clone()])
            .collect();
        assert_eq!(
            set(client.received()),
            expected,
            "{identity} reads exactly what the ACL grants, none of {forged} forged messages"
        );
    }
    // The hub got every allowed message: each path that stays silent below
    // delivers when allowed.
    tokio::time::sleep(QUIET).await;
    for (identity, client) in wide.iter().filter(|(i, _)| !readers.contains(i)) {
        let received = client.received();
        assert!(
            received.is_empty(),
            "depot {identity} reads nothing: {received:?}"
        );
    }
    for (identity, client) in &narrow {
        let received = client.received();
        assert!(
            received.is_empty(),
            "{identity}'s forbidden filters: {received:?}"
        );
    }
    for (identity, client) in wide.iter().chain(&narrow).chain(&publishers) {
        assert_eq!(client.lost(), None, "{identity} stays connected");
    }

    // A late subscriber gets the retained state it may read, and the forged
    // retained messages replaced nothing.
    for reader in [CIVIL, MILITARY, HUB] {
        let late = session(&pki, port, reader, "late", &[&format!("{PREFIX}/#")]).await;
        let expected: BTreeSet<Received> = allowed
            .iter()
            .filter(|m| {
                may_read(reader, &m.topic)
                    && !m.topic.ends_with("/movements")
                    && m.topic != sentinel_topic
            })
            .cloned()
            .chain([sentinel.clone()])
            .collect();
        let deadline = std::time::Instant::now() + crate::harness::DEADLINE;
        while late.received().len() < expected.len() {
            assert!(
                std::time::Instant::now() < deadline,
                "{reader}'s retained state: {:?}",
                late.received()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(set(late.received()), expected, "{reader}'s retained state");
    }

    // Without a certificate of the CA the broker lets nobody in.
    let stranger = Pki::make(&["IP:127.0.0.1"], &["north-1"]);
    let tls = stranger.tls("north-1");
    let mut options = rumqttc::MqttOptions::new("stranger", "127.0.0.1", port);
    options.set_transport(rumqttc::Transport::tls_with_config(
        rumqttc::TlsConfiguration::Simple {
            ca: pki.tls("north-1").ca,
            alpn: None,
            client_auth: tls.client,
        },
    ));
    let (_client, mut eventloop) = rumqttc::AsyncClient::new(options, 10);
    let refused = tokio::time::timeout(crate::harness::DEADLINE, eventloop.poll())
        .await
        .expect("an answer");
    assert!(
        refused.is_err(),
        "a certificate of another CA is refused: {refused:?}\n{}",
        broker.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn depot_and_hub_run_the_feed_over_mqtts_with_their_certificates() {
    let depot_server = depot_server_binary();
    let pki = Pki::make(&["IP:127.0.0.1"], &["north-1", HUB, CIVIL]);
    let port = free_port();
    let _broker = Broker::start(&pki, port);
    let url = format!("mqtts://127.0.0.1:{port}");
    let dir = tempfile::tempdir().expect("dir");
    let client = Client::new();

    let hub_db = dir.path().join("hub.db");
    let cleared = cli(
        &hub_binary(),
        &hub_db,
        &["user", "add", "cell", "--role", "hub", "--restricted"],
    );
    let civil = cli(
        &hub_binary(),
        &hub_db,
        &["user", "add", "civil", "--role", "hub"],
    );
    let (_hub_process, hub) = start_hub(&hub_db, &url, &pki, HUB);
    eventually("the hub's subscription over mqtts", || async {
        let (_, body) = get(&client, "", &format!("{hub}/healthz")).await;
        (body["feed"] == "connected").then_some(())
    })
    .await;
    let cell = session(&pki, port, CIVIL, "watch", &[&format!("{PREFIX}/#")]).await;

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
    let (_depot_process, depot) =
        start_depot(&depot_server, &depot_db, "north-1", &url, &pki, "north-1");
    seed_depot(&client, &depot, &manager).await;
    book(&client, &depot, &manager, "open", "ART-1", 5).await;
    book(&client, &depot, &manager, "secret", "SECRET-1", 2).await;

    eventually("ART-1 at the hub", || async {
        (hub_total(&client, &hub, &civil, "ART-1").await == Some(5)).then_some(())
    })
    .await;
    eventually("SECRET-1 at the hub for a cleared user", || async {
        (hub_total(&client, &hub, &cleared, "SECRET-1").await == Some(2)).then_some(())
    })
    .await;
    let feed = eventually("both movements applied", || async {
        let feed = hub_depot(&client, &hub, &cleared, "north-1").await?;
        (feed["last_seq"] == 2).then_some(feed)
    })
    .await;
    assert_eq!(feed["movements_applied"], 2, "{feed}");
    assert_eq!(feed["link"], "online", "{feed}");
    let (_, uplink) = get(&client, &manager, &format!("{depot}/api/v1/uplink")).await;
    assert_eq!(uplink["state"], "online", "{uplink}");

    // The cell without clearance got the open stock and the utilisation
    // after both bookings, and nothing restricted and no movement.
    let utilization = format!("{PREFIX}/north-1/utilization");
    eventually("the utilisation after seq 2 at the cell", || async {
        cell.received()
            .iter()
            .any(|m| {
                m.topic == utilization
                    && serde_json::from_str::<Value>(&m.payload).is_ok_and(|v| v["seq"] == 2)
            })
            .then_some(())
    })
    .await;
    let topics: BTreeSet<String> = cell.received().into_iter().map(|m| m.topic).collect();
    assert!(
        topics.contains(&format!("{PREFIX}/north-1/stock/ART-1")),
        "{topics:?}"
    );
    assert!(
        topics
            .iter()
            .all(|t| !t.contains("/restricted/") && !t.ends_with("/movements")),
        "{topics:?}"
    );
}
