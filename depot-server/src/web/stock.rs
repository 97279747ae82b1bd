//! `/stock`: stock levels with a search (part of the SKU, name, GTIN or NSN,
//! or an EPC in any notation, which finds its item), filters by SKU,
//! location, zone, supply class and classification, and paging. A GET form,
//! so a search is a link. Restricted articles only for cleared viewers: the
//! classification filter offers them to no one else.

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use serde::Deserialize;

use super::error_page;
use super::i18n::Texts;
use super::layout::{self, Head, Section};
use super::session::Viewer;
use crate::domain::access::Action;
use crate::domain::article::{Classification, SupplyClass};
use crate::domain::stock::{Item, StockFilter, StockKey, StockPage};
use crate::http::AppState;

/// Lines shown per page.
const PAGE_LINES: i64 = 100;

/// The supply classes the filter offers.
const SUPPLY_CLASSES: [&str; 10] = ["I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X"];

#[derive(Debug, Default, Deserialize)]
pub struct StockQuery {
    q: Option<String>,
    sku: Option<String>,
    location: Option<String>,
    zone: Option<String>,
    supply_class: Option<String>,
    classification: Option<String>,
    /// The page starts after this line's key (`StockKey::to_text`).
    after: Option<String>,
    /// The page ends before this line's key.
    before: Option<String>,
    /// The page's number as the pager shows it, 1-based; paging itself is
    /// by `after` and `before`, so a far page costs what the first does.
    page: Option<String>,
}

fn given(text: &Option<String>) -> Option<String> {
    text.as_deref()
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
}

impl StockQuery {
    /// The link to this search's page `page` that starts after `key` (or
    /// ends before it), or to its first page.
    fn link(&self, page: i64, cut: Option<(&str, &StockKey)>) -> String {
        let mut link = String::from("/stock?");
        for (key, value) in [
            ("q", &self.q),
            ("sku", &self.sku),
            ("location", &self.location),
            ("zone", &self.zone),
            ("supply_class", &self.supply_class),
            ("classification", &self.classification),
        ] {
            if let Some(value) = given(value) {
                link.push_str(&format!("{key}={}&", layout::urlencode(&value)));
            }
        }
        match cut {
            Some((side, key)) if page > 1 => link.push_str(&format!(
                "{side}={}&page={page}",
                layout::urlencode(&key.to_text())
            )),
            _ => link.push_str("page=1"),
        }
        link
    }
}

