//! `/api/v1/gates`: each gateway's link state as the poller last saw it;
//! `/api/v1/gates/passes`: every gate pass with what became of it;
//! `/api/v1/gates/unresolved` and `POST /api/v1/gates/passes/{id}/resolution`:
//! the passes that wait for a manager, and a manager's word that books one.

use axum::extract::{Path, Query, State};
use axum::http::HeaderValue;
use axum::response::Response;
use axum::Json;
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use utoipa::{IntoParams, ToSchema};

use super::error::{answers, ApiError, Problem};
use super::extract::{Allowed, Authenticated, JsonBody, MayReadLedger, MayResolveGatePass};
use super::movements::{render_outcome, Movements};
use super::{openapi, AppState};
use crate::domain::access::Action;
use crate::domain::article::Sku;
use crate::domain::gate::{GatePass, GatewayState, PassRate, PassResolution, ResolutionRequest};
use crate::domain::quantity::Lot;
use crate::domain::FieldError;

/// One pass through a gate, as recorded.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PassView {
    /// Record id: page with `after_id`.
    pub id: i64,
    pub gateway: String,
    /// The gateway boot the event belongs to (REGISTERS.md "Boots").
    pub boot_id: u32,
    /// The event's seq within that boot.
    pub seq: u32,
    pub gate: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dock: Option<String>,
    /// `in`, `out` or `unknown`.
    #[schema(schema_with = openapi::direction)]
    pub direction: String,
    /// The EPC words the gateway reported, hex.
    pub epc_hex: String,
    /// The EPC's pure-identity URI, when it names an item.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epc: Option<String>,
    pub rssi_dbm: i16,
    pub antenna: u16,
    /// Gateway uptime at the pass's last read, ms.
    pub gateway_ms: u32,
    /// The scale's reading in the poll that read the pass, grams.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight_grams: Option<i32>,
    /// `booked`, `not_booked`, `unidentified`, `flagged` or `awaiting_lot`.
    #[schema(schema_with = openapi::pass_outcome)]
    pub outcome: String,
    /// Why it was not booked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The ledger movements it booked.
    pub movement_seqs: Vec<i64>,
    /// RFC 3339, UTC.
    pub recorded_at: String,
    /// The article the pass is of, when known (booked, or awaiting its lot).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sku: Option<String>,
    /// What a manager must name to book it (`article` or `lot`), while it
    /// waits: `POST /api/v1/gates/passes/{id}/resolution`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = openapi::waiting_for)]
    pub waiting_for: Option<String>,
    /// How a manager resolved it, once resolved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolution: Option<ResolutionView>,
    /// What the scale's weight says of it: `plausible` or `implausible`
    /// (flagged); absent when it could not be judged (no valid reading, or a
    /// pass in the window of no known unit weight).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = openapi::weight_check)]
    pub weight_check: Option<String>,
    /// The sum of the unit weights of the passes through its gate in the
    /// window, itself included, grams (with `weight_check`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_weight_grams: Option<i64>,
}

/// A manager's resolution of a waiting pass.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ResolutionView {
    pub sku: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lot: Option<String>,
    /// The manager who named it.
    pub by: String,
    /// The ledger movements it booked.
    pub movement_seqs: Vec<i64>,
    /// RFC 3339, UTC.
    pub resolved_at: String,
}

impl ResolutionView {
    fn of(resolution: &PassResolution) -> Self {
        Self {
            sku: resolution.sku.to_string(),
            lot: (!resolution.lot.is_none()).then(|| resolution.lot.as_str().to_owned()),
            by: resolution.actor.clone(),
            movement_seqs: resolution.movement_seqs.clone(),
            resolved_at: resolution.resolved_at.format(&Rfc3339).unwrap_or_default(),
        }
    }
}

