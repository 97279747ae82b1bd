//! `POST /api/v1/scans`: a batch of handheld reads, e.g. queued while a
//! handheld (or the scan page) was offline. Each read has its own id, which
//! is its Idempotency-Key: reads are applied one after the other, in the
//! order sent, each once however often the batch is sent again, and each gets
//! its own result (the movements, or the problem it was refused with).

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::error::{answers, refusal_problem, ApiError, Problem};
use super::extract::{whole_number, Allowed, JsonBody, MayBook};
use super::movements::MovementView;
use super::AppState;
use crate::depot::input::{ScanCode, ScanDraft};
use crate::depot::{Depot, Submission};
use crate::domain::access::Caller;
use crate::domain::booking::Source;
use crate::domain::FieldError;

/// The most reads one batch may carry.
pub const MAX_READS: usize = 500;

/// One handheld read.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScanRead {
    /// Unique per read (1–128 printable ASCII characters): its Idempotency-Key.
    #[schema(pattern = "^[\\x21-\\x7E]{1,128}$")]
    pub id: String,
    /// `receive`, `move`, `issue`, or `count`: the amount found at
    /// `location`; the difference to the stock booked there is booked as an
    /// `adjust` movement (none when they agree). This and the fields below
    /// are checked per read: a bad one is that read's refusal in its result.
    pub kind: String,
    /// What the scanner read: an EPC (hex or URI), a GS1 element string or
    /// Digital Link with a serial (one item), one with a GTIN and no serial
    /// (an amount of the article with that GTIN, in the lot of its AI 10 if
    /// given), or a SKU.
    pub code: String,
    /// For an amount: how many (default 1); for a count, the amount found
    /// (required, 0 or more).
    #[serde(default, deserialize_with = "whole_number")]
    pub quantity: Option<i64>,
    /// Where the scan happens: the target of a receipt or move, the source
    /// of an issue, the place of a count.
    #[serde(default)]
    pub location: Option<String>,
    /// The source of a move.
    #[serde(default)]
    pub from: Option<String>,
}

/// A batch of reads, applied in order.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reads": [{"id": "scan-1", "kind": "receive", "code": "WATER-1L5", "quantity": 2, "location": "DOCK-1"}]}))]
pub struct ScanBatch {
    /// 1 to 500 reads.
    #[schema(min_items = 1, max_items = 500)]
    pub reads: Vec<ScanRead>,
}

/// What became of one read.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ScanResult {
    pub id: String,
    /// 201 booked; otherwise the status a single booking would have been refused with.
    #[schema(minimum = 200, maximum = 599)]
    pub status: u16,
    /// True when the read had been applied before: nothing was booked now.
    pub replayed: bool,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub movements: Vec<MovementView>,
    /// Why the read was refused (problem details, as a single booking's).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    #[schema(value_type = Problem)]
    pub problem: Option<serde_json::Value>,
}

/// The result of each read, in the order sent.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ScanResults {
    pub results: Vec<ScanResult>,
}

/// Applies a batch of reads in order, each once.
#[utoipa::path(post, path = "/api/v1/scans", operation_id = "applyScans", tag = "movements",
    request_body = ScanBatch, security(("bearer" = [])),
    responses(
        (status = 200, body = ScanResults, description = "each read's own result, in the order sent", links(
            ("listMovements" = (operation_id = "listMovements")),
        )),
        (status = 400, response = answers::BadRequest), (status = 401, response = answers::Unauthorized),
        (status = 403, response = answers::Forbidden), (status = 413, response = answers::TooLarge),
        (status = 415, response = answers::UnsupportedMediaType), (status = 422, response = answers::Unprocessable),
        (status = 503, response = answers::Unavailable)))]
pub async fn apply_batch(
    State(state): State<AppState>,
    Allowed(caller, _): Allowed<MayBook>,
    body: JsonBody<ScanBatch>,
) -> Result<Json<ScanResults>, ApiError> {
    let reads = body.value.reads;
    if reads.is_empty() || reads.len() > MAX_READS {
        return Err(FieldError::new("reads", format!("must hold 1 to {MAX_READS} reads")).into());
    }
    if let Some(bad) = reads.iter().position(|r| !valid_id(&r.id)) {
        return Err(FieldError::new(
            "reads",
            format!("read {bad}: 'id' must be 1 to 128 printable ASCII characters"),
        )
        .into());
    }
    let mut results = Vec::with_capacity(reads.len());
    for read in reads {
        results.push(apply(&state.depot, &caller, read).await);
    }
    Ok(Json(ScanResults { results }))
}

fn valid_id(id: &str) -> bool {
    (1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic())
}

/// Books one read with its id as Idempotency-Key; the scan page's form uses it too.
pub async fn apply(depot: &Depot, caller: &Caller, read: ScanRead) -> ScanResult {
    let id = read.id.clone();
    let refused = |problem: Problem| ScanResult {
        id: id.clone(),
        status: problem.status,
        replayed: false,
        movements: Vec::new(),
        problem: serde_json::to_value(&problem).ok(),
    };
    if !valid_id(&read.id) {
        return refused(
            ApiError::from(FieldError::new(
                "id",
                "must be 1 to 128 printable ASCII characters",
            ))
            .problem(),
        );
    }
    let hash = read_hash(&read);
    let draft = ScanDraft {
        kind: read.kind,
        code: read.code,
        quantity: read.quantity,
        location: read.location,
        from: read.from,
    };
    // A GTIN without serial names its article: looked up as the caller may see it.
    let gtin_article = match ScanCode::of(&draft.code) {
        ScanCode::Gtin { gtin14, .. } => match depot.article_by_gtin(caller, &gtin14).await {
            Ok(article) => article.map(|a| a.sku),
            Err(error) => return refused(ApiError::from(error).problem()),
        },
        _ => None,
    };
    let input = match draft.parse(gtin_article.as_ref()) {
        Ok(input) => input,
        Err(errors) => return refused(ApiError::Invalid(errors).problem()),
    };
    let submission = Submission {
        caller: caller.clone(),
        source: Source::Handheld,
        idempotency: Some((read.id, hash)),
        input,
    };
    match depot.book(submission).await {
        Ok(answer) => match answer.outcome {
            Ok(movements) => ScanResult {
                id: id.clone(),
                status: 201,
                replayed: answer.replayed,
                movements: movements.iter().map(MovementView::from_movement).collect(),
                problem: None,
            },
            Err(refusal) => {
                let mut result = refused(refusal_problem(&refusal));
                result.replayed = answer.replayed;
                result
            }
        },
        Err(error) => refused(ApiError::from(error).problem()),
    }
}

/// SHA-256 of what the read asks for (everything but its id), so the same id
/// with another read is recognised as a reuse.
fn read_hash(read: &ScanRead) -> String {
    let canonical = serde_json::json!({
        "scan": 1,
        "kind": read.kind,
        "code": read.code.trim(),
        "quantity": read.quantity,
        "location": read.location.as_deref().map(str::trim).filter(|s| !s.is_empty()),
        "from": read.from.as_deref().map(str::trim).filter(|s| !s.is_empty()),
    });
    hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
}
