//! `/api/v1/deliveries`: register an expected delivery (advance shipping
//! notice) and read it reconciled against what the dock's gate received.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;

use super::error::{answers, ApiError, Problem};
use super::extract::{whole_number, Allowed, JsonBody, MayKeepMasterData, MayReadLedger};
use super::{json_response, AppState};
use crate::depot::DeliveryReport;
use crate::domain::article::Sku;
use crate::domain::delivery::{self, Delivery, DeliveryRef, Expected, ExpectedLine, Receipt};
use crate::domain::location::LocationCode;
use crate::domain::quantity::{Lot, Quantity};
use crate::domain::FieldError;
use crate::epc;

/// One expected entry: an item by `epc`, or `quantity` units of `sku`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpectedBody {
    /// An expected item: hex, tag URI, pure-identity URI or GS1 Digital Link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epc: Option<String>,
    /// An expected article, with `quantity`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    pub sku: Option<String>,
    /// Units of `sku`, 1 to 10^12 (an `epc` entry is one item: 1 or absent).
    #[serde(
        default,
        deserialize_with = "whole_number",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(minimum = 1, maximum = 1_000_000_000_000_i64)]
    pub quantity: Option<i64>,
    /// The lot the goods carry: required for a lot-tracked article, refused
    /// for any other; for an `epc` entry it is used if the item's article is
    /// lot-tracked. 1–64 printable ASCII characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[\\x21-\\x7E]{1,64}$")]
    pub lot: Option<String>,
}

/// An expected delivery as registered.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reference": "ASN-1", "dock": "DOCK-1", "expected": [{"sku": "WATER-1L5", "quantity": 20}]}))]
pub struct DeliveryBody {
    /// `[A-Za-z0-9._-]{1,64}`, e.g. the shipping notice's number.
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    pub reference: String,
    /// The dock location the goods come to.
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    pub dock: String,
    /// What is expected, 1 to 10,000 entries.
    #[schema(min_items = 1, max_items = 10_000)]
    pub expected: Vec<ExpectedBody>,
}

impl DeliveryBody {
    /// Checks every field, reporting every failure at once.
    fn parse(self) -> Result<Delivery, ApiError> {
        let mut errors = Vec::new();
        let reference = DeliveryRef::parse(&self.reference).map_err(|e| errors.push(e));
        let dock = LocationCode::parse(&self.dock).map_err(|e| {
            errors.push(FieldError::new("dock", e.reason));
        });
        let mut lines = Vec::with_capacity(self.expected.len());
        for (index, entry) in self.expected.into_iter().enumerate() {
            let number = u32::try_from(index + 1).unwrap_or(u32::MAX);
            match entry.parse(number) {
                Ok(line) => lines.push(line),
                Err(reason) => errors.push(FieldError::new(
                    "expected",
                    format!("entry {number}: {reason}"),
                )),
            }
        }
        if errors.is_empty() {
            if let Err(error) = delivery::check_lines(&lines) {
                errors.push(error);
            }
        }
        match (reference, dock) {
            (Ok(reference), Ok(dock)) if errors.is_empty() => Ok(Delivery {
                reference,
                dock,
                lines,
            }),
            _ => Err(errors.into()),
        }
    }
}

impl ExpectedBody {
    fn parse(self, line: u32) -> Result<ExpectedLine, String> {
        let lot = match self.lot.as_deref() {
            Some(text) => Lot::parse(text).map_err(|e| e.reason)?,
            None => Lot::none(),
        };
        let expected = match (self.epc, self.sku, self.quantity) {
            (Some(text), None, None | Some(1)) => Expected::Item {
                epc: epc::parse(&text)
                    .map_err(|reason| format!("epc: {reason}"))?
                    .id,
            },
            (Some(_), None, Some(_)) => return Err("an 'epc' entry is one item".into()),
            (None, Some(sku), Some(quantity)) => Expected::Count {
                sku: Sku::parse(&sku).map_err(|e| e.reason)?,
                quantity: Quantity::new(quantity).map_err(|e| e.reason)?,
            },
            (None, Some(_), None) => return Err("a 'sku' entry needs a 'quantity'".into()),
            _ => return Err("give either 'epc' or 'sku' with 'quantity'".into()),
        };
        Ok(ExpectedLine {
            line,
            expected,
            lot,
        })
    }
}

