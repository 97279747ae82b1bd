//! Wiring: open the store, bind the listener, start the feed if a broker is
//! configured, serve HTTP, and stop both when `shutdown` resolves.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::Config;
use crate::feed;
use crate::http::{self, AppState};
use crate::metrics::Metrics;
use crate::store::Store;

/// A hub that is bound and about to serve.
pub struct Bound {
    /// The HTTP address (port 0 in the configuration picks a free one).
    pub address: SocketAddr,
    listener: TcpListener,
    store: Store,
    config: Config,
    feed: Option<(feed::Settings, watch::Sender<bool>)>,
    /// True from the feed's subscription until its link is lost.
    pub feed_link: Option<watch::Receiver<bool>>,
}

/// Opens (and migrates) the database and binds the listener.
pub async fn bind(config: Config) -> anyhow::Result<Bound> {
    let store = Store::open(&config.db)
        .await
        .with_context(|| format!("opening the database {}", config.db))?;
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let address = listener.local_addr()?;
    let (feed, feed_link) = match &config.mqtt_url {
        Some(url) => {
            let broker = feed::Broker::parse(url).map_err(anyhow::Error::msg)?;
            let tls = config.tls()?;
            let (connected, link) = watch::channel(false);
            let settings = feed::Settings {
                broker,
                tls,
                client_id: config.mqtt_client_id.clone(),
                keep_alive: Duration::from_secs(config.mqtt_keep_alive_s),
                share_group: config.mqtt_share_group.clone(),
                resend_after: Duration::from_secs(config.resend_after_s),
            };
            (Some((settings, connected)), Some(link))
        }
        None => (None, None),
    };
    Ok(Bound {
        address,
        listener,
        store,
        config,
        feed,
        feed_link,
    })
}

/// Runs the hub until `shutdown` resolves.
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    bind(config).await?.serve(shutdown).await
}

impl Bound {
    /// Serves until `shutdown` resolves, then stops the feed and closes the store.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let Bound {
            address,
            listener,
            store,
            config,
            feed,
            feed_link,
        } = self;
        let metrics = Arc::new(Metrics::default());
        let (stop, stopped) = watch::channel(false);
        let feed_task = feed.map(|(settings, connected)| {
            let mut stopped = stopped.clone();
            tokio::spawn(feed::run(
                store.clone(),
                settings,
                connected,
                metrics.clone(),
                async move {
                    let _ = stopped.wait_for(|s| *s).await;
                },
            ))
        });
        let state = AppState {
            store: store.clone(),
            feed: feed_link,
            stale_after: time::Duration::seconds(
                i64::try_from(config.stale_after_s).unwrap_or(i64::MAX),
            ),
            metrics,
            stopping: stopped.clone(),
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
}
