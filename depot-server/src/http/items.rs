//! `/api/v1/items/{epc}`: one serialised item, by EPC hex, URI or Digital Link.

use axum::extract::{Path, State};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::error::{ApiError, Problem};
use super::extract::Authenticated;
use super::AppState;
use crate::domain::FieldError;
use crate::epc;

/// A serialised item and where it is.
#[derive(Debug, Serialize, ToSchema)]
pub struct ItemView {
    /// The pure-identity URI, e.g. `urn:epc:id:sgtin:0614141.812345.6789`.
    pub epc: String,
    pub sku: String,
    /// `stored`, `issued` or `in_transit`.
    pub state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lot: Option<String>,
    /// The seq of the last movement of this item.
    pub last_seq: i64,
}

/// One item; the EPC may be given as hex or as a tag or pure-identity URI.
#[utoipa::path(get, path = "/api/v1/items/{epc}", security(("bearer" = [])),
    responses((status = 200, body = ItemView), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn read(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(text): Path<String>,
) -> Result<Json<ItemView>, ApiError> {
    let epc = epc::parse(&text).map_err(|reason| FieldError::new("epc", reason))?;
    let item = state.depot.item(&caller, &epc.id).await?;
    Ok(Json(ItemView {
        epc: item.facts.epc,
        sku: item.sku.to_string(),
        state: item.facts.state.as_str().to_owned(),
        location: item.facts.location.map(|l| l.to_string()),
        lot: (!item.lot.is_none()).then(|| item.lot.as_str().to_owned()),
        last_seq: item.last_seq,
    }))
}