/// One expected line and how much of it arrived.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LineView {
    pub line: u32,
    /// The expected item (pure-identity URI), for an item line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epc: Option<String>,
    /// The expected article, for a count line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sku: Option<String>,
    pub quantity: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lot: Option<String>,
    pub received: i64,
    pub missing: i64,
}

/// An item the dock's gate received while the delivery was open.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ReceiptView {
    /// The gate pass that booked it (`/api/v1/gates/passes`).
    pub pass_id: i64,
    pub epc: String,
    pub sku: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lot: Option<String>,
    /// The line it fulfils (absent for an unexpected item).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
}

impl ReceiptView {
    fn of(receipt: &Receipt) -> Self {
        Self {
            pass_id: receipt.pass_id,
            epc: receipt.epc.clone(),
            sku: receipt.sku.to_string(),
            lot: lot_text(&receipt.lot),
            line: receipt.line,
        }
    }
}

/// An expected delivery reconciled against the gate.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeliveryView {
    pub reference: String,
    pub dock: String,
    /// `open` (items are matched against it), `complete` (all arrived) or
    /// `closed` (a manager closed it with items missing).
    pub state: String,
    pub created_by: String,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// RFC 3339, UTC: when the last expected unit arrived, or when a
    /// manager closed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<String>,
    /// Every expected line with what arrived of it.
    pub expected: Vec<LineView>,
    /// Items received that fulfil a line.
    pub received: Vec<ReceiptView>,
    /// The lines (or the part of them) that did not arrive yet.
    pub missing: Vec<LineView>,
    /// Items received at the dock while the delivery was open that it did
    /// not expect.
    pub unexpected: Vec<ReceiptView>,
}

impl DeliveryView {
    fn of(report: &DeliveryReport) -> Self {
        let time = |t: time::OffsetDateTime| t.format(&Rfc3339).unwrap_or_default();
        let lines: Vec<LineView> = report
            .reconciliation
            .lines
            .iter()
            .map(|state| {
                let (epc, sku) = match &state.line.expected {
                    Expected::Item { epc } => (Some(epc.clone()), None),
                    Expected::Count { sku, .. } => (None, Some(sku.to_string())),
                };
                LineView {
                    line: state.line.line,
                    epc,
                    sku,
                    quantity: state.line.quantity(),
                    lot: lot_text(&state.line.lot),
                    received: state.received,
                    missing: state.missing(),
                }
            })
            .collect();
        let missing = lines
            .iter()
            .filter(|l| l.missing > 0)
            .map(|l| LineView {
                epc: l.epc.clone(),
                sku: l.sku.clone(),
                lot: l.lot.clone(),
                ..*l
            })
            .collect();
        let state = match (report.completed_at, report.reconciliation.complete()) {
            (None, _) => "open",
            (Some(_), true) => "complete",
            (Some(_), false) => "closed",
        };
        Self {
            reference: report.delivery.reference.to_string(),
            dock: report.delivery.dock.to_string(),
            state: state.to_owned(),
            created_by: report.created_by.clone(),
            created_at: time(report.created_at),
            completed_at: report.completed_at.map(time),
            expected: lines,
            received: report
                .reconciliation
                .received
                .iter()
                .map(ReceiptView::of)
                .collect(),
            missing,
            unexpected: report
                .reconciliation
                .unexpected
                .iter()
                .map(ReceiptView::of)
                .collect(),
        }
    }
}

fn lot_text(lot: &Lot) -> Option<String> {
    (!lot.is_none()).then(|| lot.as_str().to_owned())
}

