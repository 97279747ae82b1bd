//! `/uplink`: the feed to the regional hub (brief §6): the connection, the
//! last acknowledged seq, the backlog of movements and master-data changes,
//! and the lag. The figures are `GET /api/v1/uplink`'s own view, so page and
//! API cannot disagree; the start page shows the same as a panel.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::error_page;
use super::i18n::Texts;
use super::layout::{self, when, Head, Section};
use super::session::Viewer;
use crate::depot::DepotError;
use crate::http::uplink::UplinkView;
use crate::http::AppState;

/// The feed's state now, as the API shows it.
pub async fn view(state: &AppState) -> Result<UplinkView, DepotError> {
    let status = state.depot.uplink_status().await?;
    Ok(UplinkView::new(
        status,
        state.status.uplink.clone(),
        OffsetDateTime::now_utc(),
    ))
}

/// `GET /uplink`.
pub async fn page(State(state): State<AppState>, viewer: Viewer) -> Response {
    let t = viewer.lang.texts();
    let uplink = match view(&state).await {
        Ok(uplink) => uplink,
        Err(error) => return error_page(viewer.lang, &error),
    };
    let moment = |at: &Option<String>| -> Markup {
        match at
            .as_deref()
            .and_then(|a| OffsetDateTime::parse(a, &Rfc3339).ok())
        {
            Some(at) => when(at),
            None => html! { span class="muted" { (t.never) } },
        }
    };
    let body = html! {
        h1 { (t.uplink_title) }
        @if uplink.broker.is_none() { p id="uplink-off" class="muted" { (t.uplink_off) } }
        dl class="facts" id="uplink" {
            div { dt { (t.state) } dd id="uplink-state" { (state_badge(t, uplink.state)) } }
            @if let Some(broker) = &uplink.broker { div { dt { (t.broker) } dd { code { (broker) } } } }
            div { dt { (t.since) } dd { (moment(&uplink.since)) } }
            @if let Some(error) = &uplink.last_error { div { dt { (t.last_error) } dd { (error) } } }
            div { dt { (t.last_seq) } dd id="uplink-last-seq" { (uplink.last_seq) } }
            div { dt { (t.acked_seq) } dd id="uplink-acked-seq" { (uplink.acked_seq) } }
            div { dt { (t.acked_at) } dd { (moment(&uplink.acked_at)) } }
            div { dt { (t.backlog_movements) } dd id="uplink-backlog" { (uplink.backlog_movements) } }
            div { dt { (t.backlog_outbox) } dd id="uplink-outbox" { (uplink.backlog_outbox) } }
            div { dt { (t.oldest_unacked) } dd { @if let Some(seq) = uplink.oldest_unacked_seq { (seq) } @else { "–" } } }
            div { dt { (t.lag) } dd id="uplink-lag" { (lag(t, uplink.lag_ms)) } }
            div { dt { (t.last_puback) } dd { (moment(&uplink.last_puback)) } }
            div { dt { (t.in_flight) } dd { (uplink.in_flight) } }
        }
    };
    let head = Head {
        title: t.uplink_title,
        section: Section::Uplink,
        path: "/uplink",
        scripts: &[],
    };
    layout::page(&viewer, head, body).into_response()
}

fn state_badge(t: &Texts, state: &str) -> Markup {
    html! { span class=(format!("state {state}")) { (t.term(state)) } }
}

/// A lag in seconds with one decimal.
fn lag(t: &Texts, lag_ms: i64) -> String {
    format!(
        "{}.{} {}",
        lag_ms / 1_000,
        (lag_ms % 1_000) / 100,
        t.seconds
    )
}

/// The start page's panel: state, backlog and lag.
pub fn panel(t: &Texts, uplink: &UplinkView) -> Markup {
    html! {
        section class="panel" aria-labelledby="uplink-heading" {
            h2 id="uplink-heading" { (t.uplink_title) }
            dl class="figures" {
                div { dt { (t.state) } dd { (state_badge(t, uplink.state)) } }
                div { dt { (t.backlog) } dd id="uplink-backlog-panel" { (uplink.backlog_movements + uplink.backlog_outbox) } }
                div { dt { (t.lag) } dd { (lag(t, uplink.lag_ms)) } }
            }
            p { a href="/uplink" { (t.nav_uplink) " →" } }
        }
    }
}
