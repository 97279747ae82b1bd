//! `ApiError`: every failure maps here once, to a status and an
//! `application/problem+json` body (RFC 9457). A 5xx is logged; internals
//! never reach the client.

use std::sync::LazyLock;
use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::depot::{DepotError, Refusal};
use crate::domain::booking::BookingError;
use crate::domain::FieldError;
use crate::repeat_log::RepeatLog;

/// Failures that repeat per request are logged once a minute, with a count.
static REPEATS: LazyLock<RepeatLog> = LazyLock::new(|| RepeatLog::new(Duration::from_secs(60)));

/// The media type of problem details.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An RFC 9457 problem details object.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    #[schema(minimum = 400, maximum = 599)]
    pub status: u16,
    pub detail: String,
    /// For validation failures: each failing field and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldProblem>,
    /// Figures of a conflict, e.g. `available` and `requested`.
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    #[schema(value_type = Object)]
    #[serde(flatten)]
    pub extensions: serde_json::Map<String, serde_json::Value>,
}

/// One failing field.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FieldProblem {
    pub field: String,
    pub reason: String,
}

/// The documented error answers, one reusable OpenAPI response per status,
/// each an `application/problem+json` [`Problem`]. They exist for the
/// document only: handlers answer with [`ApiError`].
pub mod answers {
    use utoipa::ToResponse;

    use super::Problem;

    /// 400.
    #[derive(ToResponse)]
    #[response(
        description = "The request is not well-formed: broken JSON, a query or path parameter of the wrong type, an unknown query parameter, a bad header",
        content_type = "application/problem+json"
    )]
    pub struct BadRequest(pub Problem);

    /// 401.
    #[derive(ToResponse)]
    #[response(
        description = "No token, or one that is not valid (unknown or revoked)",
        content_type = "application/problem+json"
    )]
    pub struct Unauthorized(pub Problem);

    /// 403.
    #[derive(ToResponse)]
    #[response(
        description = "The caller's role may not do this",
        content_type = "application/problem+json"
    )]
    pub struct Forbidden(pub Problem);

    /// 404.
    #[derive(ToResponse)]
    #[response(
        description = "No such resource, or a restricted one the caller is not cleared for",
        content_type = "application/problem+json"
    )]
    pub struct NotFound(pub Problem);

    /// 409.
    #[derive(ToResponse)]
    #[response(
        description = "A conflict with the current state, with its figures",
        content_type = "application/problem+json"
    )]
    pub struct Conflict(pub Problem);

    /// 413.
    #[derive(ToResponse)]
    #[response(
        description = "The body is larger than the configured limit (`limit_bytes`)",
        content_type = "application/problem+json"
    )]
    pub struct TooLarge(pub Problem);

    /// 415.
    #[derive(ToResponse)]
    #[response(
        description = "The body is not sent as `Content-Type: application/json`",
        content_type = "application/problem+json"
    )]
    pub struct UnsupportedMediaType(pub Problem);

    /// 422.
    #[derive(ToResponse)]
    #[response(
        description = "Well-formed but not acceptable: a field of the wrong type or out of its range, an unknown field, a rule the request breaks; `errors` names each failing field",
        content_type = "application/problem+json"
    )]
    pub struct Unprocessable(pub Problem);

    /// 503.
    #[derive(ToResponse)]
    #[response(
        description = "The database cannot take this now (disk full, busy past its timeout, the writer stopped, shutting down); nothing was written",
        content_type = "application/problem+json"
    )]
    pub struct Unavailable(pub Problem);
}

impl Problem {
    /// A problem of `status` with a short machine name (`slug`) and details.
    pub fn new(status: StatusCode, slug: &str, detail: impl Into<String>) -> Self {
        Self {
            kind: format!("urn:depot-edge:problem:{slug}"),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            errors: Vec::new(),
            extensions: serde_json::Map::new(),
        }
    }

    /// Adds a figure to the problem.
    pub fn with(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        self.extensions.insert(key.to_owned(), value.into());
        self
    }