impl PassView {
    fn of(pass: &GatePass) -> Self {
        Self {
            id: pass.id,
            gateway: pass.gateway.clone(),
            boot_id: pass.boot_id,
            seq: pass.seq,
            gate: pass.gate,
            dock: pass.dock.as_ref().map(ToString::to_string),
            direction: pass.direction.as_str().to_owned(),
            epc_hex: pass.epc_hex.clone(),
            epc: pass.epc.clone(),
            rssi_dbm: pass.rssi_dbm,
            antenna: pass.antenna,
            gateway_ms: pass.gateway_ms,
            weight_grams: pass.weight_grams,
            outcome: pass.outcome.as_str().to_owned(),
            detail: pass.detail.clone(),
            movement_seqs: pass.movement_seqs.clone(),
            recorded_at: pass.recorded_at.format(&Rfc3339).unwrap_or_default(),
            sku: pass.sku.as_ref().map(ToString::to_string),
            waiting_for: pass.waiting().map(|w| w.as_str().to_owned()),
            resolution: pass.resolution.as_ref().map(ResolutionView::of),
            weight_check: pass
                .weight_check
                .map(|(check, _)| check.as_str().to_owned()),
            expected_weight_grams: pass.weight_check.map(|(_, grams)| grams),
        }
    }
}

/// A page of passes.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Passes {
    pub passes: Vec<PassView>,
}

/// Pass paging.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PassQuery {
    /// Answer passes with a larger id (default 0: from the first).
    #[param(nullable = false, minimum = 0, maximum = 9_223_372_036_854_775_807_i64)]
    pub after_id: Option<i64>,
    /// 1–1000, default 100.
    #[param(nullable = false, minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

impl PassQuery {
    /// `(after_id, limit)`, checked.
    fn page(&self) -> Result<(i64, i64), ApiError> {
        let limit = super::page_limit(self.limit)?;
        let after_id = self.after_id.unwrap_or(0);
        if after_id < 0 {
            return Err(FieldError::new("after_id", "must not be negative").into());
        }
        Ok((after_id, limit))
    }
}

/// Gate passes after `after_id`, oldest first, each with its outcome.
#[utoipa::path(get, path = "/api/v1/gates/passes", operation_id = "listGatePasses", tag = "gates",
    params(PassQuery), security(("bearer" = [])),
    responses((status = 200, body = Passes),
        (status = 400, response = answers::BadRequest), (status = 401, response = answers::Unauthorized),
        (status = 403, response = answers::Forbidden), (status = 422, response = answers::Unprocessable),
        (status = 503, response = answers::Unavailable)))]
pub async fn passes(
    State(state): State<AppState>,
    Allowed(caller, _): Allowed<MayReadLedger>,
    Query(query): Query<PassQuery>,
) -> Result<Json<Passes>, ApiError> {
    let (after_id, limit) = query.page()?;
    let passes = state.depot.gate_passes(&caller, after_id, limit).await?;
    Ok(Json(Passes {
        passes: passes.iter().map(PassView::of).collect(),
    }))
}

/// The passes that wait for a manager, oldest first: `in` passes at a dock
/// whose EPC names no known article (`waiting_for: article`) or whose
/// lot-tracked article got no lot (`waiting_for: lot`).
#[utoipa::path(get, path = "/api/v1/gates/unresolved", operation_id = "listUnresolvedGatePasses", tag = "gates",
    params(PassQuery), security(("bearer" = [])),
    responses(
        (status = 200, body = Passes, links(
            ("resolveGatePass" = (operation_id = "resolveGatePass", parameters(("id" = "$response.body#/passes/0/id")))),
        )),
        (status = 400, response = answers::BadRequest), (status = 401, response = answers::Unauthorized),
        (status = 403, response = answers::Forbidden), (status = 422, response = answers::Unprocessable),
        (status = 503, response = answers::Unavailable)))]
pub async fn unresolved(
    State(state): State<AppState>,
    Allowed(caller, _): Allowed<MayReadLedger>,
    Query(query): Query<PassQuery>,
) -> Result<Json<Passes>, ApiError> {
    let (after_id, limit) = query.page()?;
    let passes = state
        .depot
        .waiting_gate_passes(&caller, after_id, limit)
        .await?;
    Ok(Json(Passes {
        passes: passes.iter().map(PassView::of).collect(),
    }))
}

/// What a manager names to book a waiting pass.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolutionBody {
    /// The article: required for a pass waiting for its article; for one
    /// waiting for its lot, if given, the pass's own.
    #[serde(default)]
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    pub sku: Option<String>,
    /// The lot (1–64 printable ASCII characters): required for a
    /// lot-tracked article.
    #[serde(default)]
    #[schema(pattern = "^[\\x21-\\x7E]{1,64}$")]
    pub lot: Option<String>,
}

