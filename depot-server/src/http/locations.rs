//! `/api/v1/locations`: read, list, create and replace locations.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::Schema;
use utoipa::openapi::RefOr;
use utoipa::{IntoParams, PartialSchema, ToSchema};

use super::error::{answers, ApiError};
use super::extract::{whole_number, Allowed, Authenticated, JsonBody, MayKeepMasterData};
use super::{openapi, page_limit, AppState};
use crate::domain::location::{Location, LocationDraft};

/// A location as sent and answered.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LocationBody {
    /// e.g. `A-01-03`: `[A-Za-z0-9._-]{1,64}`; required on POST, on PUT it
    /// may be left out (the path names it; if given, it must be the path's).
    #[serde(default)]
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    pub code: Option<String>,
    /// `[A-Za-z0-9._-]{1,32}`.
    #[schema(pattern = "^[A-Za-z0-9._-]{1,32}$")]
    pub zone: String,
    #[schema(schema_with = openapi::location_kind)]
    pub kind: String,
    /// Litres; `null`: not limited.
    #[serde(default, deserialize_with = "whole_number")]
    #[schema(minimum = 0, maximum = 9_223_372_036_854_775_807_i64)]
    pub capacity_volume_l: Option<i64>,
    /// Kilograms; `null`: not limited.
    #[serde(default, deserialize_with = "whole_number")]
    #[schema(minimum = 0, maximum = 9_223_372_036_854_775_807_i64)]
    pub capacity_weight_kg: Option<i64>,
    /// Pallet places; `null`: not limited.
    #[serde(default, deserialize_with = "whole_number")]
    #[schema(minimum = 0, maximum = 9_223_372_036_854_775_807_i64)]
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

/// The body of `POST /api/v1/locations` (documentation only; parsed as a
/// [`LocationBody`]).
pub struct NewLocation;

impl PartialSchema for NewLocation {
    fn schema() -> RefOr<Schema> {
        openapi::key_required(LocationBody::schema(), "code", "A new location.")
    }
}

impl ToSchema for NewLocation {}

/// The body of `PUT /api/v1/locations/{code}` (documentation only; parsed
/// as a [`LocationBody`]).
pub struct LocationChange;

impl PartialSchema for LocationChange {
    fn schema() -> RefOr<Schema> {
        openapi::key_in_path(
            LocationBody::schema(),
            "code",
            "A location, its code named by the path (a `code` field must be the path's).",
        )
    }
}

impl ToSchema for LocationChange {}

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
    #[param(nullable = false)]
    pub after: Option<String>,
    /// 1–1000, default 100.
    #[param(nullable = false, minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
    /// Only this zone.
    #[param(nullable = false)]
    pub zone: Option<String>,
}

/// Lists locations.
#[utoipa::path(get, path = "/api/v1/locations", operation_id = "listLocations", tag = "locations",
    params(LocationQuery), security(("bearer" = [])),
    responses(
        (status = 200, body = LocationPage, links(
            ("readLocation" = (operation_id = "readLocation", parameters(("code" = "$response.body#/items/0/code")))),
        )),
        (status = 400, response = answers::BadRequest), (status = 401, response = answers::Unauthorized),
        (status = 422, response = answers::Unprocessable), (status = 503, response = answers::Unavailable)))]
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
#[utoipa::path(get, path = "/api/v1/locations/{code}", operation_id = "readLocation", tag = "locations",
    params(("code" = String, Path, pattern = "^[A-Za-z0-9._-]{1,64}$")), security(("bearer" = [])),
    responses((status = 200, body = LocationBody),
        (status = 400, response = answers::BadRequest), (status = 401, response = answers::Unauthorized),
        (status = 404, response = answers::NotFound), (status = 503, response = answers::Unavailable)))]
pub async fn read(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(code): Path<String>,
) -> Result<Json<LocationBody>, ApiError> {
    let location = state.depot.location(&caller, &code).await?;
    Ok(Json(LocationBody::from_location(&location)))
}

/// Creates a location (managers); 409 if the code exists.
#[utoipa::path(post, path = "/api/v1/locations", operation_id = "createLocation", tag = "locations",
    request_body = NewLocation, security(("bearer" = [])),
    responses(
        (status = 201, body = LocationBody, links(
            ("readLocation" = (operation_id = "readLocation", parameters(("code" = "$response.body#/code")))),
        )),
        (status = 400, response = answers::BadRequest), (status = 401, response = answers::Unauthorized),
        (status = 403, response = answers::Forbidden), (status = 409, response = answers::Conflict),
        (status = 413, response = answers::TooLarge), (status = 415, response = answers::UnsupportedMediaType),
        (status = 422, response = answers::Unprocessable), (status = 503, response = answers::Unavailable)))]
pub async fn create(
    State(state): State<AppState>,
    Allowed(caller, _): Allowed<MayKeepMasterData>,
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
#[utoipa::path(put, path = "/api/v1/locations/{code}", operation_id = "replaceLocation", tag = "locations",
    params(("code" = String, Path, pattern = "^[A-Za-z0-9._-]{1,64}$")),
    request_body = LocationChange, security(("bearer" = [])),
    responses(
        (status = 200, body = LocationBody, links(
            ("readLocation" = (operation_id = "readLocation", parameters(("code" = "$request.path.code")))),
        )),
        (status = 201, body = LocationBody, links(
            ("readLocation" = (operation_id = "readLocation", parameters(("code" = "$request.path.code")))),
        )),
        (status = 400, response = answers::BadRequest), (status = 401, response = answers::Unauthorized),
        (status = 403, response = answers::Forbidden),
        (status = 413, response = answers::TooLarge), (status = 415, response = answers::UnsupportedMediaType),
        (status = 422, response = answers::Unprocessable), (status = 503, response = answers::Unavailable)))]
pub async fn replace(
    State(state): State<AppState>,
    Allowed(caller, _): Allowed<MayKeepMasterData>,
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