    /// The JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| String::from("{}"))
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, self.to_json()).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        response
    }
}

/// Everything a handler can fail with.
#[derive(Debug)]
pub enum ApiError {
    /// 400: the request is not well-formed.
    BadRequest(String),
    /// 401: no token, or one that is not valid.
    Unauthorized,
    /// 401: a token whose user's access has expired.
    TokenExpired,
    /// 403: a change by session cookie without the session's CSRF token.
    CsrfMissing,
    /// 413: the body is larger than the limit.
    TooLarge { limit_bytes: usize },
    /// 415: the body is not JSON.
    UnsupportedMediaType,
    /// 422: well-formed but invalid fields.
    Invalid(Vec<FieldError>),
    /// 422: well-formed JSON of the wrong shape (types, unknown fields).
    Unprocessable(String),
    /// Anything the façade reports.
    Depot(DepotError),
}

impl From<DepotError> for ApiError {
    fn from(error: DepotError) -> Self {
        ApiError::Depot(error)
    }
}

impl From<FieldError> for ApiError {
    fn from(error: FieldError) -> Self {
        ApiError::Invalid(vec![error])
    }
}

impl From<Vec<FieldError>> for ApiError {
    fn from(errors: Vec<FieldError>) -> Self {
        ApiError::Invalid(errors)
    }
}

impl ApiError {
    /// The problem this error is answered with.
    pub fn problem(&self) -> Problem {
        match self {
            ApiError::BadRequest(detail) => {
                Problem::new(StatusCode::BAD_REQUEST, "bad-request", detail.clone())
            }
            ApiError::Unauthorized => Problem::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "send a valid API token as 'Authorization: Bearer TOKEN'",
            ),
            ApiError::TokenExpired => Problem::new(
                StatusCode::UNAUTHORIZED,
                "token-expired",
                "this API token has expired; ask a manager for a new one",
            ),
            ApiError::CsrfMissing => Problem::new(
                StatusCode::FORBIDDEN,
                "csrf",
                "a change made with the session cookie needs the session's CSRF token in 'X-CSRF-Token'",
            ),
            ApiError::TooLarge { limit_bytes } => Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too-large",
                format!("the request body is larger than {limit_bytes} bytes"),
            )
            .with("limit_bytes", *limit_bytes),
            ApiError::UnsupportedMediaType => Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "send the body as 'Content-Type: application/json'",
            ),
            ApiError::Invalid(errors) => {
                let mut problem = Problem::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "validation",
                    errors
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; "),
                );
                problem.errors = errors
                    .iter()
                    .map(|e| FieldProblem {
                        field: e.field.to_owned(),
                        reason: e.reason.clone(),
                    })
                    .collect();
                problem
            }
            ApiError::Unprocessable(detail) => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unprocessable",
                detail.clone(),
            ),
            ApiError::Depot(error) => depot_problem(error),
        }
    }
}

fn depot_problem(error: &DepotError) -> Problem {
    match error {
        DepotError::NotFound { .. } => {
            Problem::new(StatusCode::NOT_FOUND, "not-found", error.to_string())
        }
        DepotError::Exists { what, key } => Problem::new(
            StatusCode::CONFLICT,
            "exists",
            format!("{what} '{key}' exists; use PUT to change it"),
        ),
        DepotError::NeedsClearance => {
            Problem::new(StatusCode::FORBIDDEN, "needs-clearance", error.to_string())
        }
        DepotError::Invalid(errors) => ApiError::Invalid(errors.clone()).problem(),
        DepotError::Conflict(_) => {
            Problem::new(StatusCode::CONFLICT, "conflict", error.to_string())
        }
        DepotError::Forbidden { .. } => {
            Problem::new(StatusCode::FORBIDDEN, "forbidden", error.to_string())
        }
        DepotError::IdempotencyKeyReused(_) => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency-key-reused",
            error.to_string(),
        ),
        DepotError::Unavailable(cause) => {
            if let Some(repeats) = REPEATS.note("storage unavailable") {
                tracing::warn!(error = %cause, repeats, "storage unavailable; requests answered 503");
            }
            Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "storage-unavailable",
                "the database cannot take this now (disk full or busy); nothing was written, retry later",
            )
        }
        DepotError::WriterStopped => {
            if let Some(repeats) = REPEATS.note("writer stopped") {
                tracing::warn!(
                    repeats,
                    "the writer cannot reach the database; requests answered 503"
                );
            }
            Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "storage-unavailable",
                "the database cannot be written now; nothing was written, retry later",
            )
        }
        DepotError::ShuttingDown => Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting-down",
            "the server is shutting down; nothing was written, retry later",
        ),
        DepotError::Storage(cause) => {
            tracing::error!(error = %cause, "storage failure");
            Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "an internal error occurred; it has been logged",
            )
        }
    }
}

