//! `/`: the depot at a glance — stock totals, utilisation by zone with bars,
//! the newest movements. Each block is a panel; the gates and uplink panels
//! join here when their data sources exist.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};

use super::error_page;
use super::i18n::Texts;
use super::layout::{self, Head, Section};
use super::movements;
use super::session::Viewer;
use crate::domain::access::Action;
use crate::domain::utilization::{Fill, Utilization};
use crate::http::AppState;

/// `GET /`.
pub async fn page(State(state): State<AppState>, viewer: Viewer) -> Response {
    let t = viewer.lang.texts();
    let depot = &state.depot;
    let caller = &viewer.caller;
    let loaded = async {
        let summary = depot.stock_summary(caller).await?;
        let rows = depot.utilization(caller).await?;
        let recent = if caller.role.may(Action::ReadLedger) {
            Some(depot.recent_movements(caller, 5).await?)
        } else {
            None
        };
        Ok::<_, crate::depot::DepotError>((summary, rows, recent))
    }
    .await;
    let (summary, rows, recent) = match loaded {
        Ok(loaded) => loaded,
        Err(error) => return error_page(viewer.lang, &error),
    };
    let mut zones: BTreeMap<String, Utilization> = BTreeMap::new();
    let mut total: Option<Utilization> = None;
    for (location, fill) in rows {
        zones
            .entry(location.zone)
            .and_modify(|z| *z = z.plus(fill))
            .or_insert(fill);
        total = Some(total.map_or(fill, |d| d.plus(fill)));
    }
    let panels: Vec<Markup> = [
        Some(html! {
            section class="panel" aria-labelledby="stock-heading" {
                h2 id="stock-heading" { (t.stock_at_a_glance) }
                dl class="figures" {
                    div { dt { (t.articles_in_stock) } dd id="articles-in-stock" { (summary.articles) } }
                    div { dt { (t.stock_lines) } dd { (summary.lines) } }
                    div { dt { (t.total_quantity) } dd { (summary.total) } }
                }
                p { a href="/stock" { (t.nav_stock) " →" } }
            }
        }),
        Some(html! {
            section class="panel wide" aria-labelledby="fill-heading" {
                h2 id="fill-heading" { (t.utilisation) }
                (utilisation_table(t, &zones, total))
            }
        }),
        recent.map(|recent| html! {
            section class="panel wide" aria-labelledby="recent-heading" {
                h2 id="recent-heading" { (t.recent_movements) }
                (movements::table(t, &recent, false))
                p { a href="/movements" { (t.all_movements) " →" } }
            }
        }),
    ]
    .into_iter()
    .flatten()
    .collect();
    let body = html! {
        h1 { (t.start_title) }
        div class="panels" { @for panel in &panels { (panel) } }
    };
    let head = Head {
        title: t.start_title,
        section: Section::Start,
        path: "/",
        scripts: &[],
    };
    layout::page(&viewer, head, body).into_response()
}

fn utilisation_table(
    t: &Texts,
    zones: &BTreeMap<String, Utilization>,
    total: Option<Utilization>,
) -> Markup {
    html! {
        div class="scroll" {
            table {
                thead { tr {
                    th scope="col" { (t.zone) }
                    th scope="col" { (t.volume) }
                    th scope="col" { (t.weight) }
                    th scope="col" { (t.pallets) }
                } }
                tbody {
                    @for (zone, fill) in zones {
                        tr {
                            th scope="row" { (zone) }
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

/// A bar for one dimension: a `meter` (no inline style, which the CSP forbids) and the percentage.
pub fn bar(t: &Texts, fill: Fill) -> Markup {
    match fill.per_mille() {
        Some(per_mille) => html! {
            meter min="0" max="1000" low="700" high="900" optimum="0" value=(per_mille.min(1000)) {}
            " " span class="pct" { (per_mille / 10) " %" }
        },
        None => html! { span class="muted" { (t.unlimited) } },
    }
}
