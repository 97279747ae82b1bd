//! `/api/v1/movements`: book a movement (idempotently) and read the ledger.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::format_description::well_known::Rfc3339;
use utoipa::{IntoParams, ToSchema};

use super::error::{answers, refusal_problem, ApiError, Problem, PROBLEM_JSON};
use super::extract::{parse_json, whole_number, Allowed, JsonBody, MayBook, MayReadLedger};
use super::{json_response, openapi, AppState};
use crate::depot::input::BookingDraft;
use crate::depot::{BookingOutcome, Refusal, Submission};
use crate::domain::booking::Source;
use crate::domain::ledger::Movement;
use crate::domain::FieldError;

/// One booking: by `sku` + `quantity`, or by `epcs`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"kind": "issue", "sku": "WATER-1L5", "quantity": 5, "from": "A-01-03"}))]
pub struct BookingBody {
    /// `receive` (needs `to`), `move` (`from` and `to`), `issue` (`from`)
    /// or `adjust` (`from` or `to`, and `reason`).
    #[schema(schema_with = openapi::booking_kind)]
    pub kind: String,
    /// With `quantity`, instead of `epcs`.
    #[serde(default)]
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    pub sku: Option<String>,
    /// A whole number in the article's base unit, 1 to 10^12.
    #[serde(default, deserialize_with = "whole_number")]
    #[schema(minimum = 1, maximum = 1_000_000_000_000_i64)]
    pub quantity: Option<i64>,
    /// 1 to 10,000 distinct EPCs as hex, tag URI, pure-identity URI or GS1
    /// Digital Link; instead of `sku`/`quantity`.
    #[serde(default)]
    #[schema(min_items = 1, max_items = 10_000)]
    pub epcs: Option<Vec<String>>,
    /// A location code.
    #[serde(default)]
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    pub from: Option<String>,
    /// A location code.
    #[serde(default)]
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    pub to: Option<String>,
    /// 1–64 printable ASCII characters; required for a lot-tracked article.
    #[serde(default)]
    #[schema(pattern = "^[\\x21-\\x7E]{1,64}$")]
    pub lot: Option<String>,
    /// Required for `adjust`; at most 500 characters.
    #[serde(default)]
    #[schema(max_length = 500)]
    pub reason: Option<String>,
    /// `handheld` (default for bookings with an Idempotency-Key), `web` or
    /// `api` (default without one).
    #[serde(default)]
    #[schema(schema_with = openapi::booking_source_or_null)]
    pub source: Option<String>,
}

impl BookingBody {
    /// The draft the façade's parsing checks (`source` is the adapter's own).
    pub fn into_draft(self) -> BookingDraft {
        BookingDraft {
            kind: self.kind,
            sku: self.sku,
            quantity: self.quantity,
            epcs: self.epcs,
            from: self.from,
            to: self.to,
            lot: self.lot,
            reason: self.reason,
        }
    }
}

/// A ledger movement as answered.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MovementView {
    pub seq: i64,
    #[schema(schema_with = openapi::movement_kind)]
    pub kind: String,
    pub sku: String,
    pub quantity: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lot: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub epcs: Vec<String>,
    pub actor: String,
    #[schema(schema_with = openapi::movement_source)]
    pub source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// RFC 3339, UTC.
    pub recorded_at: String,
}

impl MovementView {
    /// The answer form of a movement.
    pub fn from_movement(m: &Movement) -> Self {
        Self {
            seq: m.seq,
            kind: m.kind.as_str().to_owned(),
            sku: m.sku.to_string(),
            quantity: m.quantity,
            from: m.from.as_ref().map(ToString::to_string),
            to: m.to.as_ref().map(ToString::to_string),
            lot: (!m.lot.is_none()).then(|| m.lot.as_str().to_owned()),
            epcs: m.epcs.clone(),
            actor: m.actor.clone(),
            source: m.source.as_str().to_owned(),
            idempotency_key: m.idempotency_key.clone(),
            reason: m.reason.clone(),
            recorded_at: m.recorded_at.format(&Rfc3339).unwrap_or_default(),
        }
    }
}

/// The movements of one booking, or a page of the ledger.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Movements {
    pub movements: Vec<MovementView>,
}

/// Books one movement. With an `Idempotency-Key` header (required from
/// handhelds), a retry with the same body answers the first answer again and
/// books nothing, also after a restart; the same key with another body is 422.
#[utoipa::path(post, path = "/api/v1/movements", operation_id = "bookMovement", tag = "movements",
    request_body = BookingBody, security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, pattern = "^[\\x21-\\x7E]{1,128}$",
        description = "1–128 printable ASCII characters (400 otherwise); required when source is handheld (422 without)")),
    responses(
        (status = 201, body = Movements, description = "booked, or the first answer to this Idempotency-Key again",
            headers(("Idempotency-Replayed" = String, description = "`true` when this is the first answer again and nothing was booked now")),
            links(
                ("listMovements" = (operation_id = "listMovements")),
                ("readStock" = (operation_id = "readStock", parameters(("sku" = "$response.body#/movements/0/sku")))),
                ("readArticle" = (operation_id = "readArticle", parameters(("sku" = "$response.body#/movements/0/sku")))),
            )),
        (status = 400, response = answers::BadRequest), (status = 401, response = answers::Unauthorized),
        (status = 403, response = answers::Forbidden),
        (status = 409, description = "insufficient stock or capacity, an item not where it should be, with the figures", body = Problem, content_type = "application/problem+json"),
        (status = 413, response = answers::TooLarge), (status = 415, response = answers::UnsupportedMediaType),
        (status = 422, response = answers::Unprocessable), (status = 503, response = answers::Unavailable)))]
