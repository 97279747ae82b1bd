//! `/api/v1/stock` and `/api/v1/utilization`.

use std::collections::BTreeMap;

use axum::extract::{Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{answers, ApiError};
use super::extract::Authenticated;
use super::AppState;
use crate::domain::stock::{StockFilter, StockPage};
use crate::domain::utilization::{Fill, Utilization};

/// Stock filters; all optional.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct StockQuery {
    /// Only this article.
    #[param(nullable = false)]
    pub sku: Option<String>,
    /// Only this location.
    #[param(nullable = false)]
    pub location: Option<String>,
    /// Only this zone.
    #[param(nullable = false)]
    pub zone: Option<String>,
    /// 1–1000, default 100.
    #[param(nullable = false, minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

/// One stock level.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StockItem {
    pub sku: String,
    pub location: String,
    pub zone: String,
    /// `null` when the article is not lot-tracked.
    pub lot: Option<String>,
    pub quantity: i64,
}

/// Stock levels.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StockReport {
    pub items: Vec<StockItem>,
}

/// Stock levels the caller may see, by SKU, location and lot.
#[utoipa::path(get, path = "/api/v1/stock", operation_id = "readStock", tag = "stock",
    params(StockQuery), security(("bearer" = [])),
    responses(
        (status = 200, body = StockReport, links(
            ("readArticle" = (operation_id = "readArticle", parameters(("sku" = "$response.body#/items/0/sku")))),
            ("readLocation" = (operation_id = "readLocation", parameters(("code" = "$response.body#/items/0/location")))),
        )),
        (status = 400, response = answers::BadRequest), (status = 401, response = answers::Unauthorized),
        (status = 422, response = answers::Unprocessable), (status = 503, response = answers::Unavailable)))]
pub async fn stock(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Query(query): Query<StockQuery>,
) -> Result<Json<StockReport>, ApiError> {
    let limit = super::page_limit(query.limit)?;
    let filter = StockFilter {
        sku: query.sku,
        location: query.location,
        zone: query.zone,
        ..StockFilter::default()
    };
    let lines = state
        .depot
        .stock(&caller, &filter, &StockPage::First, limit)
        .await?;
    let items = lines
        .into_iter()
        .map(|l| StockItem {
            sku: l.sku,
            location: l.location,
            zone: l.zone,
            lot: (!l.lot.is_empty()).then_some(l.lot),
            quantity: l.quantity,
        })
        .collect();
    Ok(Json(StockReport { items }))
}

/// Used and capacity in one dimension.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FillView {
    pub used: i64,
    /// `null` when not limited.
    pub capacity: Option<i64>,
    /// `null` when not limited.
    pub free: Option<i64>,
    /// used / capacity in per mille.
    pub per_mille: Option<i64>,
}

impl From<Fill> for FillView {
    fn from(fill: Fill) -> Self {
        Self {
            used: fill.used,
            capacity: fill.capacity,
            free: fill.capacity.map(|c| (c - fill.used).max(0)),
            per_mille: fill.per_mille(),
        }
    }
}

/// Utilisation in volume (ml), weight (g) and pallet places.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UtilizationView {
    pub volume_ml: FillView,
    pub weight_g: FillView,
    pub pallets: FillView,
}

impl From<Utilization> for UtilizationView {
    fn from(u: Utilization) -> Self {
        Self {
            volume_ml: u.volume_ml.into(),
            weight_g: u.weight_g.into(),
            pallets: u.pallets.into(),
        }
    }
}

/// Utilisation of one location.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LocationUtilization {
    pub code: String,
    pub zone: String,
    #[serde(flatten)]
    pub utilization: UtilizationView,
}

/// Utilisation of one zone.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ZoneUtilization {
    pub zone: String,
    #[serde(flatten)]
    pub utilization: UtilizationView,
}

/// Utilisation of the depot, its zones and locations. A zone's or the
/// depot's capacity is known in a dimension only if every location there has one.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UtilizationReport {
    pub depot: UtilizationView,
    pub zones: Vec<ZoneUtilization>,
    pub locations: Vec<LocationUtilization>,
}

/// Utilisation by location, zone and depot (all stock, including restricted:
/// free capacity is what the depot shares).
#[utoipa::path(get, path = "/api/v1/utilization", operation_id = "readUtilization", tag = "stock",
    security(("bearer" = [])),
    responses(
        (status = 200, body = UtilizationReport, links(
            ("readLocation" = (operation_id = "readLocation", parameters(("code" = "$response.body#/locations/0/code")))),
        )),
        (status = 401, response = answers::Unauthorized), (status = 503, response = answers::Unavailable)))]
pub async fn utilization(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<Json<UtilizationReport>, ApiError> {
    let rows = state.depot.utilization(&caller).await?;
    let mut zones: BTreeMap<String, Utilization> = BTreeMap::new();
    let mut depot: Option<Utilization> = None;
    let mut locations = Vec::with_capacity(rows.len());
    for (location, fill) in rows {
        zones
            .entry(location.zone.clone())
            .and_modify(|z| *z = z.plus(fill))
            .or_insert(fill);
        depot = Some(depot.map_or(fill, |d| d.plus(fill)));
        locations.push(LocationUtilization {
            code: location.code.to_string(),
            zone: location.zone,
            utilization: fill.into(),
        });
    }
    let empty = Utilization::of(Default::default(), Default::default());
    Ok(Json(UtilizationReport {
        depot: depot.unwrap_or(empty).into(),
        zones: zones
            .into_iter()
            .map(|(zone, u)| ZoneUtilization {
                zone,
                utilization: u.into(),
            })
            .collect(),
        locations,
    }))
}
