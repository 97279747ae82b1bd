//! `regional-hub demo` as a newcomer runs it, against a real Mosquitto: it
//! prints the hub's address and tokens, and the hub soon shows every
//! simulated depot online, and then its gateway simulator's further
//! bookings applied, without gaps.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use reqwest::Client;
use support::{depot_feed, eventually, Process, HUB};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_shows_a_live_region() {
    let broker = support::Broker::start();
    let dir = tempfile::tempdir().expect("dir");
    let log = std::fs::File::create(dir.path().join("demo.log")).expect("log");
    let mut child = Command::new(HUB)
        .args(["demo", "--depots", "2", "--listen", "127.0.0.1:0"])
        .env("HUB_MQTT_URL", broker.url())
        .env("HUB_LOG", "info")
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .expect("spawn the demo");
    let stdout = child.stdout.take().expect("stdout");
    let _demo = Process(child);
    let mut hub = None;
    let mut token = None;
    let mut depots = 0;
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("line");
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["Hub", "page:", url, ..] => hub = Some(url.trim_end_matches('/').to_owned()),
            ["demo-cell", .., last] => token = Some((*last).to_owned()),
            ["Depot", _, url, ..] if url.starts_with("http://") => depots += 1,
            ["Stop", ..] => break,
            _ => {}
        }
    }
    let (hub, token) = (hub.expect("hub address"), token.expect("cell token"));
    assert_eq!(depots, 2, "two depots printed");
    assert!(token.starts_with("hub_"), "{token}");

    let client = Client::new();
    for id in ["demo-1", "demo-2"] {
        let seeded = eventually(&format!("{id} at the hub"), || async {
            let feed = depot_feed(&client, &hub, &token, id).await?;
            (feed["link"] == "online" && feed["last_seq"].as_i64()? > 0)
                .then(|| feed["last_seq"].as_i64())
                .flatten()
        })
        .await;
        // Live: the gateway simulator books more, each seq applied, no gaps.
        eventually(&format!("{id}'s simulated bookings at the hub"), || async {
            let feed = depot_feed(&client, &hub, &token, id).await?;
            (feed["last_seq"].as_i64()? > seeded && feed["gaps"].as_array()?.is_empty())
                .then_some(())
        })
        .await;
    }
    let (status, body) = support::get(&client, &token, &format!("{hub}/api/v1/capacity")).await;
    assert_eq!(status, 200);
    assert_eq!(body["depots"].as_array().map(Vec::len), Some(2), "{body}");
}