impl ResolutionBody {
    fn parse(self) -> Result<ResolutionRequest, ApiError> {
        let sku = self.sku.as_deref().map(Sku::parse).transpose();
        let lot = self.lot.as_deref().map(Lot::parse).transpose();
        match (sku, lot) {
            (Ok(sku), Ok(lot)) => Ok(ResolutionRequest {
                sku,
                lot: lot.unwrap_or_else(Lot::none),
            }),
            (sku, lot) => Err(sku
                .err()
                .into_iter()
                .chain(lot.err())
                .collect::<Vec<_>>()
                .into()),
        }
    }
}

/// Books a waiting pass by naming its article and/or lot (managers): a
/// receipt of its item (or, for an EPC that named no item, of one unit) to
/// the gate's dock, source `gate`. The same resolution again answers the
/// first booking's movements (header `Idempotency-Replayed: true`) and books
/// nothing; another one for a resolved pass is 409.
#[utoipa::path(post, path = "/api/v1/gates/passes/{id}/resolution", operation_id = "resolveGatePass", tag = "gates",
    request_body = ResolutionBody,
    params(("id" = i64, Path, minimum = -9_223_372_036_854_775_808_i64, maximum = 9_223_372_036_854_775_807_i64, description = "the pass's record id")), security(("bearer" = [])),
    responses(
        (status = 201, body = Movements, description = "booked, or the same resolution's booking again",
            headers(("Idempotency-Replayed" = String, description = "`true` when the pass had been resolved so before and nothing was booked now")),
            links(
                ("listUnresolvedGatePasses" = (operation_id = "listUnresolvedGatePasses")),
                ("listMovements" = (operation_id = "listMovements")),
            )),
        (status = 400, response = answers::BadRequest), (status = 401, response = answers::Unauthorized),
        (status = 403, response = answers::Forbidden), (status = 404, response = answers::NotFound),
        (status = 409, description = "the pass waits for nothing, was resolved otherwise, or the booking conflicts with stock", body = Problem, content_type = "application/problem+json"),
        (status = 413, response = answers::TooLarge), (status = 415, response = answers::UnsupportedMediaType),
        (status = 422, response = answers::Unprocessable), (status = 503, response = answers::Unavailable)))]
pub async fn resolve(
    State(state): State<AppState>,
    Allowed(caller, _): Allowed<MayResolveGatePass>,
    Path(id): Path<i64>,
    body: JsonBody<ResolutionBody>,
) -> Result<Response, ApiError> {
    let request = body.value.parse()?;
    let answer = state.depot.resolve_gate_pass(&caller, id, request).await?;
    let mut response = render_outcome(&answer.outcome);
    if answer.replayed {
        response
            .headers_mut()
            .insert("idempotency-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// One gateway as the poller last saw it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct GatewayView {
    pub id: String,
    /// `tcp:HOST:PORT` or `rtu:PATH?baud=N`.
    pub transport: String,
    pub unit_id: u8,
    /// `starting`, `online`, `offline` (no answer; retried with backoff) or
    /// `degraded` (exceptions, answers that do not decode, an old map).
    #[schema(schema_with = openapi::link_state)]
    pub state: String,
    /// RFC 3339: since when `state` holds.
    pub since: String,
    /// Why it is offline or degraded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// RFC 3339: the last answered poll.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_poll: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub map_version: Option<u16>,
    /// The gateway's current boot, as the server named it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub boot_id: Option<u32>,
    /// Events the gateway lost (ring overflow) since the server started.
    pub events_lost: u64,
    /// The scale's state in the last poll (`stable`, `dynamic`, `timeout`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scale: Option<String>,
    /// The scale's weight in the last poll, grams, when valid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight_grams: Option<i32>,
    /// Gate index → dock location code (`null` for a gate without one).
    pub docks: Vec<Option<String>>,
    /// Passes stored per second, averaged over the last minute.
    pub events_per_s: f64,
    /// Since the server started: polls that timed out or whose transport
    /// failed, exception answers, answers that did not decode.
    pub link_errors: u64,
    pub exceptions: u64,
    pub malformed: u64,
    /// The gateway's own status block, as last read (every 10 s while it
    /// answers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<GatewayStatusView>,
    /// Each configured gate: its dock and newest pass.
    pub gates: Vec<GateView>,
}

/// What a gateway says of itself (REGISTERS.md, input registers 0–31);
/// its counters run from its boot.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct GatewayStatusView {
    /// `MAJOR.MINOR.PATCH`.
    pub firmware_version: String,
    pub uptime_s: u32,
    /// `starting`, `reading` or `fault`.
    pub reader: String,
    /// Modbus frames it answered or accepted.
    pub frames_ok: u32,
    /// Modbus frames it dropped for a bad CRC (line noise, a second master).
    pub crc_errors: u32,
    /// Modbus frames it dropped as malformed.
    pub frames_malformed: u32,
    pub exceptions_sent: u32,
    pub reader_frame_errors: u32,
    pub scale_line_errors: u32,
    /// RFC 3339: when the block was read.
    pub read_at: String,
}

/// One gate of a gateway.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct GateView {
    /// The gate's index at its gateway.
    pub gate: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dock: Option<String>,
    /// Its newest pass you may see (absent without the right to read the
    /// ledger, or before the first pass).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_pass: Option<PassView>,
}

