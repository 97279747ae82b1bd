//! `/api/v1/uplink`: the feed to the regional hub: connection, durable
//! cursor, backlog and lag. `/healthz` and `/metrics` report the same figures.

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::error::{answers, ApiError};
use super::extract::Authenticated;
use super::{openapi, AppState};
use crate::depot::UplinkStatus;
use crate::metrics::Metrics;

/// The feed's state.
#[derive(Debug, Serialize, ToSchema)]
pub struct UplinkView {
    /// The configured broker (credentials hidden), `null` when the feed is off.
    pub broker: Option<String>,
    /// `off` (no broker configured), `connecting`, `online` or `offline`.
    #[schema(schema_with = openapi::uplink_state)]
    pub state: &'static str,
    /// When the state last changed (RFC 3339).
    pub since: Option<String>,
    /// Why the last connection failed or ended.
    pub last_error: Option<String>,
    /// The ledger's newest seq.
    pub last_seq: i64,
    /// Every movement up to this seq (and the snapshots it changed) has the broker's PUBACK.
    pub acked_seq: i64,
    /// When the acknowledged position was last saved (RFC 3339).
    pub acked_at: Option<String>,
    /// Movements not yet acknowledged.
    pub backlog_movements: i64,
    /// Master-data changes (articles, locations) not yet acknowledged.
    pub backlog_outbox: i64,
    /// The oldest movement not yet acknowledged; it is sent first.
    pub oldest_unacked_seq: Option<i64>,
    /// Age of that movement in ms: how far the hub is behind; 0 when nothing is owed.
    pub lag_ms: i64,
    /// The last PUBACK (RFC 3339).
    pub last_puback: Option<String>,
    /// Messages sent and not yet acknowledged.
    pub in_flight: usize,
}

fn rfc3339(at: Option<OffsetDateTime>) -> Option<String> {
    at.and_then(|at| at.format(&Rfc3339).ok())
}

impl UplinkView {
    /// The view of `status` at `now`.
    pub fn new(status: UplinkStatus, broker: Option<String>, now: OffsetDateTime) -> Self {
        let lag_ms = status.oldest_unacked.map_or(0, |(_, at)| {
            i64::try_from((now - at).whole_milliseconds().max(0)).unwrap_or(i64::MAX)
        });
        Self {
            broker,
            state: status.live.state.as_str(),
            since: rfc3339(status.live.since),
            last_error: status.live.last_error,
            last_seq: status.last_seq,
            acked_seq: status.acked.ledger_seq,
            acked_at: rfc3339(status.acked_at),
            backlog_movements: status.backlog_movements,
            backlog_outbox: status.backlog_outbox,
            oldest_unacked_seq: status.oldest_unacked.map(|(seq, _)| seq),
            lag_ms,
            last_puback: rfc3339(status.live.last_puback),
            in_flight: status.live.in_flight,
        }
    }

    /// Sets the feed's gauges in `/metrics` to these figures.
    pub fn record(&self, metrics: &Metrics) {
        metrics.feed_acked_seq.set(self.acked_seq);
        metrics.feed_backlog_movements.set(self.backlog_movements);
        metrics.feed_backlog_outbox.set(self.backlog_outbox);
        metrics.feed_lag_seconds.set(self.lag_ms / 1_000);
    }
}

/// The feed to the regional hub: connection, acknowledged seq, backlog, lag.
#[utoipa::path(get, path = "/api/v1/uplink", operation_id = "readUplink", tag = "uplink",
    security(("bearer" = [])),
    responses((status = 200, body = UplinkView),
        (status = 401, response = answers::Unauthorized), (status = 503, response = answers::Unavailable)))]
pub async fn uplink(
    State(state): State<AppState>,
    Authenticated(_caller): Authenticated,
) -> Result<Json<UplinkView>, ApiError> {
    let status = state.depot.uplink_status().await?;
    let view = UplinkView::new(
        status,
        state.status.uplink.clone(),
        OffsetDateTime::now_utc(),
    );
    Ok(Json(view))
}
