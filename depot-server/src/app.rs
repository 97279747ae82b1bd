//! Wiring: open the database, start the booking writer, the gate poller, the
//! feed publisher (when a broker is configured) and the HTTP server (HTTPS
//! when a certificate is configured, reloaded on SIGHUP), tell systemd when
//! it is ready and keep its watchdog fed, and shut down gracefully (pollers
//! stopped, in-flight bookings finished and answered, the feed says
//! `offline` and saves its cursor).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::middleware;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::Config;
use crate::connections::BoundedListener;
use crate::depot::{Depot, DepotOptions, StoreOptions, Writer};
use crate::domain::rate::Rate;
use crate::gates;
use crate::http::limits::{ClientAddress, LimitSettings, Limits};
use crate::http::{AppState, StaticStatus};
use crate::metrics::Metrics;
use crate::replication;
use crate::service;
use crate::tls::{self, CertStore, TlsFiles, TlsListener};
use crate::web;

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

/// The HTTP rate limits and request timeout the configuration asks for
/// (0 turns one off).
pub fn limit_settings(config: &Config) -> LimitSettings {
    LimitSettings {
        token: Rate::per_second(config.api_token_rate_per_s, config.api_token_burst),
        address: Rate::per_second(config.api_address_rate_per_s, config.api_address_burst),
        login: Rate::per_minute(config.login_rate_per_min, config.login_burst),
        request_timeout: (config.request_timeout_ms > 0)
            .then(|| Duration::from_millis(config.request_timeout_ms)),
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
    feed: Option<replication::Settings>,
    /// The serving lock (`backups::lock`), released when the server stops.
    _lock: crate::backups::ServingLock,
    tls: Option<Arc<CertStore>>,
}

/// The feed's settings, if a broker is configured.
pub fn feed_settings(config: &Config) -> anyhow::Result<Option<replication::Settings>> {
    let Some(url) = config.mqtt_url.as_deref() else {
        return Ok(None);
    };
    let broker = replication::Broker::parse(url)
        .map_err(|reason| anyhow::anyhow!("configuration: mqtt_url: {reason}"))?;
    // `resolve()` checked the id's syntax, which is the topics' syntax.
    let depot = feed_contract::DepotId::parse(&config.depot_id)
        .with_context(|| format!("configuration: depot_id '{}'", config.depot_id))?;
    let read = |key: &str, path: &std::path::Path| {
        std::fs::read(path)
            .with_context(|| format!("configuration: {key}: cannot read {}", path.display()))
    };
    let tls = match (&config.mqtt_ca_file, broker.tls) {
        (Some(ca), true) => Some(replication::Tls {
            ca: read("mqtt_ca_file", ca)?,
            client: match (&config.mqtt_cert_file, &config.mqtt_key_file) {
                (Some(cert), Some(key)) => {
                    Some((read("mqtt_cert_file", cert)?, read("mqtt_key_file", key)?))
                }
                _ => None,
            },
        }),
        _ => None,
    };
    Ok(Some(replication::Settings {
        depot,
        broker,
        tls,
        window: config.mqtt_inflight,
        keep_alive: Duration::from_secs(config.mqtt_keep_alive_s),
    }))
}

/// Opens the database and binds the listener (port 0 picks a free port).
/// Holds `{db}.lock` while serving, so that a restore cannot replace the
/// database under it, and refuses a database that belongs to another depot.
pub async fn bind(config: Config) -> anyhow::Result<Bound> {
    let feed = feed_settings(&config)?;
    let lock = crate::backups::lock(&config.db)?;
    let tls = match (&config.tls_cert_file, &config.tls_key_file) {
        (Some(cert), Some(key)) => Some(
            CertStore::open(TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
            })
            .context("configuration: tls_cert_file, tls_key_file")?,
        ),
        _ => None,
    };
    let (depot, writer) = open_depot(&config).await?;
    if let Err(error) = depot.claim(&config.depot_id).await {
        close_quietly(depot, writer).await;
        anyhow::bail!("cannot serve {}: {error}", config.db.display());
    }
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
        feed,
        _lock: lock,
        tls,
    })
}