/// Registers an expected delivery (managers): items by EPC and/or units of
/// articles, with lots, to one dock. From then on every item an `in` pass
/// books at that dock is matched against it (and takes its lot) until all
/// it expects has arrived. 201 with the delivery; the same notice again is
/// 200 with it as it stands; another notice under the same reference is 409.
#[utoipa::path(post, path = "/api/v1/deliveries", operation_id = "createDelivery", tag = "deliveries",
    request_body = DeliveryBody, security(("bearer" = [])),
    responses(
        (status = 201, body = DeliveryView, links(
            ("readDelivery" = (operation_id = "readDelivery", parameters(("reference" = "$response.body#/reference")))),
        )),
        (status = 200, body = DeliveryView, description = "the same notice was registered before", links(
            ("readDelivery" = (operation_id = "readDelivery", parameters(("reference" = "$response.body#/reference")))),
        )),
        (status = 400, response = answers::BadRequest), (status = 401, response = answers::Unauthorized),
        (status = 403, response = answers::Forbidden),
        (status = 409, description = "another notice was registered under this reference", body = Problem, content_type = "application/problem+json"),
        (status = 413, response = answers::TooLarge), (status = 415, response = answers::UnsupportedMediaType),
        (status = 422, response = answers::Unprocessable), (status = 503, response = answers::Unavailable)))]
pub async fn create(
    State(state): State<AppState>,
    Allowed(caller, _): Allowed<MayKeepMasterData>,
    body: JsonBody<DeliveryBody>,
) -> Result<Response, ApiError> {
    let delivery = body.value.parse()?;
    let reference = delivery.reference.to_string();
    let created = state.depot.create_delivery(&caller, delivery).await?;
    let report = state.depot.delivery(&caller, &reference).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(json_response(
        status,
        serde_json::to_string(&DeliveryView::of(&report)).unwrap_or_default(),
    ))
}

/// An expected delivery reconciled against the dock's gate: each line with
/// what arrived of it, the items received, what is missing and what came
/// unexpected. Without clearance, lines and items of restricted articles
/// are left out.
#[utoipa::path(get, path = "/api/v1/deliveries/{reference}", operation_id = "readDelivery", tag = "deliveries",
    security(("bearer" = [])),
    params(("reference" = String, Path, pattern = "^[A-Za-z0-9._-]{1,64}$", description = "the delivery's reference")),
    responses((status = 200, body = DeliveryView),
        (status = 400, response = answers::BadRequest), (status = 401, response = answers::Unauthorized),
        (status = 403, response = answers::Forbidden), (status = 404, response = answers::NotFound),
        (status = 503, response = answers::Unavailable)))]
pub async fn read(
    State(state): State<AppState>,
    Allowed(caller, _): Allowed<MayReadLedger>,
    Path(reference): Path<String>,
) -> Result<axum::Json<DeliveryView>, ApiError> {
    let report = state.depot.delivery(&caller, &reference).await?;
    Ok(axum::Json(DeliveryView::of(&report)))
}

/// Closes an open expected delivery short (managers): from then on items
/// booked at its dock are not matched against it, and what did not arrive
/// stays `missing`; its state becomes `closed`. Closing a delivery that is
/// complete or closed changes nothing. 200 with the delivery.
#[utoipa::path(post, path = "/api/v1/deliveries/{reference}/close", operation_id = "closeDelivery", tag = "deliveries",
    security(("bearer" = [])),
    params(("reference" = String, Path, pattern = "^[A-Za-z0-9._-]{1,64}$", description = "the delivery's reference")),
    responses((status = 200, body = DeliveryView),
        (status = 400, response = answers::BadRequest), (status = 401, response = answers::Unauthorized),
        (status = 403, response = answers::Forbidden), (status = 404, response = answers::NotFound),
        (status = 503, response = answers::Unavailable)))]
pub async fn close(
    State(state): State<AppState>,
    Allowed(caller, _): Allowed<MayKeepMasterData>,
    Path(reference): Path<String>,
) -> Result<axum::Json<DeliveryView>, ApiError> {
    state.depot.close_delivery(&caller, &reference).await?;
    let report = state.depot.delivery(&caller, &reference).await?;
    Ok(axum::Json(DeliveryView::of(&report)))
}
