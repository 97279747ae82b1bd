//! `/api/v1/gates/passes`: every gate pass with what became of it.

use axum::extract::{Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, Problem};
use super::extract::Authenticated;
use super::AppState;
use crate::domain::gate::GatePass;
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
    pub outcome: String,
    /// Why it was not booked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The ledger movements it booked.
    pub movement_seqs: Vec<i64>,
    /// RFC 3339, UTC.
    pub recorded_at: String,
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
    pub after_id: Option<i64>,
    /// 1–1000, default 100.
    pub limit: Option<i64>,
}

/// Gate passes after `after_id`, oldest first, each with its outcome.
#[utoipa::path(get, path = "/api/v1/gates/passes", params(PassQuery), security(("bearer" = [])),
    responses((status = 200, body = Passes), (status = 403, body = Problem)))]
pub async fn passes(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Query(query): Query<PassQuery>,
) -> Result<Json<Passes>, ApiError> {
    let limit = super::page_limit(query.limit)?;
    let after_id = query.after_id.unwrap_or(0);
    if after_id < 0 {
        return Err(FieldError::new("after_id", "must not be negative").into());
    }
    let passes = state.depot.gate_passes(&caller, after_id, limit).await?;
    Ok(Json(Passes {
        passes: passes.iter().map(PassView::of).collect(),
    }))
}