/// Stops a depot that will not serve: the writer finishes once the last
/// handle on the depot is gone.
async fn close_quietly(depot: Depot, writer: Writer) {
    depot.close().await;
    drop(depot);
    writer.finished().await;
}

impl Bound {
    /// The depot behind the server, e.g. to seed demo data before serving.
    pub fn depot(&self) -> &Depot {
        &self.depot
    }

    /// `https` when the listener speaks TLS, else `http`.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }

    /// Serves until `shutdown` completes, then finishes in-flight requests and bookings.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let scheme = self.scheme();
        let Bound {
            address,
            listener,
            depot,
            writer,
            config,
            feed,
            _lock,
            tls,
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
        let lights = crate::rpi::start(&config, &depot, stop.clone())?;
        let mut pollers = gates::start(&config, &depot, demo, stop.clone()).await?;
        if let Some(dir) = &config.backup_dir {
            let schedule = crate::backups::Schedule {
                dir: dir.clone(),
                interval: Duration::from_secs(config.backup_interval_s),
                keep: config.backup_keep,
                depot_id: config.depot_id.clone(),
            };
            tracing::info!(dir = %dir.display(), every_s = config.backup_interval_s,
                keep = config.backup_keep, "scheduled backups on");
            pollers.push(crate::backups::spawn(depot.clone(), schedule, stop));
        }
        let (stop_feed, feed_stopped) = tokio::sync::watch::channel(false);
        let publisher = feed.map(|settings| {
            depot.report_uplink(|live| live.state = crate::depot::LinkState::Connecting);
            tokio::spawn(replication::run(depot.clone(), settings, feed_stopped))
        });
        let state = AppState {
            depot: depot.clone(),
            max_body_bytes: config.max_body_bytes,
            status: Arc::new(StaticStatus {
                depot_id: config.depot_id.clone(),
                gateway: config.gateway.clone(),
                uplink: config.mqtt_url.as_deref().map(crate::config::redact_url),
            }),
            limits: Arc::new(Limits::new(limit_settings(&config))),
        };
        let mut router = web::router(state);
        if tls.is_some() {
            router = router.layer(middleware::from_fn(tls::over_tls));
        }
        let reloader = tokio::spawn(tls::reload_on_sighup(tls.clone()));
        let (stop_watchdog, watchdog_stopped) = watch::channel(false);
        let watchdog = service::watchdog_period().map(|period| {
            tracing::info!(
                period_ms = period.as_millis(),
                "systemd watchdog on: keep-alive while the writer and HTTP answer"
            );
            tokio::spawn(service::keep_alive(
                depot.clone(),
                router.clone(),
                period,
                watchdog_stopped,
            ))
        });
        tracing::info!("depot-server listening on {scheme}://{address}");
        service::ready(&format!("serving on {scheme}://{address}"));
        let listener = BoundedListener::new(
            listener,
            usize::try_from(config.max_connections)?,
            crate::connections::IDLE_TIMEOUT,
        );
        let service = router.into_make_service_with_connect_info::<ClientAddress>();
        let served = match tls {
            Some(store) => {
                let listener = TlsListener::new(listener, store.server_config())
                    .context("cannot start the TLS listener")?;
                axum::serve(listener, service)
                    .with_graceful_shutdown(shutdown)
                    .await
            }
            None => {
                axum::serve(listener, service)
                    .with_graceful_shutdown(shutdown)
                    .await
            }
        };
        service::stopping();
        reloader.abort();
        let _ = stop_watchdog.send(true);
        if let Some(watchdog) = watchdog {
            let _ = watchdog.await;
        }
        served.context("HTTP server failed")?;
        tracing::info!(
            "HTTP server stopped; stopping the gate poller and the feed, finishing bookings"
        );
        let _ = stop_pollers.send(true);
        for poller in pollers.into_iter().chain(lights) {
            if let Err(error) = poller.await {
                tracing::error!(%error, "gate poller failed");
            }
        }
        let _ = stop_feed.send(true);
        if let Some(publisher) = publisher {
            if let Err(error) = publisher.await {
                tracing::error!(%error, "the feed publisher failed");
            }
        }
        // The writer ends when the last handle to the depot is gone.
        drop(depot);
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
