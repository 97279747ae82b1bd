//! Request extractors: the authenticated caller (an API token, or the web
//! session cookie with its CSRF header for changes) and JSON bodies, each
//! failing with a problem+json answer (401, 400, 403, 413, 415, 422) instead
//! of axum's text.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method};
use serde::de::DeserializeOwned;

use super::error::ApiError;
use super::AppState;
use crate::depot::Authentication;
use crate::domain::access::Caller;

/// The name of the web session cookie (256 random bits; stored hashed).
pub const SESSION_COOKIE: &str = "depot_session";

/// The header in which the pages' scripts send the session's CSRF token.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The value of cookie `name`, if the request carries it.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
        .filter(|value| !value.is_empty() && value.len() <= 256)
}

/// Whether two secrets are equal, compared in constant time.
pub fn same_secret(a: &str, b: &str) -> bool {
    crate::depot::same_secret(a, b)
}

/// The caller, from `Authorization: Bearer TOKEN`, or else from the web
/// session cookie; a change (any method but GET and HEAD) by cookie must
/// carry the session's CSRF token in `X-CSRF-Token`.
pub struct Authenticated(pub Caller);

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let authorization = parts.headers.get(header::AUTHORIZATION);
        if authorization.is_none() {
            if let Some(cookie) = cookie(&parts.headers, SESSION_COOKIE) {
                let session = state
                    .depot
                    .session(cookie)
                    .await?
                    .ok_or(ApiError::Unauthorized)?;
                if !matches!(parts.method, Method::GET | Method::HEAD) {
                    let sent = parts
                        .headers
                        .get(CSRF_HEADER)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("");
                    if !same_secret(sent, &session.csrf_token) {
                        return Err(ApiError::CsrfMissing);
                    }
                }
                return Ok(Authenticated(session.caller));
            }
        }
        let token = authorization
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|token| !token.is_empty() && token.len() <= 256)
            .ok_or(ApiError::Unauthorized)?;
        match state.depot.authenticate(token).await? {
            Authentication::Valid(caller) => Ok(Authenticated(caller)),
            Authentication::Expired => Err(ApiError::TokenExpired),
            Authentication::Unknown => Err(ApiError::Unauthorized),
        }
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
