//! The hub's HTTP side (axum): the JSON API with bearer tokens and
//! problem+json errors, its OpenAPI document, `/metrics`, and the web page
//! (`pages/`). Handlers call the store's read methods and shape JSON or
//! HTML; they decide nothing about the feed.

mod api;
mod error;
pub mod pages;

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::routing::get;
use axum::Router;
use tokio::sync::watch;

pub use self::error::ApiError;
use crate::metrics::Metrics;
use crate::store::{Store, User};

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    /// Whether the feed's broker link is up; `None` when no broker is configured.
    pub feed: Option<watch::Receiver<bool>>,
    pub stale_after: time::Duration,
    pub metrics: Arc<Metrics>,
    /// Turns true at shutdown: live streams end, so the server can stop.
    pub stopping: watch::Receiver<bool>,
}

/// The router with every route.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(api::healthz))
        .route("/api/v1/depots", get(api::depots))
        .route("/api/v1/stock", get(api::stock))
        .route("/api/v1/capacity", get(api::capacity))
        .route("/api/v1/openapi.json", get(api::openapi))
        .route("/metrics", get(api::metrics))
        .merge(pages::router())
        .with_state(Arc::new(state))
}

/// An authenticated hub user, from `Authorization: Bearer TOKEN`.
pub struct Caller(pub User);

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or(ApiError::Unauthorized)?;
        match state.store.user_by_token(token.trim()).await? {
            Some(user) => Ok(Caller(user)),
            None => Err(ApiError::Unauthorized),
        }
    }
}
