//! `/api/v1/locations`: read, list, create and replace locations.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, Problem};
use super::extract::{Authenticated, JsonBody};
use super::{page_limit, AppState};
use crate::domain::location::{Location, LocationDraft};

/// A location as sent and answered.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LocationBody {
    /// e.g. `A-01-03`; on PUT it may be left out (the path names it).
    #[serde(default)]
    pub code: Option<String>,
    pub zone: String,
    /// `bin`, `dock`, `staging` or `yard`.
    pub kind: String,
    #[serde(default)]
    pub capacity_volume_l: Option<i64>,
    #[serde(default)]
    pub capacity_weight_kg: Option<i64>,
    #[serde(default)]
    pub capacity_pallets: Option<i64>,
}

impl LocationBody {
    /// The answer form of a location.
    pub fn from_location(location: &Location) -> Self {
        Self {
            code: Some(location.code.to_string()),
            zone: location.zone.clone(),
            kind: location.kind.as_str().to_owned(),
            capacity_volume_l: location.capacity.volume_l,
            capacity_weight_kg: location.capacity.weight_kg,
            capacity_pallets: location.capacity.pallets,
        }
    }

    /// The draft the façade's parsing checks.
    pub fn into_draft(self) -> LocationDraft {
        LocationDraft {
            code: self.code,
            zone: self.zone,
            kind: self.kind,
            capacity_volume_l: self.capacity_volume_l,
            capacity_weight_kg: self.capacity_weight_kg,
            capacity_pallets: self.capacity_pallets,
        }
    }
}

/// A page of locations.
#[derive(Debug, Serialize, ToSchema)]
pub struct LocationPage {
    pub items: Vec<LocationBody>,
    /// Pass as `after` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_after: Option<String>,
}

/// Paging and filter parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct LocationQuery {
    /// Answer locations after this code.
    pub after: Option<String>,
    /// 1–1000, default 100.
    pub limit: Option<i64>,
    /// Only this zone.
    pub zone: Option<String>,
}

/// Lists locations.
#[utoipa::path(get, path = "/api/v1/locations", params(LocationQuery), security(("bearer" = [])),
    responses((status = 200, body = LocationPage), (status = 401, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Query(query): Query<LocationQuery>,
) -> Result<Json<LocationPage>, ApiError> {
    let limit = page_limit(query.limit)?;
    let after = query.after.as_deref().unwrap_or("");
    let locations = state
        .depot
        .locations(&caller, after, limit, query.zone.as_deref())
        .await?;
    let next_after = (locations.len() as i64 == limit)
        .then(|| locations.last().map(|l| l.code.to_string()))
        .flatten();
    Ok(Json(LocationPage {
        items: locations.iter().map(LocationBody::from_location).collect(),
        next_after,
    }))
}

/// One location.
#[utoipa::path(get, path = "/api/v1/locations/{code}", security(("bearer" = [])),
    responses((status = 200, body = LocationBody), (status = 404, body = Problem)))]
pub async fn read(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(code): Path<String>,
) -> Result<Json<LocationBody>, ApiError> {
    let location = state.depot.location(&caller, &code).await?;
    Ok(Json(LocationBody::from_location(&location)))
}

/// Creates a location (managers); 409 if the code exists.
#[utoipa::path(post, path = "/api/v1/locations", request_body = LocationBody, security(("bearer" = [])),
    responses((status = 201, body = LocationBody), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    body: JsonBody<LocationBody>,
) -> Result<Response, ApiError> {
    let location = body.value.into_draft().parse(None)?;
    state
        .depot
        .create_location(&caller, location.clone())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(LocationBody::from_location(&location)),
    )
        .into_response())
}

/// Creates or replaces a location (managers): 201 when new, 200 when replaced.
#[utoipa::path(put, path = "/api/v1/locations/{code}", request_body = LocationBody, security(("bearer" = [])),
    responses((status = 200, body = LocationBody), (status = 201, body = LocationBody), (status = 422, body = Problem)))]
pub async fn replace(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(code): Path<String>,
    body: JsonBody<LocationBody>,
) -> Result<Response, ApiError> {
    let location = body.value.into_draft().parse(Some(&code))?;
    let created = state.depot.put_location(&caller, location.clone()).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(LocationBody::from_location(&location))).into_response())
}
