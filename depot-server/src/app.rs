//! Wiring: open the database, start the booking writer, the gate poller and
//! the HTTP server, and shut down gracefully (pollers stopped, in-flight
//! bookings finished and answered).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::Config;
use crate::depot::{Depot, DepotOptions, StoreOptions, Writer};
use crate::gates;
use crate::http::{self, AppState, StaticStatus};
use crate::metrics::Metrics;

/// The database options the configuration asks for.
pub fn depot_options(config: &Config) -> DepotOptions {
    DepotOptions {
        store: StoreOptions {
            busy_timeout_ms: config.busy_timeout_ms,
            // SQLite's default page size is 4 KiB.
            max_page_count: config.max_db_size_kib.map(|kib| kib / 4),
            ..StoreOptions::default()
        },
        idempotency_retention: Duration::from_secs(
            u64::from(config.idempotency_retention_days) * 24 * 3_600,
        ),
    }
}

/// Opens the depot (migrating the database) with a fresh set of counters,
/// for the commands that do one thing and exit.
pub async fn open_depot(config: &Config) -> anyhow::Result<(Depot, Writer)> {
    Depot::open(
        &config.db,
        &depot_options(config),
        Arc::new(Metrics::default()),
    )
    .await
    .with_context(|| format!("cannot open the database {}", config.db.display()))
}

/// A server that is bound and about to serve.
pub struct Bound {
    pub address: SocketAddr,
    listener: TcpListener,
    depot: Depot,
    writer: Writer,
    config: Config,
}

/// Opens the database and binds the listener (port 0 picks a free port).
pub async fn bind(config: Config) -> anyhow::Result<Bound> {
    let (depot, writer) = open_depot(&config).await?;
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let address = listener.local_addr()?;
    Ok(Bound {
        address,
        listener,
        depot,
        writer,
        config,
    })
}

impl Bound {
    /// The depot behind the server, e.g. to seed demo data before serving.
    pub fn depot(&self) -> &Depot {
        &self.depot
    }

    /// Serves until `shutdown` completes, then finishes in-flight requests and bookings.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let Bound {
            address,
            listener,
            depot,
            writer,
            config,
        } = self;
        let demo = crate::depot::peek_meta(
            &config.db,
            &depot_options(&config).store,
            crate::demo::DEMO_MARK,
        )
        .await
        .as_deref()
            == Some("true");
        let (stop_pollers, stop) = watch::channel(false);
        let pollers = gates::start(&config, &depot, demo, stop).await?;
        let state = AppState {
            depot,
            max_body_bytes: config.max_body_bytes,
            status: Arc::new(StaticStatus {
                depot_id: config.depot_id.clone(),
                gateway: config.gateway.clone(),
                uplink: config.mqtt_url.as_deref().map(crate::config::redact_url),
            }),
        };
        tracing::info!("depot-server listening on http://{address}");
        axum::serve(listener, http::router(state))
            .with_graceful_shutdown(shutdown)
            .await
            .context("HTTP server failed")?;
        tracing::info!("HTTP server stopped; stopping the gate poller, finishing bookings");
        let _ = stop_pollers.send(true);
        for poller in pollers {
            if let Err(error) = poller.await {
                tracing::error!(%error, "gate poller failed");
            }
        }
        writer.finished().await;
        tracing::info!("shutdown complete");
        Ok(())
    }
}

/// Completes on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("Ctrl-C: shutting down"),
        () = terminate => tracing::info!("SIGTERM: shutting down"),
    }
}
