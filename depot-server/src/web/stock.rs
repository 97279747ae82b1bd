//! `/stock`: stock levels with a search (part of the SKU, name, GTIN or NSN)
//! and filters by SKU, location and zone (a GET form, so a search is a link).

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use maud::html;
use serde::Deserialize;

use super::error_page;
use super::layout::{self, Head, Section};
use super::session::Viewer;
use crate::domain::stock::StockFilter;
use crate::http::AppState;

/// Lines shown per page.
const PAGE_LINES: i64 = 200;

#[derive(Debug, Deserialize)]
pub struct StockQuery {
    q: Option<String>,
    sku: Option<String>,
    location: Option<String>,
    zone: Option<String>,
}

fn given(text: Option<String>) -> Option<String> {
    text.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty())
}

/// `GET /stock`.
pub async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(query): Query<StockQuery>,
) -> Response {
    let t = viewer.lang.texts();
    let filter = StockFilter {
        sku: given(query.sku),
        location: given(query.location),
        zone: given(query.zone),
        text: given(query.q),
    };
    let lines = match state.depot.stock(&viewer.caller, &filter, PAGE_LINES).await {
        Ok(lines) => lines,
        Err(error) => return error_page(viewer.lang, &error),
    };
    let value = |v: &Option<String>| v.clone().unwrap_or_default();
    let body = html! {
        h1 { (t.stock_title) }
        form method="get" action="/stock" class="filters" role="search" {
            div { label for="f-q" { (t.search_text) } input id="f-q" name="q" type="search" value=(value(&filter.text)) autocapitalize="none" spellcheck="false"; }
            div { label for="f-sku" { (t.sku) } input id="f-sku" name="sku" type="search" value=(value(&filter.sku)) autocapitalize="none" spellcheck="false"; }
            div { label for="f-location" { (t.location) } input id="f-location" name="location" type="search" value=(value(&filter.location)) autocapitalize="none"; }
            div { label for="f-zone" { (t.zone) } input id="f-zone" name="zone" type="search" value=(value(&filter.zone)) autocapitalize="none"; }
            button type="submit" { (t.search) }
        }
        @if lines.is_empty() {
            p id="no-stock" { (t.no_stock) }
        } @else {
            div class="scroll" {
                table id="stock" {
                    thead { tr {
                        th scope="col" { (t.sku) }
                        th scope="col" { (t.location) }
                        th scope="col" { (t.zone) }
                        th scope="col" { (t.lot) }
                        th scope="col" class="num" { (t.quantity) }
                    } }
                    tbody {
                        @for line in &lines {
                            tr {
                                td { (line.sku) }
                                td { (line.location) }
                                td { (line.zone) }
                                td { (line.lot) }
                                td class="num" { (line.quantity) }
                            }
                        }
                    }
                }
            }
        }
    };
    let head = Head {
        title: t.stock_title,
        section: Section::Stock,
        path: "/stock",
        scripts: &[],
    };
    layout::page(&viewer, head, body).into_response()
}
