//! `/healthz` (no auth) and `/metrics` (Prometheus text).

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::uplink::UplinkView;
use super::AppState;
use crate::domain::epoch::FeedEpoch;

/// Liveness and the state of each part.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`, or `failing` when any part below is not ok (then the status is 503).
    pub status: &'static str,
    pub depot: String,
    /// `ok`, `full` (the last write failed for lack of space: disk or
    /// `max_db_size_kib`), or `unavailable` (the database does not answer).
    pub database: &'static str,
    /// `ok`, or `stopped` when the writer cannot open the database (bookings get 503).
    pub writer: &'static str,
    /// Times the writer recovered from a panic since the start.
    pub writer_restarts: u64,
    /// The writer's last failure, if any: RFC 3339 time and what.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_failure: Option<Failure>,
    /// The newest ledger seq.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_seq: Option<i64>,
    /// The ledger's hash chain head after the last commit: `depot-server
    /// verify` recomputes it; a hub that saw another hash for this seq sees
    /// a rewritten history.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chain_head: Option<ChainView>,
    /// The feed's epoch: which history of the ledger this database holds
    /// (a restore starts a new one; the feed carries it with every message).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epoch: Option<EpochView>,
    /// The wall clock: `ok`, `before_build` (before this program was built:
    /// a box that booted without a time source) or `behind` (behind times
    /// already written). Bookings go on in seq order either way, so this
    /// never makes `status` failing; idempotency records are not expired
    /// while it is not `ok`.
    pub clock: &'static str,
    /// RFC 3339 (by the clock itself): since when `clock` holds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clock_since: Option<String>,
    /// Pages in use, in KiB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_size_kib: Option<u64>,
    /// The configured cap (`max_db_size_kib`), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_db_size_kib: Option<u64>,
    /// The configured gateway shorthand (`sim`, `rtu:…`, `tcp:…`).
    pub gateway: String,
    /// Each polled gateway's link: `starting`, `online`, `offline` or
    /// `degraded` (details at `/api/v1/gates`). A gateway that is not online
    /// does not make the depot failing: bookings go on.
    pub gateways: Vec<GatewayLink>,
    /// The configured uplink (credentials hidden), or `none`.
    pub uplink: String,
    /// The feed's connection: `off` (no broker configured), `connecting`,
    /// `online` or `offline`. A depot works alone when its uplink is cut, so
    /// this never makes `status` failing: alert on the feed's lag instead.
    pub uplink_state: &'static str,
    /// The feed's cursor, backlog and lag (as `/api/v1/uplink`), when the
    /// database answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub feed: Option<UplinkView>,
}

/// A chain head: the last sealed seq and its SHA-256 (hex).
#[derive(Debug, Serialize, ToSchema)]
pub struct ChainView {
    pub seq: i64,
    pub hash: String,
}

/// The feed's epoch in `/healthz`.
#[derive(Debug, Serialize, ToSchema)]
pub struct EpochView {
    /// Random, 32 hex digits; new at every restore.
    pub id: String,
    /// 0 for the depot's first database; one more at each restore.
    pub generation: u64,
    /// The seq this epoch's history continues from (the backup's last seq).
    pub base_seq: i64,
    /// When this epoch began with a restore, what was put back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restored: Option<RestoredView>,
}

/// What a restore put back.
#[derive(Debug, Serialize, ToSchema)]
pub struct RestoredView {
    /// RFC 3339.
    pub at: String,
    pub head_seq: i64,
    /// `None` for a backup from before the hash chain.
    pub head_hash: Option<String>,
}

impl EpochView {
    fn of(epoch: &FeedEpoch) -> EpochView {
        EpochView {
            id: epoch.id.to_hex(),
            generation: epoch.generation,
            base_seq: epoch.base_seq,
            restored: epoch.restored.as_ref().map(|mark| RestoredView {
                at: mark.at.format(&Rfc3339).unwrap_or_default(),
                head_seq: epoch.base_seq,
                head_hash: mark.head_hash.map(|hash| hash.to_hex()),
            }),
        }
    }
}

/// One gateway's link in `/healthz`.
#[derive(Debug, Serialize, ToSchema)]
pub struct GatewayLink {
    pub id: String,
    pub state: &'static str,
    /// RFC 3339: since when the state holds.
    pub since: String,
}

/// A failure as `/healthz` reports it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Failure {
    pub at: String,
    pub what: String,
}

/// Liveness plus database, writer, gateway and uplink state; 503 when any is not ok.
#[utoipa::path(get, path = "/healthz", operation_id = "readHealth", tag = "health",
    responses((status = 200, body = Health, description = "the database and the writer are ok"),
        (status = 503, body = Health, description = "the database or the writer is not ok")))]
pub async fn healthz(State(state): State<AppState>) -> Response {
    let writer = state.depot.writer_health();
    let (answers, last_seq, size) = match state.depot.storage_status().await {
        Ok((seq, size)) => (true, Some(seq), Some(size)),
        Err(error) => {
            tracing::debug!(%error, "health check: database does not answer");
            (false, None, None)
        }
    };
    let database = match (answers, writer.database_full) {
        (false, _) => "unavailable",
        (true, true) => "full",
        (true, false) => "ok",
    };
    let healthy = database == "ok" && !writer.stopped;
    let feed = feed_view(&state).await;
    let epoch = state.depot.feed_epoch().await.ok();
    let body = Health {
        status: if healthy { "ok" } else { "failing" },
        depot: state.status.depot_id.clone(),
        database,
        writer: if writer.stopped { "stopped" } else { "ok" },
        writer_restarts: writer.restarts,
        last_failure: writer.last_failure.map(|(at, what)| Failure {
            at: at.format(&Rfc3339).unwrap_or_default(),
            what,
        }),
        last_seq,
        chain_head: writer.chain_head.map(|head| ChainView {
            seq: head.seq,
            hash: head.hash.to_hex(),
        }),
        epoch: epoch.as_ref().map(EpochView::of),
        clock: writer.clock.as_str(),
        clock_since: writer
            .clock_since
            .map(|at| at.format(&Rfc3339).unwrap_or_default()),
        database_size_kib: size.map(|(used, _)| used),
        max_db_size_kib: size.and_then(|(_, cap)| cap),
        gateway: state.status.gateway.clone(),
        gateways: state
            .depot
            .gateway_summary()
            .into_iter()
            .map(|g| GatewayLink {
                id: g.id,
                state: g.link.as_str(),
                since: g.since.format(&Rfc3339).unwrap_or_default(),
            })
            .collect(),
        uplink: state.status.uplink.clone().unwrap_or_else(|| "none".into()),
        uplink_state: state.depot.uplink_live().state.as_str(),
        feed,
    };
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

/// The feed's figures, `None` if the database does not answer.
async fn feed_view(state: &AppState) -> Option<UplinkView> {
    match state.depot.uplink_status().await {
        Ok(status) => Some(UplinkView::new(
            status,
            state.status.uplink.clone(),
            OffsetDateTime::now_utc(),
        )),
        Err(error) => {
            tracing::debug!(%error, "health check: feed state unavailable");
            None
        }
    }
}

/// Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", operation_id = "readMetrics", tag = "health",
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> Response {
    if let Some(feed) = feed_view(&state).await {
        feed.record(state.depot.metrics());
    }
    let text = state.depot.metrics().render();
    ([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], text).into_response()
}
