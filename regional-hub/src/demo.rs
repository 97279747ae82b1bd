//! `regional-hub demo`: a live region in one command. Given a broker URL,
//! it starts the hub on a fresh database and then several simulated depots:
//! each is the real depot-server (its library, in this process) on a fresh
//! demo database with demo articles, locations and stock, its built-in
//! gateway simulator booking passes at the dock doors, and its real feed
//! publisher sending to the broker. Everything lives in a temp directory
//! removed at exit. Nothing here is used by `run`.

use std::future::Future;
use std::time::Duration;

use anyhow::{bail, Context};
use tokio::sync::oneshot;

use crate::app;
use crate::config::Config;
use crate::store::Store;

/// The most depots a demo starts.
pub const MAX_DEPOTS: u8 = 9;

/// One running simulated depot.
struct DemoDepot {
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// Runs the demo until `shutdown` resolves: the hub from `config` (its
/// database replaced by a fresh one) and `depots` simulated depots
/// `demo-1` … publishing to `config.mqtt_url`.
pub async fn run(
    mut config: Config,
    depots: u8,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    if !(1..=MAX_DEPOTS).contains(&depots) {
        bail!("--depots must be from 1 to {MAX_DEPOTS}");
    }
    let Some(mqtt_url) = config.mqtt_url.clone() else {
        bail!(
            "the demo needs a broker: start one (e.g. `mosquitto -p 1883`) and set \
             HUB_MQTT_URL=mqtt://127.0.0.1:1883"
        );
    };
    let dir = tempfile::Builder::new()
        .prefix("regional-hub-demo-")
        .tempdir()
        .context("creating the demo's directory")?;
    config.db = dir
        .path()
        .join("hub.db")
        .to_str()
        .context("the temp directory's path is not UTF-8")?
        .to_owned();
    // A fresh session name, so no broker keeps an old demo's queue for it.
    config.mqtt_client_id = format!("regional-hub-demo-{}", std::process::id());

    let store = Store::open(&config.db).await?;
    let now = time::OffsetDateTime::now_utc();
    let cell = store.add_user("demo-cell", true, now).await?;
    let civil = store.add_user("demo-civil", false, now).await?;
    store.close().await;

    let bound = app::bind(config).await?;
    let hub_url = format!("http://{}", bound.address);
    let mut subscribed = bound.feed_link.clone().context("the feed is configured")?;
    let (stop_hub, hub_stopped) = oneshot::channel::<()>();
    let hub = tokio::spawn(bound.serve(async move {
        let _ = hub_stopped.await;
    }));
    // Depots start only once the hub receives, so it sees every seq from 1.
    tokio::time::timeout(Duration::from_secs(30), subscribed.wait_for(|s| *s))
        .await
        .map_err(|_| anyhow::anyhow!("the hub did not subscribe at {mqtt_url} within 30 s"))?
        .context("the feed stopped")?;

    println!("Depot Edge regional hub demo: {depots} simulated depots, broker {mqtt_url}");
    println!("  Hub page: {hub_url}/  (log in with a token below)");
    println!("  Hub API:  {hub_url}/api/v1/depots  (OpenAPI: /api/v1/openapi.json)");
    println!("  Hub users (API: 'Authorization: Bearer TOKEN'; page: paste the token):");
    println!("    demo-cell   cleared for restricted  {cell}");
    println!("    demo-civil  open articles only      {civil}");

    let mut running = Vec::new();
    for n in 1..=depots {
        let id = format!("demo-{n}");
        let depot_config = depot_server::config::Config {
            depot_id: id.clone(),
            db: dir.path().join(format!("{id}.db")),
            listen: "127.0.0.1:0".parse()?,
            mqtt_url: Some(mqtt_url.clone()),
            gateway: "sim".into(),
            // Different paces, so the depots do not move in step.
            sim_pass_interval_ms: 1_500 + 700 * u64::from(n),
            ..depot_server::config::Config::default()
        };
        let bound = depot_server::app::bind(depot_config)
            .await
            .with_context(|| format!("starting depot {id}"))?;
        let users = depot_server::demo::seed(bound.depot()).await?;
        let manager = users
            .0
            .iter()
            .find(|u| u.name == "demo-manager")
            .map(|u| u.token.clone())
            .unwrap_or_default();
        println!(
            "  Depot {id}: http://{}/  (demo-manager token {manager})",
            bound.address
        );
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(bound.serve(async move {
            let _ = stopped.await;
        }));
        running.push(DemoDepot { stop, task });
    }
    println!("  Stop with Ctrl-C.");

    shutdown.await;
    for depot in running {
        let _ = depot.stop.send(());
        depot.task.await.context("a demo depot failed")??;
    }
    let _ = stop_hub.send(());
    hub.await.context("the hub failed")??;
    drop(dir);
    Ok(())
}
