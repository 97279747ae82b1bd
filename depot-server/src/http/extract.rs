//! Request extractors: the authenticated caller and JSON bodies, each failing
//! with a problem+json answer (401, 400, 413, 415, 422) instead of axum's text.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::error::ApiError;
use super::AppState;
use crate::domain::access::Caller;

/// The caller, from `Authorization: Bearer TOKEN`.
pub struct Authenticated(pub Caller);

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|token| !token.is_empty() && token.len() <= 256)
            .ok_or(ApiError::Unauthorized)?;
        state
            .depot
            .authenticate(token)
            .await?
            .map(Authenticated)
            .ok_or(ApiError::Unauthorized)
    }
}

/// A JSON body, parsed into `T`, with the raw bytes kept for idempotency hashing.
pub struct JsonBody<T> {
    pub value: T,
    pub raw: Bytes,
}

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(';').next())
            .map(|mime| {
                let mime = mime.trim().to_ascii_lowercase();
                mime == "application/json"
                    || (mime.starts_with("application/") && mime.ends_with("+json"))
            })
            .unwrap_or(false);
        if !is_json {
            return Err(ApiError::UnsupportedMediaType);
        }
        let limit_bytes = state.max_body_bytes;
        let raw = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::TooLarge { limit_bytes }
                } else {
                    ApiError::BadRequest(format!(
                        "the body could not be read: {}",
                        rejection.body_text()
                    ))
                }
            })?;
        let value = parse_json(&raw)?;
        Ok(Self { value, raw })
    }
}

/// Parses JSON: broken syntax is 400, the wrong shape (types, unknown or
/// missing fields, numbers out of range) is 422.
pub fn parse_json<T: DeserializeOwned>(raw: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(raw).map_err(|error| match error.classify() {
        serde_json::error::Category::Data => ApiError::Unprocessable(error.to_string()),
        _ => ApiError::BadRequest(format!("the body is not valid JSON: {error}")),
    })
}
