//! `/healthz` (no auth) and `/metrics` (Prometheus text).

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;

/// Liveness and the state of each part.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok` or `degraded`.
    pub status: &'static str,
    pub depot: String,
    /// `ok`, or the error.
    pub database: String,
    /// The newest ledger seq.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_seq: Option<i64>,
    /// The configured gateway (`sim`, `rtu:…`, `tcp:…`); polling comes with gate ingest.
    pub gateway: String,
    /// The configured uplink, or `none`; replication comes with the hub feed.
    pub uplink: String,
}

/// Liveness plus database, gateway and uplink state; 503 when the database does not answer.
#[utoipa::path(get, path = "/healthz", responses((status = 200, body = Health), (status = 503, body = Health)))]
pub async fn healthz(State(state): State<AppState>) -> Response {
    let (database, last_seq) = match state.depot.last_seq().await {
        Ok(seq) => ("ok".to_owned(), Some(seq)),
        Err(error) => {
            tracing::warn!(%error, "health check: database does not answer");
            ("unavailable".to_owned(), None)
        }
    };
    let healthy = last_seq.is_some();
    let body = Health {
        status: if healthy { "ok" } else { "degraded" },
        depot: state.status.depot_id.clone(),
        database,
        last_seq,
        gateway: state.status.gateway.clone(),
        uplink: state.status.uplink.clone().unwrap_or_else(|| "none".into()),
    };
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

/// Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> Response {
    let text = state.depot.metrics().render();
    ([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], text).into_response()
}
