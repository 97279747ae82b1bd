//! `/gates`: the gateways as the poller last saw them (link state, map and
//! firmware version, boot, events/s, errors, lost events, scale, docks with
//! each gate's newest pass) and the newest gate passes with
//! their outcome, older ones by `?before=` (a record id). The same façade
//! reads as `GET /api/v1/gates` and `/api/v1/gates/passes`; passes of
//! restricted items reach only cleared viewers.

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use serde::Deserialize;

use super::error_page;
use super::i18n::Texts;
use super::layout::{self, when, Head, Section};
use super::session::Viewer;
use crate::domain::access::Action;
use crate::domain::gate::{GatePass, GatewayState, LinkState, PassRate};
use crate::http::AppState;

/// Pass records one page looks at.
const PAGE_PASSES: i64 = 50;

#[derive(Debug, Deserialize)]
pub struct GatesQuery {
    /// Show passes with a smaller record id.
    before: Option<i64>,
}

/// `GET /gates`.
pub async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(query): Query<GatesQuery>,
) -> Response {
    let t = viewer.lang.texts();
    let caller = &viewer.caller;
    let gateways = match state.depot.gateways(caller) {
        Ok(gateways) => gateways,
        Err(error) => return error_page(viewer.lang, &error),
    };
    let mut last_passes = Vec::with_capacity(gateways.len());
    if caller.role.may(Action::ReadLedger) {
        for gateway in &gateways {
            match state
                .depot
                .last_gate_passes(caller, &gateway.id, gateway.docks.len())
                .await
            {
                Ok(last) => last_passes.push(last),
                Err(error) => return error_page(viewer.lang, &error),
            }
        }
    }
    let passes = if caller.role.may(Action::ReadLedger) {
        match newest_passes(&state, &viewer, query.before).await {
            Ok(passes) => Some(passes),
            Err(error) => return error_page(viewer.lang, &error),
        }
    } else {
        None
    };
    let body = html! {
        h1 { (t.gates_title) }
        section aria-labelledby="gateways-heading" {
            h2 id="gateways-heading" { (t.gateways) }
            (gateway_table(t, &gateways, &last_passes))
        }
        @if let Some((passes, older)) = &passes {
            section aria-labelledby="passes-heading" {
                h2 id="passes-heading" { (t.passes) }
                p class="muted" { (t.passes_hint) }
                (pass_table(t, passes))
                nav class="pager" aria-label=(t.passes) {
                    @if query.before.is_some() { a href="/gates" { (t.newest) } }
                    @if let Some(older) = older {
                        a href=(format!("/gates?before={older}")) rel="next" { (t.older) " →" }
                    }
                }
            }
        }
    };
    let head = Head {
        title: t.gates_title,
        section: Section::Gates,
        path: "/gates",
        scripts: &[],
    };
    layout::page(&viewer, head, body).into_response()
}

/// The visible passes among the `PAGE_PASSES` records below `before`
/// (newest first), and the `before` of the next older page, if any.
async fn newest_passes(
    state: &AppState,
    viewer: &Viewer,
    before: Option<i64>,
) -> Result<(Vec<GatePass>, Option<i64>), crate::depot::DepotError> {
    let depot = &state.depot;
    let before = match before {
        Some(before) => before.max(1),
        None => depot
            .last_gate_pass_id(&viewer.caller)
            .await?
            .saturating_add(1),
    };
    let after = (before - 1 - PAGE_PASSES).max(0);
    let mut passes = depot
        .gate_passes(&viewer.caller, after, PAGE_PASSES)
        .await?;
    passes.retain(|p| p.id < before);
    passes.reverse();
    Ok((passes, (after > 0).then_some(after + 1)))
}