impl GatewayView {
    fn of(state: &GatewayState, last_passes: &[Option<GatePass>]) -> Self {
        let time = |t: time::OffsetDateTime| t.format(&Rfc3339).unwrap_or_default();
        Self {
            id: state.id.clone(),
            transport: state.transport.clone(),
            unit_id: state.unit_id,
            state: state.link.as_str().to_owned(),
            since: time(state.since),
            reason: state.reason.clone(),
            last_poll: state.last_poll.map(time),
            map_version: state.map_version,
            boot_id: state.boot_id,
            events_lost: state.events_lost,
            scale: state.scale.as_ref().map(|(status, _)| status.clone()),
            weight_grams: state.scale.as_ref().and_then(|(_, weight)| *weight),
            docks: state
                .docks
                .iter()
                .map(|d| d.as_ref().map(ToString::to_string))
                .collect(),
            events_per_s: f64::from(state.passes_last_minute) / PassRate::WINDOW_S as f64,
            link_errors: state.link_errors,
            exceptions: state.exceptions,
            malformed: state.malformed,
            status: state.status.as_ref().map(|(status, at)| GatewayStatusView {
                firmware_version: format!(
                    "{}.{}.{}",
                    status.firmware_version.0, status.firmware_version.1, status.firmware_version.2
                ),
                uptime_s: status.uptime_s,
                reader: format!("{:?}", status.reader_status).to_lowercase(),
                frames_ok: status.counters.frames_ok,
                crc_errors: status.counters.frames_crc_error,
                frames_malformed: status.counters.frames_malformed,
                exceptions_sent: status.counters.exceptions_sent,
                reader_frame_errors: status.counters.reader_frame_errors,
                scale_line_errors: status.counters.scale_line_errors,
                read_at: time(*at),
            }),
            gates: gate_views(state, last_passes),
        }
    }
}

/// The gates the configuration names (a pass at any other gate has no dock
/// and is in the passes as `flagged`).
fn gate_views(state: &GatewayState, last_passes: &[Option<GatePass>]) -> Vec<GateView> {
    state
        .docks
        .iter()
        .enumerate()
        .map(|(index, dock)| GateView {
            gate: u16::try_from(index).unwrap_or(u16::MAX),
            dock: dock.as_ref().map(ToString::to_string),
            last_pass: last_passes
                .get(index)
                .and_then(Option::as_ref)
                .map(PassView::of),
        })
        .collect()
}

/// The gateways.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Gateways {
    pub gateways: Vec<GatewayView>,
}

/// Each polled gateway's link state, map and firmware version, boot, rate,
/// errors, losses and scale, and each gate's dock and newest pass.
#[utoipa::path(get, path = "/api/v1/gates", operation_id = "listGateways", tag = "gates",
    security(("bearer" = [])),
    responses((status = 200, body = Gateways),
        (status = 401, response = answers::Unauthorized), (status = 503, response = answers::Unavailable)))]
pub async fn gateways(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<Json<Gateways>, ApiError> {
    let gateways = state.depot.gateways(&caller)?;
    let mut views = Vec::with_capacity(gateways.len());
    for gateway in &gateways {
        let last_passes = if caller.role.may(Action::ReadLedger) {
            state
                .depot
                .last_gate_passes(&caller, &gateway.id, gateway.docks.len())
                .await?
        } else {
            Vec::new()
        };
        views.push(GatewayView::of(gateway, &last_passes));
    }
    Ok(Json(Gateways { gateways: views }))
}