pub async fn book(
    State(state): State<AppState>,
    Allowed(caller, _): Allowed<MayBook>,
    headers: HeaderMap,
    body: JsonBody<BookingBody>,
) -> Result<Response, ApiError> {
    let key = idempotency_key(&headers)?;
    let source = match body.value.source.as_deref() {
        Some(text) => Source::parse(text)?,
        None if key.is_some() => Source::Handheld,
        None => Source::Api,
    };
    // A rule between the body and a header, which no schema states: 422.
    if source == Source::Handheld && key.is_none() {
        return Err(FieldError::new("Idempotency-Key", "is required for handheld bookings").into());
    }
    if !matches!(source, Source::Handheld | Source::Web | Source::Api) {
        return Err(FieldError::new("source", "must be handheld, web or api").into());
    }
    let input = body.value.into_draft().parse()?;
    let idempotency = key.map(|key| (key, request_hash(&body.raw)));
    let submission = Submission {
        caller,
        source,
        idempotency,
        input,
    };
    let answer = state.depot.book(submission).await?;
    let mut response = render_outcome(&answer.outcome);
    if answer.replayed {
        response
            .headers_mut()
            .insert("idempotency-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// Renders a booking outcome, first or replayed: 201 with the movements, or
/// the refusal as a problem.
pub fn render_outcome(outcome: &BookingOutcome) -> Response {
    match outcome {
        Ok(movements) => {
            let body = Movements {
                movements: movements.iter().map(MovementView::from_movement).collect(),
            };
            json_response(
                StatusCode::CREATED,
                serde_json::to_string(&body).unwrap_or_default(),
            )
        }
        // Recorded by schema 1 as a problem: answered as it was.
        Err(Refusal::Recorded { status, body }) => {
            let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::CONFLICT);
            let mut response = json_response(status, body.clone());
            response
                .headers_mut()
                .insert("content-type", HeaderValue::from_static(PROBLEM_JSON));
            response
        }
        Err(refusal) => refusal_problem(refusal).into_response(),
    }
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value.to_str().unwrap_or("");
    if (1..=128).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(Some(key.to_owned()))
    } else {
        Err(ApiError::BadRequest(
            "'Idempotency-Key' must be 1 to 128 printable ASCII characters".into(),
        ))
    }
}

/// SHA-256 of the body's canonical JSON (keys sorted, no whitespace, `null`
/// fields dropped as absent ones are), so that a retry that re-serialises the
/// same booking is recognised as the same.
fn request_hash(raw: &[u8]) -> String {
    fn drop_nulls(value: &mut serde_json::Value) {
        if let serde_json::Value::Object(map) = value {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(drop_nulls);
        }
    }
    let canonical = parse_json::<serde_json::Value>(raw)
        .map(|mut v| {
            drop_nulls(&mut v);
            v.to_string()
        })
        .unwrap_or_else(|_| String::from_utf8_lossy(raw).into_owned());
    hex::encode(Sha256::digest(canonical.as_bytes()))
}

/// Ledger paging.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct LedgerQuery {
    /// Answer movements with a larger seq (default 0: from the start).
    #[param(nullable = false, minimum = 0, maximum = 9_223_372_036_854_775_807_i64)]
    pub after_seq: Option<i64>,
    /// 1–1000, default 100.
    #[param(nullable = false, minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

/// Ledger movements after `after_seq`, in seq order.
#[utoipa::path(get, path = "/api/v1/movements", operation_id = "listMovements", tag = "movements",
    params(LedgerQuery), security(("bearer" = [])),
    responses(
        (status = 200, body = Movements, links(
            ("readArticle" = (operation_id = "readArticle", parameters(("sku" = "$response.body#/movements/0/sku")))),
        )),
        (status = 400, response = answers::BadRequest), (status = 401, response = answers::Unauthorized),
        (status = 403, response = answers::Forbidden), (status = 422, response = answers::Unprocessable),
        (status = 503, response = answers::Unavailable)))]
pub async fn list(
    State(state): State<AppState>,
    Allowed(caller, _): Allowed<MayReadLedger>,
    Query(query): Query<LedgerQuery>,
) -> Result<Json<Movements>, ApiError> {
    let limit = super::page_limit(query.limit)?;
    let after_seq = query.after_seq.unwrap_or(0);
    if after_seq < 0 {
        return Err(FieldError::new("after_seq", "must not be negative").into());
    }
    let movements = state.depot.movements(&caller, after_seq, limit).await?;
    Ok(Json(Movements {
        movements: movements.iter().map(MovementView::from_movement).collect(),
    }))
}
