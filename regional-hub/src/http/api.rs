//! The JSON handlers: depots and their freshness, an article's stock across
//! depots, free capacity per depot and for the region, and `/healthz`.
//! Restricted stock reaches only cleared callers: for anyone else it is
//! absent from lists and totals, and an article with nothing else is 404.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use feed_contract::LinkState;
use serde::Deserialize;
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::{ApiError, AppState, Caller};
use crate::core::Freshness;
use crate::store::{ArticleKey, Fill};

fn rfc3339(time: OffsetDateTime) -> String {
    time.format(&Rfc3339).unwrap_or_default()
}

/// `GET /healthz` (no auth): liveness, database and feed link.
pub async fn healthz(State(state): State<Arc<AppState>>) -> (StatusCode, Json<Value>) {
    let database = state.store.ping().await;
    let feed = match &state.feed {
        None => "off",
        Some(link) if *link.borrow() => "connected",
        Some(_) => "disconnected",
    };
    let status = if database {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({
            "status": if database && feed != "disconnected" { "ok" } else { "degraded" },
            "database": if database { "ok" } else { "error" },
            "feed": feed,
        })),
    )
}

/// The OpenAPI 3.1 document of this API, kept beside the handlers.
pub const OPENAPI: &str = include_str!("openapi.json");

/// `GET /api/v1/openapi.json` (no auth).
pub async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}

/// `GET /metrics` (no auth): Prometheus text; the per-depot figures are
/// read from the store now.
pub async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let now = OffsetDateTime::now_utc();
    match state.store.depots(now, state.stale_after).await {
        Ok(depots) => state.metrics.set_depots(&depots, now),
        Err(error) => tracing::warn!(%error, "metrics: depots not read"),
    }
    (
        [(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)],
        state.metrics.render(),
    )
        .into_response()
}

/// `GET /api/v1/depots`: each depot's cursor, gaps, link, freshness, epoch,
/// latest restore (with the seqs it lost) and a history rewritten without one.
pub async fn depots(
    State(state): State<Arc<AppState>>,
    Caller(_): Caller,
) -> Result<Json<Value>, ApiError> {
    let now = OffsetDateTime::now_utc();
    let depots = state.store.depots(now, state.stale_after).await?;
    let depots: Vec<Value> = depots
        .into_iter()
        .map(|d| {
            json!({
                "depot": d.depot,
                "last_seq": d.contiguous_seq,
                "newest_seq": d.newest_seq,
                "lag": d.newest_seq - d.contiguous_seq,
                "gaps": d.gaps.iter().map(|(from, to)| json!({"from": from, "to": to})).collect::<Vec<_>>(),
                "movements_applied": d.movements_applied,
                "duplicates": d.duplicates,
                "link": d.link.map(|(state, _)| match state { LinkState::Online => "online", LinkState::Offline => "offline" }),
                "link_since": d.link.map(|(_, since)| rfc3339(since)),
                "last_message": rfc3339(d.last_message),
                "age_s": (now - d.last_message).whole_seconds().max(0),
                "freshness": match d.freshness { Freshness::Fresh => "fresh", Freshness::Stale => "stale" },
                "epoch": d.epoch.as_ref().map(|e| json!({"id": e.id, "generation": e.generation, "base": e.base})),
                "restored": d.restored.as_ref().map(|r| json!({
                    "at": r.at.map(rfc3339),
                    "noticed": r.noticed.map(rfc3339),
                    "lost": r.lost.map(|(from, to)| json!({"from": from, "to": to})),
                    "lost_movements": r.lost_count,
                })),
                "history_diverged": d.diverged.map(|(seq, at)| json!({"seq": seq, "at": rfc3339(at)})),
            })
        })
        .collect();
    Ok(Json(json!({ "depots": depots })))
}

/// The query of `GET /api/v1/stock`: exactly one of the three.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StockQuery {
    sku: Option<String>,
    gtin: Option<String>,
    nsn: Option<String>,
}

/// `GET /api/v1/stock?sku=|gtin=|nsn=`: the article's stock per depot and in total.
pub async fn stock(
    State(state): State<Arc<AppState>>,
    Caller(user): Caller,
    query: Result<Query<StockQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let key = match (query.sku, query.gtin, query.nsn) {
        (Some(sku), None, None) => ArticleKey::Sku(sku),
        (None, Some(gtin), None) => ArticleKey::Gtin(gtin),
        // Accept the shown form NNNN-NN-NNN-NNNN as well as 13 digits.
        (None, None, Some(nsn)) => ArticleKey::Nsn(nsn.replace('-', "")),
        _ => {
            return Err(ApiError::BadRequest(
                "give exactly one of sku, gtin and nsn".into(),
            ))
        }
    };
    let rows = state.store.stock(&key, user.restricted).await?;
    if rows.is_empty() {
        return Err(ApiError::NotFound("no depot reports this article".into()));
    }
    let total: i64 = rows.iter().map(|r| r.total).sum();
    let depots: Vec<Value> = rows
        .into_iter()
        .map(|r| {
            json!({
                "depot": r.depot,
                "sku": r.sku,
                "name": r.name,
                "unit": r.unit,
                "gtin": r.gtin,
                "nsn": r.nsn,
                "classification": if r.restricted { "restricted" } else { "open" },
                "quantity": r.total,
                "zones": r.zones,
                "seq": r.seq,
                "time": rfc3339(r.time),
            })
        })
        .collect();
    Ok(Json(json!({ "depots": depots, "total": total })))
}

fn fill_json(fill: Fill) -> Value {
    json!({"used": fill.used, "capacity": fill.capacity, "free": fill.free})
}

/// `GET /api/v1/capacity`: free capacity per depot and for the region.
pub async fn capacity(
    State(state): State<Arc<AppState>>,
    Caller(_): Caller,
) -> Result<Json<Value>, ApiError> {
    let rows = state.store.capacity().await?;
    let region = json!({
        "volume_ml": fill_json(Fill::sum(rows.iter().map(|r| r.volume_ml))),
        "weight_g": fill_json(Fill::sum(rows.iter().map(|r| r.weight_g))),
        "pallets": fill_json(Fill::sum(rows.iter().map(|r| r.pallets))),
    });
    let depots: Vec<Value> = rows
        .into_iter()
        .map(|r| {
            json!({
                "depot": r.depot,
                "seq": r.seq,
                "time": rfc3339(r.time),
                "volume_ml": fill_json(r.volume_ml),
                "weight_g": fill_json(r.weight_g),
                "pallets": fill_json(r.pallets),
                "zones": r.zones,
            })
        })
        .collect();
    Ok(Json(json!({ "depots": depots, "region": region })))
}
