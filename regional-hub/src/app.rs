//! Wiring: open the store, start the feed if a broker is configured, serve
//! HTTP, and stop both when `shutdown` resolves.

use std::future::Future;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::watch;

use crate::config::Config;
use crate::feed;
use crate::http::{self, AppState};
use crate::store::Store;

/// Runs the hub until `shutdown` resolves.
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let store = Store::open(&config.db)
        .await
        .with_context(|| format!("opening the database {}", config.db))?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let address = listener.local_addr()?;
    let (stop, stopped) = watch::channel(false);
    let mut feed_task = None;
    let mut feed_link = None;
    if let Some(url) = &config.mqtt_url {
        let broker = feed::Broker::parse(url).map_err(anyhow::Error::msg)?;
        let tls = config.tls()?;
        let (connected, link) = watch::channel(false);
        feed_link = Some(link);
        let settings = feed::Settings {
            broker,
            tls,
            client_id: config.mqtt_client_id.clone(),
            keep_alive: Duration::from_secs(config.mqtt_keep_alive_s),
        };
        let mut stopped = stopped.clone();
        feed_task = Some(tokio::spawn(feed::run(
            store.clone(),
            settings,
            connected,
            async move {
                let _ = stopped.wait_for(|s| *s).await;
            },
        )));
    }
    let state = AppState {
        store: store.clone(),
        feed: feed_link,
        stale_after: time::Duration::seconds(
            i64::try_from(config.stale_after_s).unwrap_or(i64::MAX),
        ),
    };
    tracing::info!("regional-hub listening on http://{address}");
    let mut http_stopped = stopped.clone();
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop.send(true);
    });
    axum::serve(listener, http::router(state))
        .with_graceful_shutdown(async move {
            let _ = http_stopped.wait_for(|s| *s).await;
        })
        .await?;
    if let Some(task) = feed_task {
        let _ = task.await;
    }
    store.close().await;
    Ok(())
}
