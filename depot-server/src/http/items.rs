//! `/api/v1/items/{epc}`: one serialised item, by EPC hex, URI or Digital Link.

use axum::extract::{Path, State};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::error::{answers, ApiError, Problem};
use super::extract::{Allowed, MayReadLedger};
use super::{openapi, AppState};
use crate::domain::FieldError;
use crate::epc;

/// A serialised item and where it is.
#[derive(Debug, Serialize, ToSchema)]
pub struct ItemView {
    /// The pure-identity URI, e.g. `urn:epc:id:sgtin:0614141.812345.6789`.
    pub epc: String,
    pub sku: String,
    #[schema(schema_with = openapi::item_state)]
    pub state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lot: Option<String>,
    /// The seq of the last movement of this item.
    pub last_seq: i64,
}

/// One item; the EPC may be given as hex or as a tag or pure-identity URI.
#[utoipa::path(get, path = "/api/v1/items/{epc}", operation_id = "readItem", tag = "stock",
    params(("epc" = String, Path, description = "hex, tag URI, pure-identity URI or GS1 Digital Link")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = ItemView, links(
            ("readArticle" = (operation_id = "readArticle", parameters(("sku" = "$response.body#/sku")))),
        )),
        (status = 400, response = answers::BadRequest), (status = 401, response = answers::Unauthorized),
        (status = 403, response = answers::Forbidden), (status = 404, response = answers::NotFound),
        (status = 422, description = "not an EPC in any accepted notation", body = Problem, content_type = "application/problem+json"),
        (status = 503, response = answers::Unavailable)))]
pub async fn read(
    State(state): State<AppState>,
    Allowed(caller, _): Allowed<MayReadLedger>,
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