/// The gateways table (also the start page's panel shows its count).
fn gateway_table(
    t: &Texts,
    gateways: &[GatewayState],
    last_passes: &[Vec<Option<GatePass>>],
) -> Markup {
    html! {
        @if gateways.is_empty() {
            p id="no-gateways" { (t.no_gateways) }
        } @else {
            div class="scroll" {
                table id="gateways" {
                    thead { tr {
                        th scope="col" { (t.gateway) }
                        th scope="col" { (t.state) }
                        th scope="col" { (t.since) }
                        th scope="col" { (t.last_poll) }
                        th scope="col" { (t.transport) }
                        th scope="col" class="num" { (t.unit_id) }
                        th scope="col" class="num" { (t.map_version) }
                        th scope="col" { (t.firmware) }
                        th scope="col" class="num" { (t.events_per_s) }
                        th scope="col" class="num" { (t.boot) }
                        th scope="col" class="num" { (t.events_lost) }
                        th scope="col" { (t.link_errors) " · " (t.crc_errors) " · " (t.exceptions) }
                        th scope="col" { (t.scale) }
                        th scope="col" { (t.docks) }
                    } }
                    tbody {
                        @for (index, g) in gateways.iter().enumerate() {
                            tr {
                                th scope="row" { (g.id) }
                                td {
                                    span class=(format!("state {}", g.link.as_str())) { (t.term(g.link.as_str())) }
                                    @if let Some(reason) = &g.reason { br; span class="muted" { (t.reason) ": " (reason) } }
                                }
                                td { (when(g.since)) }
                                td { @match g.last_poll { Some(at) => (when(at)), None => span class="muted" { (t.never) } } }
                                td { code { (g.transport) } }
                                td class="num" { (g.unit_id) }
                                td class="num" { @if let Some(v) = g.map_version { (v) } }
                                td { @if let Some((status, _)) = &g.status {
                                    @let (major, minor, patch) = status.firmware_version;
                                    (major) "." (minor) "." (patch)
                                } }
                                td class="num" { (format!("{:.1}", f64::from(g.passes_last_minute) / PassRate::WINDOW_S as f64)) }
                                td class="num" { @if let Some(b) = g.boot_id { (b) } }
                                td class="num" { (g.events_lost) }
                                td class="errors" {
                                    (g.link_errors) " · "
                                    @match &g.status { Some((status, _)) => (status.counters.frames_crc_error), None => "–" }
                                    " · " (g.exceptions + g.malformed)
                                }
                                td {
                                    @if let Some((status, weight)) = &g.scale {
                                        (status)
                                        @if let Some(grams) = weight { " · " (grams) " g" }
                                    }
                                }
                                td {
                                    @for (gate, dock) in g.docks.iter().enumerate() {
                                        @if let Some(dock) = dock {
                                            div class="gate" {
                                                (t.gate) " " (gate) ": "
                                                a href=(format!("/locations/{}", layout::urlencode(dock.as_str()))) { (dock) }
                                                @if let Some(Some(pass)) = last_passes.get(index).and_then(|l| l.get(gate)) {
                                                    br; span class="muted" {
                                                        (t.last_pass) " " (when(pass.recorded_at)) " · "
                                                        (t.term(pass.direction.as_str())) " · "
                                                        (t.term(pass.outcome.as_str()))
                                                    }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn pass_table(t: &Texts, passes: &[GatePass]) -> Markup {
    html! {
        @if passes.is_empty() {
            p id="no-passes" { (t.no_passes) }
        } @else {
            div class="scroll" {
                table id="passes" {
                    thead { tr {
                        th scope="col" { (t.time) }
                        th scope="col" { (t.gateway) }
                        th scope="col" class="num" { (t.gate) }
                        th scope="col" { (t.dock) }
                        th scope="col" { (t.direction) }
                        th scope="col" { (t.epc) }
                        th scope="col" class="num" { (t.weight_g) }
                        th scope="col" { (t.outcome) }
                        th scope="col" { (t.booked_as) }
                    } }
                    tbody {
                        @for p in passes {
                            tr id=(format!("pass-{}", p.id)) {
                                td { (when(p.recorded_at)) }
                                td { (p.gateway) }
                                td class="num" { (p.gate) }
                                td { @if let Some(dock) = &p.dock { (dock) } }
                                td { (t.term(p.direction.as_str())) }
                                td { code { (p.epc.as_deref().unwrap_or(&p.epc_hex)) } }
                                td class="num" { @if let Some(grams) = p.weight_grams { (grams) } }
                                td {
                                    span class=(format!("outcome {}", p.outcome.as_str())) { (t.term(p.outcome.as_str())) }
                                    @if let Some(detail) = &p.detail { br; span class="muted" { (detail) } }
                                }
                                td { @for seq in &p.movement_seqs { (seq) " " } }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The start page's panel: how many gateways are online.
pub fn panel(t: &Texts, gateways: &[GatewayState]) -> Markup {
    let online = gateways
        .iter()
        .filter(|g| g.link == LinkState::Online)
        .count();
    html! {
        section class="panel" aria-labelledby="gates-heading" {
            h2 id="gates-heading" { (t.gates_title) }
            @if gateways.is_empty() {
                p { (t.no_gateways) }
            } @else {
                dl class="figures" {
                    div { dt { (t.gateways_online) } dd id="gateways-online" { (online) " / " (gateways.len()) } }
                }
            }
            p { a href="/gates" { (t.nav_gates) " →" } }
        }
    }
}