/// The problem a refused booking is answered with: 409 for a conflict with
/// the current state (with the figures), 422 otherwise.
pub fn refusal_problem(refusal: &Refusal) -> Problem {
    let detail = refusal.to_string();
    match refusal {
        Refusal::Rule(rule) => {
            let status = if rule.is_conflict() {
                StatusCode::CONFLICT
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            let problem = Problem::new(status, rule_slug(rule), detail);
            match rule {
                BookingError::InsufficientStock {
                    sku,
                    location,
                    available,
                    requested,
                } => problem
                    .with("sku", sku.as_str())
                    .with("location", location.as_str())
                    .with("available", *available)
                    .with("requested", *requested),
                BookingError::SerialisedItems {
                    sku,
                    location,
                    items,
                    available,
                    requested,
                } => problem
                    .with("sku", sku.as_str())
                    .with("location", location.as_str())
                    .with("items", *items)
                    .with("available", *available)
                    .with("requested", *requested),
                BookingError::CapacityExceeded {
                    location,
                    dimension,
                    capacity,
                    used,
                    requested,
                } => problem
                    .with("location", location.as_str())
                    .with("dimension", *dimension)
                    .with("capacity", *capacity)
                    .with("used", *used)
                    .with("requested", *requested)
                    .with("free", capacity.saturating_sub(*used).max(0)),
                BookingError::ItemAlreadyInStock { epc, location }
                | BookingError::ItemElsewhere { epc, location } => problem
                    .with("epc", epc.as_str())
                    .with("location", location.as_str()),
                BookingError::ItemNotInStock { epc } => problem.with("epc", epc.as_str()),
                _ => problem,
            }
        }
        Refusal::UnknownArticle { .. } => field_problem("sku", detail),
        Refusal::UnknownLocation { field, .. } => field_problem(field, detail),
        Refusal::UnknownEpc { .. } | Refusal::DuplicateEpc { .. } => field_problem("epcs", detail),
        Refusal::Recorded { status, .. } => Problem::new(
            StatusCode::from_u16(*status).unwrap_or(StatusCode::CONFLICT),
            "recorded-refusal",
            detail,
        ),
    }
}

fn field_problem(field: &str, detail: String) -> Problem {
    let mut problem = Problem::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
        detail.clone(),
    );
    problem.errors = vec![FieldProblem {
        field: field.to_owned(),
        reason: detail,
    }];
    problem
}

fn rule_slug(rule: &BookingError) -> &'static str {
    match rule {
        BookingError::InsufficientStock { .. } => "insufficient-stock",
        BookingError::SerialisedItems { .. } => "serialised-items",
        BookingError::CapacityExceeded { .. } => "capacity-exceeded",
        BookingError::QuantityOverflow { .. } => "quantity-overflow",
        BookingError::ItemAlreadyInStock { .. } => "item-already-in-stock",
        BookingError::ItemNotInStock { .. } => "item-not-in-stock",
        BookingError::ItemElsewhere { .. } => "item-elsewhere",
        _ => "booking-rule",
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.problem().into_response()
    }
}
