//! `/locations/{code}`: one location — zone, kind, capacity, how full it is
//! (bars per dimension) and the stock lying there (restricted articles only
//! for cleared viewers; the fill counts all stock, as utilisation does).

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use maud::html;

use super::error_page;
use super::layout::{self, Head, Section};
use super::session::Viewer;
use super::utilisation::bar;
use crate::depot::DepotError;
use crate::domain::stock::{StockFilter, StockPage};
use crate::http::AppState;

/// Stock lines shown of one location.
const PAGE_LINES: i64 = 500;

/// `GET /locations/{code}`.
pub async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(code): Path<String>,
) -> Response {
    let t = viewer.lang.texts();
    let depot = &state.depot;
    let caller = &viewer.caller;
    let loaded = async {
        let location = depot.location(caller, &code).await?;
        let filter = StockFilter {
            location: Some(location.code.as_str().to_owned()),
            ..StockFilter::default()
        };
        let lines = depot
            .stock(caller, &filter, &StockPage::First, PAGE_LINES)
            .await?;
        let fill = depot.location_fill(caller, &location).await?;
        Ok::<_, DepotError>((location, lines, fill))
    }
    .await;
    let (location, lines, fill) = match loaded {
        Ok(loaded) => loaded,
        Err(error) => return error_page(viewer.lang, &error),
    };
    let capacity = |value: Option<i64>, unit: &str| match value {
        Some(v) => format!("{v} {unit}").trim_end().to_owned(),
        None => t.unlimited.to_owned(),
    };
    let body = html! {
        h1 { (t.location_title) " " span id="location-code" { (location.code) } }
        dl class="facts" {
            div { dt { (t.zone) } dd { a href=(format!("/utilisation?zone={}", layout::urlencode(&location.zone))) { (location.zone) } } }
            div { dt { (t.location_kind) } dd { (location.kind.as_str()) } }
            div { dt { (t.capacity) " · " (t.volume) } dd { (capacity(location.capacity.volume_l, "l")) } }
            div { dt { (t.capacity) " · " (t.weight) } dd { (capacity(location.capacity.weight_kg, "kg")) } }
            div { dt { (t.capacity) " · " (t.pallets) } dd { (capacity(location.capacity.pallets, "")) } }
        }
        section aria-labelledby="fill-heading" {
            h2 id="fill-heading" { (t.utilisation) }
            dl class="facts" id="location-fill" {
                div { dt { (t.volume) } dd { (bar(t, fill.volume_ml)) } }
                div { dt { (t.weight) } dd { (bar(t, fill.weight_g)) } }
                div { dt { (t.pallets) } dd { (bar(t, fill.pallets)) } }
            }
        }
        section aria-labelledby="here-heading" {
            h2 id="here-heading" { (t.stock_here) }
            @if lines.is_empty() {
                p { (t.no_stock) }
            } @else {
                div class="scroll" {
                    table id="location-stock" {
                        thead { tr {
                            th scope="col" { (t.sku) }
                            th scope="col" { (t.lot) }
                            th scope="col" class="num" { (t.quantity) }
                        } }
                        tbody {
                            @for line in &lines {
                                tr {
                                    td { a href=(format!("/articles/{}", layout::urlencode(&line.sku))) { (line.sku) } }
                                    td { (line.lot) }
                                    td class="num" { (line.quantity) }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    let path = format!("/locations/{}", layout::urlencode(location.code.as_str()));
    let head = Head {
        title: t.location_title,
        section: Section::Utilisation,
        path: &path,
        scripts: &[],
    };
    layout::page(&viewer, head, body).into_response()
}
