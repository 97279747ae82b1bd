//! `/`: the depot at a glance — stock totals, utilisation by zone with bars,
//! gateways online, the uplink's state and backlog, the newest movements.
//! Each block is a panel.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};

use super::error_page;
use super::layout::{self, Head, Section};
use super::session::Viewer;
use super::{gates, movements, uplink, utilisation};
use crate::domain::access::Action;
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
        let gateways = depot.gateways(caller)?;
        let uplink = uplink::view(&state).await?;
        Ok::<_, crate::depot::DepotError>((summary, rows, recent, gateways, uplink))
    }
    .await;
    let (summary, rows, recent, gateways, uplink) = match loaded {
        Ok(loaded) => loaded,
        Err(error) => return error_page(viewer.lang, &error),
    };
    let (zones, total) = utilisation::by_zone(&rows);
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
        caller
            .role
            .may(Action::ReadLedger)
            .then(|| gates::panel(t, &gateways)),
        Some(uplink::panel(t, &uplink)),
        Some(html! {
            section class="panel wide" aria-labelledby="fill-heading" {
                h2 id="fill-heading" { (t.utilisation) }
                (utilisation::zone_table(t, &zones, total))
                p { a href="/utilisation" { (t.by_location) " →" } }
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
