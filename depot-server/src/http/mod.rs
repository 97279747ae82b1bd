//! HTTP adapter (axum): routes, extractors, problem+json errors, OpenAPI.
//!
//! Handlers parse and validate input into domain values, call one `Depot`
//! method, and render the answer. They hold no rules of their own.

pub mod articles;
pub mod deliveries;
pub mod error;
pub mod extract;
pub mod gates;
pub mod health;
pub mod items;
pub mod limits;
pub mod locations;
pub mod movements;
pub mod openapi;
pub mod scans;
pub mod stock;
pub mod uplink;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use self::error::{Problem, PROBLEM_JSON};
use crate::depot::Depot;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub depot: Depot,
    /// The largest accepted request body.
    pub max_body_bytes: usize,
    /// Static facts for `/healthz`: which gateway and uplink are configured.
    pub status: Arc<StaticStatus>,
    /// Rate limits and the request timeout.
    pub limits: Arc<limits::Limits>,
}

/// Configured peers, as `/healthz` reports them until their adapters exist.
#[derive(Debug, Clone)]
pub struct StaticStatus {
    pub depot_id: String,
    pub gateway: String,
    pub uplink: Option<String>,
}

/// The complete router: `/healthz` and `/metrics` (internal, not rate
/// limited) and the `/api/` routes behind their rate limits.
pub fn router(state: AppState) -> Router {
    let max_body_bytes = state.max_body_bytes;
    let api = Router::new()
        .route("/api/v1/openapi.json", get(openapi::document))
        .route(
            "/api/v1/articles",
            get(articles::list).post(articles::create),
        )
        .route(
            "/api/v1/articles/{sku}",
            get(articles::read).put(articles::replace),
        )
        .route(
            "/api/v1/locations",
            get(locations::list).post(locations::create),
        )
        .route(
            "/api/v1/locations/{code}",
            get(locations::read).put(locations::replace),
        )
        .route(
            "/api/v1/movements",
            get(movements::list).post(movements::book),
        )
        .route("/api/v1/scans", axum::routing::post(scans::apply_batch))
        .route("/api/v1/gates", get(gates::gateways))
        .route("/api/v1/gates/passes", get(gates::passes))
        .route("/api/v1/gates/unresolved", get(gates::unresolved))
        .route(
            "/api/v1/gates/passes/{id}/resolution",
            axum::routing::post(gates::resolve),
        )
        .route(
            "/api/v1/deliveries",
            axum::routing::post(deliveries::create),
        )
        .route("/api/v1/deliveries/{reference}", get(deliveries::read))
        .route(
            "/api/v1/deliveries/{reference}/close",
            axum::routing::post(deliveries::close),
        )
        .route("/api/v1/stock", get(stock::stock))
        .route("/api/v1/utilization", get(stock::utilization))
        .route("/api/v1/items/{epc}", get(items::read))
        .route("/api/v1/uplink", get(uplink::uplink))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            limits::limit_api,
        ));
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/metrics", get(health::metrics))
        .merge(api)
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            problems_and_metrics,
        ))
        .with_state(state)
}

async fn not_found() -> Problem {
    Problem::new(StatusCode::NOT_FOUND, "not-found", "no such resource")
}

/// Counts responses, and turns any error answered by axum itself (a bad path
/// or query parameter, a wrong method) into problem+json, so every error has
/// the same shape.
async fn problems_and_metrics(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    state.depot.metrics().count_response(status.as_u16());
    // Our own errors are problem+json already, and `/healthz` answers its
    // 503 with its JSON report; only axum's plain-text errors are rewritten.
    let is_ours = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| {
            let v = v.as_bytes();
            v.starts_with(PROBLEM_JSON.as_bytes()) || v.starts_with(b"application/json")
        });
    if !(status.is_client_error() || status.is_server_error()) || is_ours {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
    let detail = String::from_utf8_lossy(&text).trim().to_owned();
    let slug = if status == StatusCode::METHOD_NOT_ALLOWED {
        "method-not-allowed"
    } else {
        "bad-request"
    };
    let detail = if detail.is_empty() {
        status.canonical_reason().unwrap_or("error").to_owned()
    } else {
        detail
    };
    let mut fixed = Problem::new(status, slug, detail).into_response();
    if let Some(allow) = parts.headers.get(header::ALLOW) {
        fixed.headers_mut().insert(header::ALLOW, allow.clone());
    }
    fixed
}

/// A JSON answer with a status.
pub fn json_response(status: StatusCode, body: String) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}

/// Query-string paging: `limit` 1..=1000, default 100.
pub fn page_limit(limit: Option<i64>) -> Result<i64, error::ApiError> {
    match limit {
        None => Ok(100),
        Some(n) if (1..=1000).contains(&n) => Ok(n),
        Some(n) => Err(crate::domain::FieldError::new(
            "limit",
            format!("must be 1 to 1000, got {n}"),
        )
        .into()),
    }
}
