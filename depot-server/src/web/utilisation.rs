//! `/utilisation`: used and free capacity (volume, weight, pallet places) by
//! zone and by location, with bars; `?zone=` narrows the locations. Capacity
//! is what a civil firm may see, so it counts all stock, as the feed's
//! utilisation snapshot does. The start page shows the zone table.

use std::collections::BTreeMap;

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use serde::Deserialize;

use super::error_page;
use super::i18n::Texts;
use super::layout::{self, Head, Section};
use super::session::Viewer;
use crate::domain::location::Location;
use crate::domain::utilization::{Fill, Utilization};
use crate::http::AppState;

/// Utilisation summed per zone, and over the depot.
pub fn by_zone(
    rows: &[(Location, Utilization)],
) -> (BTreeMap<String, Utilization>, Option<Utilization>) {
    let mut zones: BTreeMap<String, Utilization> = BTreeMap::new();
    let mut total: Option<Utilization> = None;
    for (location, fill) in rows {
        zones
            .entry(location.zone.clone())
            .and_modify(|z| *z = z.plus(*fill))
            .or_insert(*fill);
        total = Some(total.map_or(*fill, |d| d.plus(*fill)));
    }
    (zones, total)
}

#[derive(Debug, Deserialize)]
pub struct UtilisationQuery {
    zone: Option<String>,
}

/// `GET /utilisation`.
pub async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(query): Query<UtilisationQuery>,
) -> Response {
    let t = viewer.lang.texts();
    let rows = match state.depot.utilization(&viewer.caller).await {
        Ok(rows) => rows,
        Err(error) => return error_page(viewer.lang, &error),
    };
    let (zones, total) = by_zone(&rows);
    let zone = query.zone.filter(|z| !z.trim().is_empty());
    let body = html! {
        h1 { (t.utilisation_title) }
        section aria-labelledby="zones-heading" {
            h2 id="zones-heading" { (t.by_zone) }
            (zone_table(t, &zones, total))
        }
        section aria-labelledby="locations-heading" {
            h2 id="locations-heading" { (t.by_location) @if let Some(zone) = &zone { " · " (t.zone) " " (zone) } }
            div class="scroll" {
                table id="location-fill" {
                    thead { tr {
                        th scope="col" { (t.location) }
                        th scope="col" { (t.zone) }
                        th scope="col" { (t.volume) }
                        th scope="col" { (t.weight) }
                        th scope="col" { (t.pallets) }
                    } }
                    tbody {
                        @for (location, fill) in rows.iter().filter(|(l, _)| zone.as_deref().is_none_or(|z| l.zone == z)) {
                            tr {
                                th scope="row" { a href=(format!("/locations/{}", layout::urlencode(location.code.as_str()))) { (location.code) } }
                                td { (location.zone) }
                                td { (bar(t, fill.volume_ml)) }
                                td { (bar(t, fill.weight_g)) }
                                td { (bar(t, fill.pallets)) }
                            }
                        }
                    }
                }
            }
        }
    };
    let head = Head {
        title: t.utilisation_title,
        section: Section::Utilisation,
        path: "/utilisation",
        scripts: &[],
    };
    layout::page(&viewer, head, body).into_response()
}

/// Zones and the depot's total, each dimension a bar; a zone links to its locations.
pub fn zone_table(
    t: &Texts,
    zones: &BTreeMap<String, Utilization>,
    total: Option<Utilization>,
) -> Markup {
    html! {
        div class="scroll" {
            table class="fill" {
                thead { tr {
                    th scope="col" { (t.zone) }
                    th scope="col" { (t.volume) }
                    th scope="col" { (t.weight) }
                    th scope="col" { (t.pallets) }
                } }
                tbody {
                    @for (zone, fill) in zones {
                        tr {
                            th scope="row" { a href=(format!("/utilisation?zone={}", layout::urlencode(zone))) { (zone) } }
                            td { (bar(t, fill.volume_ml)) }
                            td { (bar(t, fill.weight_g)) }
                            td { (bar(t, fill.pallets)) }
                        }
                    }
                    @if let Some(total) = total {
                        tr class="total" {
                            th scope="row" { (t.depot_total) }
                            td { (bar(t, total.volume_ml)) }
                            td { (bar(t, total.weight_g)) }
                            td { (bar(t, total.pallets)) }
                        }
                    }
                }
            }
        }
    }
}

/// A bar for one dimension: a `meter` (no inline style, which the CSP
/// forbids) and the percentage.
pub fn bar(t: &Texts, fill: Fill) -> Markup {
    match fill.per_mille() {
        Some(per_mille) => html! {
            meter min="0" max="1000" low="700" high="900" optimum="0" value=(per_mille.min(1000)) {}
            " " span class="pct" { (per_mille / 10) " %" }
        },
        None => html! { span class="muted" { (t.unlimited) } },
    }
}
