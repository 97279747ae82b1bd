//! `/articles/{sku}`: one article — its facts, its stock by location and
//! lot, its serialised items and its last movements. A restricted article
//! is "not found" to a viewer without clearance, exactly like one that does
//! not exist.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use maud::html;

use super::error_page;
use super::layout::{self, Head, Section};
use super::movements;
use super::session::Viewer;
use crate::depot::DepotError;
use crate::domain::access::Action;
use crate::domain::stock::{StockFilter, StockPage};
use crate::http::AppState;

/// Stock lines, items and movements shown of one article.
const PAGE_LINES: i64 = 200;
const PAGE_ITEMS: i64 = 100;
const PAGE_MOVEMENTS: i64 = 20;

/// `GET /articles/{sku}`.
pub async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(sku): Path<String>,
) -> Response {
    let t = viewer.lang.texts();
    let depot = &state.depot;
    let caller = &viewer.caller;
    let loaded = async {
        let article = depot.article(caller, &sku).await?;
        let filter = StockFilter {
            sku: Some(article.sku.as_str().to_owned()),
            ..StockFilter::default()
        };
        let lines = depot
            .stock(caller, &filter, &StockPage::First, PAGE_LINES)
            .await?;
        let ledger = if caller.role.may(Action::ReadLedger) {
            let items = depot.items_of(caller, &sku, PAGE_ITEMS).await?;
            let recent = depot
                .article_movements(caller, &sku, PAGE_MOVEMENTS)
                .await?;
            Some((items, recent))
        } else {
            None
        };
        Ok::<_, DepotError>((article, lines, ledger))
    }
    .await;
    let (article, lines, ledger) = match loaded {
        Ok(loaded) => loaded,
        Err(error) => return error_page(viewer.lang, &error),
    };
    let total: i64 = lines.iter().map(|l| l.quantity).sum();
    let body = html! {
        h1 { (t.article_title) " " span id="article-sku" { (article.sku.as_str()) } }
        dl class="facts" id="article-facts" {
            div { dt { (t.article_name) } dd { (article.name) } }
            div { dt { (t.unit) } dd { (article.unit.as_str()) } }
            @if let Some(gtin) = &article.gtin { div { dt { (t.gtin) } dd { (gtin.as_str()) } } }
            @if let Some(nsn) = &article.nsn { div { dt { (t.nsn) } dd { (nsn.to_string()) } } }
            @if let Some(class) = &article.supply_class { div { dt { (t.supply_class) } dd { (class.as_str()) } } }
            div { dt { (t.classification) } dd { (t.term(article.classification.as_str())) } }
            @if let Some(g) = article.unit_weight_g { div { dt { (t.unit_weight_g) } dd { (g) } } }
            @if let Some(ml) = article.unit_volume_ml { div { dt { (t.unit_volume_ml) } dd { (ml) } } }
            @if article.lot_tracked { div { dt { (t.lot_tracked) } dd { "✓" } } }
        }
        section aria-labelledby="places-heading" {
            h2 id="places-heading" { (t.stock_by_place) }
            @if lines.is_empty() {
                p { (t.no_stock) }
            } @else {
                div class="scroll" {
                    table id="article-stock" {
                        thead { tr {
                            th scope="col" { (t.location) }
                            th scope="col" { (t.zone) }
                            th scope="col" { (t.lot) }
                            th scope="col" class="num" { (t.quantity) }
                        } }
                        tbody {
                            @for line in &lines {
                                tr {
                                    td { a href=(format!("/locations/{}", layout::urlencode(&line.location))) { (line.location) } }
                                    td { (line.zone) }
                                    td { (line.lot) }
                                    td class="num" { (line.quantity) }
                                }
                            }
                            tr class="total" {
                                th scope="row" colspan="3" { (t.total) }
                                td class="num" id="article-total" { (total) }
                            }
                        }
                    }
                }
            }
        }
        @if let Some((items, recent)) = &ledger {
            section aria-labelledby="items-heading" {
                h2 id="items-heading" { (t.items) }
                @if items.is_empty() {
                    p { (t.no_items) }
                } @else {
                    div class="scroll" {
                        table id="article-items" {
                            thead { tr {
                                th scope="col" { (t.epc) }
                                th scope="col" { (t.item_state) }
                                th scope="col" { (t.location) }
                                th scope="col" { (t.lot) }
                                th scope="col" class="num" { (t.last_seq_of_item) }
                            } }
                            tbody {
                                @for item in items {
                                    tr {
                                        td { code { (item.facts.epc) } }
                                        td { (t.term(item.facts.state.as_str())) }
                                        td { @if let Some(l) = &item.facts.location { a href=(format!("/locations/{}", layout::urlencode(l.as_str()))) { (l) } } }
                                        td { (item.lot.as_str()) }
                                        td class="num" { (item.last_seq) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            section aria-labelledby="article-movements-heading" {
                h2 id="article-movements-heading" { (t.article_movements) }
                (movements::table(t, recent, false))
            }
        }
    };
    let path = format!("/articles/{}", article.sku.as_str());
    let head = Head {
        title: t.article_title,
        section: Section::Stock,
        path: &path,
        scripts: &[],
    };
    layout::page(&viewer, head, body).into_response()
}
