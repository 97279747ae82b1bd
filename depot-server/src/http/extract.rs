//! Request extractors: the authenticated caller (an API token, or the web
//! session cookie with its CSRF header for changes), the caller allowed an
//! action, and JSON bodies, each failing with a problem+json answer (401,
//! 400, 403, 413, 415, 422) instead of axum's text.

use std::marker::PhantomData;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method};
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer};

use super::error::ApiError;
use super::AppState;
use crate::depot::{Authentication, DepotError};
use crate::domain::access::{Action, Caller};

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

/// An action as a type, for [`Allowed`].
pub trait Permission {
    /// The action the caller must be allowed.
    const ACTION: Action;
}

/// [`Action::Book`].
pub struct MayBook;
impl Permission for MayBook {
    const ACTION: Action = Action::Book;
}

/// [`Action::KeepMasterData`].
pub struct MayKeepMasterData;
impl Permission for MayKeepMasterData {
    const ACTION: Action = Action::KeepMasterData;
}

/// [`Action::ReadLedger`].
pub struct MayReadLedger;
impl Permission for MayReadLedger {
    const ACTION: Action = Action::ReadLedger;
}

/// [`Action::ResolveGatePass`].
pub struct MayResolveGatePass;
impl Permission for MayResolveGatePass {
    const ACTION: Action = Action::ResolveGatePass;
}

/// The authenticated caller, allowed `P`'s action. Placed before the body or
/// query extractors, it answers a role that may not act 403 whatever it
/// sent, before the request's content is looked at (the façade checks again).
pub struct Allowed<P>(pub Caller, pub PhantomData<P>);

impl<P: Permission> FromRequestParts<AppState> for Allowed<P> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Authenticated(caller) = Authenticated::from_request_parts(parts, state).await?;
        if caller.role.may(P::ACTION) {
            Ok(Allowed(caller, PhantomData))
        } else {
            Err(DepotError::Forbidden { role: caller.role }.into())
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

/// Deserializes an optional whole number written as an integer (`5`) or
/// as a number with a zero fraction (`5.0`): JSON does not tell the two
/// apart, and the document's `integer` (JSON Schema's) admits both. The
/// latter only below 2^53 in size, where a double holds every whole number
/// exactly; a fraction, or a number outside i64, is a wrong type (422).
pub fn whole_number<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    let Some(number) = Option::<serde_json::Number>::deserialize(deserializer)? else {
        return Ok(None);
    };
    if let Some(whole) = number.as_i64() {
        return Ok(Some(whole));
    }
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    match number.as_f64() {
        // Exact: a double with no fraction below 2^53 is that whole number.
        Some(value) if value.fract() == 0.0 && value.abs() < EXACT => Ok(Some(value as i64)),
        _ => Err(D::Error::custom(format_args!(
            "invalid value: {number}, expected a whole number in i64 (written with a fraction: below 2^53)"
        ))),
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

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    struct Body {
        #[serde(default, deserialize_with = "super::whole_number")]
        quantity: Option<i64>,
    }

    fn quantity(json: &str) -> Result<Option<i64>, serde_json::error::Category> {
        serde_json::from_str::<Body>(json)
            .map(|body| body.quantity)
            .map_err(|error| error.classify())
    }

    #[test]
    fn a_whole_number_may_be_written_with_a_zero_fraction() {
        assert_eq!(quantity(r#"{"quantity":5}"#), Ok(Some(5)));
        assert_eq!(quantity(r#"{"quantity":5.0}"#), Ok(Some(5)));
        assert_eq!(quantity(r#"{"quantity":-7e2}"#), Ok(Some(-700)));
        assert_eq!(quantity(r#"{"quantity":null}"#), Ok(None));
        assert_eq!(quantity("{}"), Ok(None));
        assert_eq!(
            quantity(r#"{"quantity":9223372036854775807}"#),
            Ok(Some(i64::MAX))
        );
        assert_eq!(
            quantity(r#"{"quantity":9007199254740991.0}"#),
            Ok(Some(9_007_199_254_740_991))
        );
    }

    #[test]
    fn a_fraction_or_a_number_past_i64_is_a_wrong_type() {
        use serde_json::error::Category::Data;
        for json in [
            r#"{"quantity":5.5}"#,
            r#"{"quantity":1e300}"#,
            r#"{"quantity":9007199254740992.0}"#,
            r#"{"quantity":9223372036854775808}"#,
            r#"{"quantity":-9223372036854775809}"#,
            r#"{"quantity":"5"}"#,
        ] {
            assert_eq!(quantity(json), Err(Data), "{json}");
        }
    }
}
