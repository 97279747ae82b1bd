//! `/movements`: the newest movements, kept live by Server-Sent Events from
//! the after-commit broadcast (`/movements/live`). Each event carries the
//! new rows rendered as HTML and the last seq as its id, so a reconnecting
//! browser (`Last-Event-ID`) or one that rendered the page a moment before it
//! connected (`?after=`) first gets what it missed from the ledger. Rows of
//! restricted articles reach only cleared users.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream;
use maud::{html, Markup};
use serde::Deserialize;
use time::format_description::well_known::Rfc3339;
use tokio::sync::broadcast;

use super::i18n::{Lang, Texts};
use super::layout::{self, Head, Section};
use super::session::Viewer;
use super::{error_page, plain_page};
use crate::depot::{Committed, Depot};
use crate::domain::access::{Action, Caller};
use crate::domain::ledger::Movement;
use crate::http::AppState;

/// Movements the page shows.
const PAGE_MOVEMENTS: i64 = 100;

/// The most movements one catch-up sends.
const CATCH_UP: i64 = 1_000;

/// The movements table; `live` marks it as the one the script keeps current.
pub fn table(t: &Texts, movements: &[Movement], live: bool) -> Markup {
    let last_seq = movements.iter().map(|m| m.seq).max().unwrap_or(0);
    html! {
        @if movements.is_empty() && !live { p { (t.no_movements) } }
        div class="scroll" {
            table class="movements" {
                thead { tr {
                    th scope="col" class="num" { (t.seq) }
                    th scope="col" { (t.time) }
                    th scope="col" { (t.kind) }
                    th scope="col" { (t.sku) }
                    th scope="col" class="num" { (t.quantity) }
                    th scope="col" { (t.from) }
                    th scope="col" { (t.to) }
                    th scope="col" { (t.actor) }
                } }
                @if live {
                    tbody id="live-movements" data-last-seq=(last_seq) aria-live="polite" {
                        @for m in movements { (row(t, m)) }
                    }
                } @else {
                    tbody { @for m in movements { (row(t, m)) } }
                }
            }
        }
    }
}

/// One movement as a table row (also the SSE events' payload).
pub fn row(t: &Texts, m: &Movement) -> Markup {
    let kind = t.term(m.kind.as_str());
    let time = m.recorded_at.format(&Rfc3339).unwrap_or_default();
    html! {
        tr id=(format!("m-{}", m.seq)) {
            td class="num" { (m.seq) }
            td { time datetime=(time) { (time.get(11..19).unwrap_or(&time)) } }
            td { (kind) }
            td { a href=(format!("/articles/{}", m.sku)) { (m.sku) } }
            td class="num" { (m.quantity) }
            td { @if let Some(from) = &m.from { a href=(format!("/locations/{}", layout::urlencode(from.as_str()))) { (from) } } }
            td { @if let Some(to) = &m.to { a href=(format!("/locations/{}", layout::urlencode(to.as_str()))) { (to) } } }
            td { (m.actor) }
        }
    }
}

/// `GET /movements`.
pub async fn page(State(state): State<AppState>, viewer: Viewer) -> Response {
    let t = viewer.lang.texts();
    let movements = match state
        .depot
        .recent_movements(&viewer.caller, PAGE_MOVEMENTS)
        .await
    {
        Ok(movements) => movements,
        Err(error) => return error_page(viewer.lang, &error),
    };
    let body = html! {
        h1 { (t.movements_title) }
        p class="muted" { (t.movements_live) }
        (table(t, &movements, true))
    };
    let head = Head {
        title: t.movements_title,
        section: Section::Movements,
        path: "/movements",
        scripts: &["live.js"],
    };
    layout::page(&viewer, head, body).into_response()
}

#[derive(Debug, Deserialize)]
pub struct LiveQuery {
    after: Option<i64>,
}

/// What a live stream carries between events.
struct Live {
    commits: broadcast::Receiver<Arc<Committed>>,
    depot: Depot,
    caller: Caller,
    lang: Lang,
    /// The newest seq sent (or shown by the page).
    last_seq: i64,
    /// Catch up from the ledger before the first broadcast.
    catch_up: bool,
}

impl Live {
    fn rows(&mut self, movements: &[Movement]) -> Option<Event> {
        let t = self.lang.texts();
        let fresh: Vec<&Movement> = movements.iter().filter(|m| m.seq > self.last_seq).collect();
        let last = fresh.iter().map(|m| m.seq).max()?;
        self.last_seq = last;
        let html: String = fresh
            .iter()
            .rev()
            .map(|m| row(t, m).into_string())
            .collect();
        Some(
            Event::default()
                .event("movements")
                .id(last.to_string())
                .data(html),
        )
    }

    /// The next event, or `None` when the depot shuts down.
    async fn next(&mut self) -> Option<Event> {
        if std::mem::take(&mut self.catch_up) {
            match self
                .depot
                .movements(&self.caller, self.last_seq, CATCH_UP)
                .await
            {
                Ok(missed) => {
                    if let Some(event) = self.rows(&missed) {
                        return Some(event);
                    }
                }
                Err(_) => return Some(Event::default().event("reload").data("")),
            }
        }
        loop {
            match self.commits.recv().await {
                Ok(committed) => {
                    let visible = match self
                        .depot
                        .visible_movements(&self.caller, &committed.movements)
                        .await
                    {
                        Ok(visible) => visible,
                        Err(_) => return Some(Event::default().event("reload").data("")),
                    };
                    if let Some(event) = self.rows(&visible) {
                        return Some(event);
                    }
                }
                // Fell behind the broadcast: the page reloads from the ledger.
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    return Some(Event::default().event("reload").data(""))
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

/// `GET /movements/live`: `text/event-stream` of new movements.
pub async fn live(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    Query(query): Query<LiveQuery>,
) -> Response {
    if !viewer.caller.role.may(Action::ReadLedger) {
        let t = viewer.lang.texts();
        return plain_page(
            viewer.lang,
            StatusCode::FORBIDDEN,
            t.forbidden_title,
            t.forbidden_text,
        );
    }
    let resumed = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i64>().ok());
    let after = resumed.or(query.after).filter(|seq| *seq >= 0);
    // Subscribe before catching up, so nothing committed in between is lost.
    let live = Live {
        commits: state.depot.subscribe(),
        depot: state.depot.clone(),
        caller: viewer.caller,
        lang: viewer.lang,
        last_seq: after.unwrap_or(0),
        catch_up: after.is_some(),
    };
    let events = stream::unfold(live, |mut live| async move {
        let event = live.next().await?;
        Some((Ok::<_, Infallible>(event), live))
    });
    Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response()
}