/// `GET /stock`.
pub async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(query): Query<StockQuery>,
) -> Response {
    let t = viewer.lang.texts();
    let caller = &viewer.caller;
    let label = query
        .page
        .as_deref()
        .and_then(|p| p.trim().parse::<i64>().ok())
        .unwrap_or(2)
        .clamp(2, 1_000_000);
    let key = |text: &Option<String>| given(text).and_then(|t| StockKey::parse(&t));
    let cut = match (key(&query.after), key(&query.before)) {
        (Some(after), _) => StockPage::After(after),
        (None, Some(before)) => StockPage::Before(before),
        (None, None) => StockPage::First,
    };
    // Unknown filter values match nothing rather than everything.
    let supply_class = given(&query.supply_class).map(|c| SupplyClass::parse(&c));
    let classification = given(&query.classification).map(|c| Classification::parse(&c));
    let unmatchable =
        matches!(supply_class, Some(Err(_))) || matches!(classification, Some(Err(_)));
    let mut filter = StockFilter {
        sku: given(&query.sku),
        location: given(&query.location),
        zone: given(&query.zone),
        text: given(&query.q),
        supply_class: supply_class.and_then(Result::ok),
        classification: classification.and_then(Result::ok),
    };
    // A search for an EPC finds its item and shows its article's stock.
    let item = match &filter.text {
        Some(code) if caller.role.may(Action::ReadLedger) => {
            match state.depot.item_by_code(caller, code).await {
                Ok(item) => item,
                Err(error) => return error_page(viewer.lang, &error),
            }
        }
        _ => None,
    };
    if let Some(item) = &item {
        filter.text = None;
        filter.sku = Some(item.sku.as_str().to_owned());
    }
    let mut lines = if unmatchable {
        Vec::new()
    } else {
        // One line more than shown says whether there is more on that side.
        match state
            .depot
            .stock(caller, &filter, &cut, PAGE_LINES + 1)
            .await
        {
            Ok(lines) => lines,
            Err(error) => return error_page(viewer.lang, &error),
        }
    };
    let over = lines.len() > PAGE_LINES as usize;
    let (page, earlier, later) = match cut {
        StockPage::First => (1, false, over),
        StockPage::After(_) => (label, true, over),
        StockPage::Before(_) => (if over { label } else { 1 }, over, true),
    };
    if over {
        match cut {
            StockPage::Before(_) => {
                lines.remove(0);
            }
            _ => lines.truncate(PAGE_LINES as usize),
        }
    }
    let previous = lines
        .first()
        .map(|line| query.link(page - 1, Some(("before", &StockKey::of(line)))));
    let next = lines
        .last()
        .map(|line| query.link(page + 1, Some(("after", &StockKey::of(line)))));
    let value = |v: &Option<String>| given(v).unwrap_or_default();
    let class_value = value(&query.supply_class);
    let classification_value = value(&query.classification);
    let mut classifications = vec![("", t.classification_any), ("open", t.class_open)];
    if caller.restricted {
        classifications.push(("restricted", t.class_restricted));
    }
    let mut classes = vec![("", t.supply_class_any)];
    classes.extend(SUPPLY_CLASSES.iter().map(|c| (*c, *c)));
    let body = html! {
        h1 { (t.stock_title) }
        form method="get" action="/stock" class="filters" role="search" {
            div { label for="f-q" { (t.search_text) } input id="f-q" name="q" type="search" value=(value(&query.q)) autocapitalize="none" spellcheck="false"; }
            div { label for="f-sku" { (t.sku) } input id="f-sku" name="sku" type="search" value=(value(&query.sku)) autocapitalize="none" spellcheck="false"; }
            div { label for="f-location" { (t.location) } input id="f-location" name="location" type="search" value=(value(&query.location)) autocapitalize="none"; }
            div { label for="f-zone" { (t.zone) } input id="f-zone" name="zone" type="search" value=(value(&query.zone)) autocapitalize="none"; }
            div { label for="f-supply-class" { (t.supply_class) } (select("supply_class", "f-supply-class", &classes, &class_value)) }
            div { label for="f-classification" { (t.classification) } (select("classification", "f-classification", &classifications, &classification_value)) }
            button type="submit" { (t.search) }
        }
        @if let Some(item) = &item { (item_box(t, item)) }
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
                                td { a href=(format!("/articles/{}", layout::urlencode(&line.sku))) { (line.sku) } }
                                td { a href=(format!("/locations/{}", layout::urlencode(&line.location))) { (line.location) } }
                                td { (line.zone) }
                                td { (line.lot) }
                                td class="num" { (line.quantity) }
                            }
                        }
                    }
                }
            }
        }
        @if earlier || later {
            nav class="pager" aria-label=(t.page_n) {
                @if let (true, Some(previous)) = (earlier, &previous) { a href=(previous) rel="prev" { "← " (t.previous_page) } }
                span { (t.page_n) " " (page) }
                @if let (true, Some(next)) = (later, &next) { a href=(next) rel="next" { (t.next_page) " →" } }
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

/// What an EPC search found.
fn item_box(t: &Texts, item: &Item) -> Markup {
    html! {
        section class="panel" id="item-found" aria-labelledby="item-heading" {
            h2 id="item-heading" { (t.item_found) }
            dl class="facts" {
                div { dt { (t.epc) } dd { code { (item.facts.epc) } } }
                div { dt { (t.sku) } dd { a href=(format!("/articles/{}", item.sku.as_str())) { (item.sku.as_str()) } } }
                div { dt { (t.item_state) } dd { (t.term(item.facts.state.as_str())) } }
                @if let Some(location) = &item.facts.location {
                    div { dt { (t.location) } dd { a href=(format!("/locations/{}", layout::urlencode(location.as_str()))) { (location) } } }
                }
                @if !item.lot.as_str().is_empty() { div { dt { (t.lot) } dd { (item.lot.as_str()) } } }
                div { dt { (t.last_seq_of_item) } dd { (item.last_seq) } }
            }
        }
    }
}

/// A `select` with `chosen` selected.
pub fn select(name: &str, id: &str, options: &[(&str, &str)], chosen: &str) -> Markup {
    html! {
        select id=(id) name=(name) {
            @for (value, label) in options {
                @if *value == chosen {
                    option value=(value) selected { (label) }
                } @else {
                    option value=(value) { (label) }
                }
            }
        }
    }
}
