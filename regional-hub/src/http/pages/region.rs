//! `/`: the region at a glance — each depot's freshness (link and since
//! when, last seq, lag, gaps, last heard), free capacity per depot and for
//! the region with bars, and an article search (by SKU, GTIN or NSN) with
//! the clearance rule: restricted stock only for cleared users. `/live`
//! streams the depots and capacity part again (Server-Sent Events) whenever
//! it changes, so the page stays current without a reload; without
//! JavaScript a reload shows the same.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream;
use maud::{html, Markup};
use serde::Deserialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::{layout, unavailable, Texts, Viewer};
use crate::core::Freshness;
use crate::http::AppState;
use crate::store::{ArticleKey, DepotCapacity, DepotFeed, DepotStock, Fill, StoreError};

/// How often a live stream looks at the store for changes. Polling the
/// database (not this instance's feed) also shows what another instance
/// on a shared PostgreSQL applied, and ages advancing.
const LIVE_INTERVAL: Duration = Duration::from_secs(1);

/// The search form's query.
#[derive(Debug, Default, Deserialize)]
pub struct SearchQuery {
    /// `sku` (default), `gtin` or `nsn`.
    by: Option<String>,
    q: Option<String>,
}

impl SearchQuery {
    /// The article key searched for, if any.
    fn key(&self) -> Option<ArticleKey> {
        let q = self.q.as_deref().map(str::trim).filter(|q| !q.is_empty())?;
        Some(match self.by.as_deref() {
            Some("gtin") => ArticleKey::Gtin(q.to_owned()),
            // The shown form NNNN-NN-NNN-NNNN as well as 13 digits.
            Some("nsn") => ArticleKey::Nsn(q.replace('-', "")),
            _ => ArticleKey::Sku(q.to_owned()),
        })
    }
}

/// The depots and capacity, as loaded for one rendering.
struct Region {
    depots: Vec<DepotFeed>,
    capacity: Vec<DepotCapacity>,
}

async fn load(state: &AppState, now: OffsetDateTime) -> Result<Region, StoreError> {
    Ok(Region {
        depots: state.store.depots(now, state.stale_after).await?,
        capacity: state.store.capacity().await?,
    })
}

fn time_text(time: OffsetDateTime) -> String {
    time.format(&Rfc3339).unwrap_or_default()
}

fn depots_table(t: &Texts, depots: &[DepotFeed], now: OffsetDateTime) -> Markup {
    html! {
        h2 { (t.depots_title) }
        @if depots.is_empty() {
            p { (t.no_depots) }
        } @else {
            div class="scroll" { table class="depots" {
                thead { tr {
                    th scope="col" { (t.depot) }
                    th scope="col" { (t.link) }
                    th scope="col" { (t.freshness) }
                    th scope="col" class="num" { (t.last_seq) }
                    th scope="col" class="num" { (t.lag) }
                    th scope="col" { (t.gaps) }
                    th scope="col" { (t.history) }
                    th scope="col" class="num" { (t.last_heard) }
                } }
                tbody { @for d in depots {
                    tr id=(format!("depot-{}", d.depot)) {
                        th scope="row" { (d.depot) }
                        td { @match d.link {
                            Some((state, since)) => {
                                span class=(link_class(state)) { (link_text(t, state)) }
                                " " (t.since) " "
                                time datetime=(time_text(since)) { (time_text(since)) }
                            }
                            None => { (t.unknown) }
                        } }
                        td { @match d.freshness {
                            Freshness::Fresh => span class="ok" { (t.fresh) },
                            Freshness::Stale => span class="warn" { (t.stale) },
                        } }
                        td class="num" { (d.contiguous_seq) }
                        td class="num" { (d.newest_seq - d.contiguous_seq) }
                        td class="gaps" {
                            @if d.gaps.is_empty() { (t.none) }
                            @for (i, (from, to)) in d.gaps.iter().enumerate() {
                                @if i > 0 { ", " }
                                @if from == to { (from) } @else { (from) "–" (to) }
                            }
                        }
                        td class="history" { (history(t, d)) }
                        td class="num" { ((now - d.last_message).whole_seconds().max(0)) " " (t.seconds_ago) }
                    }
                } }
            } }
        }
    }
}

/// A depot's restore (when, the lost seqs) and a rewritten history.
fn history(t: &Texts, d: &DepotFeed) -> Markup {
    html! {
        @if d.restored.is_none() && d.diverged.is_none() { (t.none) }
        @if let Some(restored) = &d.restored {
            span class="warn restored" {
                (t.restored)
                @if let Some(at) = restored.at.or(restored.noticed) {
                    " " time datetime=(time_text(at)) { (time_text(at)) }
                }
            }
            @if let Some((from, to)) = restored.lost {
                br;
                span class="lost" {
                    (t.lost_seqs) " "
                    @if from == to { (from) } @else { (from) "–" (to) }
                    " (" (restored.lost_count) " " (t.movements) ")"
                }
            }
        }
        @if let Some((seq, _)) = d.diverged {
            @if d.restored.is_some() { br; }
            span class="warn diverged" { (t.diverged_at) " " (seq) }
        }
    }
}

fn link_text(t: &Texts, state: feed_contract::LinkState) -> &'static str {
    match state {
        feed_contract::LinkState::Online => t.online,
        feed_contract::LinkState::Offline => t.offline,
    }
}

fn link_class(state: feed_contract::LinkState) -> &'static str {
    match state {
        feed_contract::LinkState::Online => "ok",
        feed_contract::LinkState::Offline => "warn",
    }
}

/// One dimension's fill as a bar (a `meter`: no inline style, which the CSP
/// forbids) and "free X of Y"; `scale` and `unit` turn base units into
/// shown ones (ml → l, g → kg).
fn bar(t: &Texts, fill: Fill, scale: i64, unit: &str) -> Markup {
    html! {
        @match (fill.capacity, fill.free) {
            (Some(capacity), Some(free)) if capacity > 0 => {
                meter min="0" max=(capacity) low=(capacity * 7 / 10) high=(capacity * 9 / 10)
                    optimum="0" value=(fill.used.min(capacity)) {}
                span class="fill" { (free / scale) " " (t.free_of) " " (capacity / scale) " " (unit) }
            }
            _ => span class="muted" { (t.unlimited) },
        }
    }
}

fn capacity_table(t: &Texts, capacity: &[DepotCapacity]) -> Markup {
    let region = |part: fn(&DepotCapacity) -> Fill| Fill::sum(capacity.iter().map(part));
    html! {
        h2 { (t.capacity_title) }
        @if capacity.is_empty() {
            p { (t.no_capacity) }
        } @else {
            div class="scroll" { table class="capacity" {
                thead { tr {
                    th scope="col" { (t.depot) }
                    th scope="col" { (t.volume) }
                    th scope="col" { (t.weight) }
                    th scope="col" { (t.pallets) }
                } }
                tbody { @for c in capacity {
                    tr id=(format!("capacity-{}", c.depot)) {
                        th scope="row" { (c.depot) }
                        td { (bar(t, c.volume_ml, 1000, "l")) }
                        td { (bar(t, c.weight_g, 1000, "kg")) }
                        td { (bar(t, c.pallets, 1, "")) }
                    }
                } }
                tfoot { tr id="capacity-region" {
                    th scope="row" { (t.region) }
                    td { (bar(t, region(|c| c.volume_ml), 1000, "l")) }
                    td { (bar(t, region(|c| c.weight_g), 1000, "kg")) }
                    td { (bar(t, region(|c| c.pallets), 1, "")) }
                } }
            } }
        }
    }
}

/// The live part of the page: depots and capacity.
fn live_part(t: &Texts, region: &Region, now: OffsetDateTime) -> Markup {
    html! {
        section { (depots_table(t, &region.depots, now)) }
        section { (capacity_table(t, &region.capacity)) }
    }
}

fn search_form(t: &Texts, query: &SearchQuery) -> Markup {
    let by = query.by.as_deref().unwrap_or("sku");
    html! {
        h2 { (t.search_title) }
        form method="get" action="/" class="search" role="search" {
            label for="by" { (t.search_by) }
            select id="by" name="by" {
                option value="sku" selected[by == "sku"] { (t.sku) }
                option value="gtin" selected[by == "gtin"] { (t.gtin) }
                option value="nsn" selected[by == "nsn"] { (t.nsn) }
            }
            label for="q" { (t.article) }
            input id="q" name="q" type="search" value=(query.q.as_deref().unwrap_or(""));
            button type="submit" { (t.search) }
        }
    }
}

fn search_results(t: &Texts, rows: &[DepotStock]) -> Markup {
    let total: i64 = rows.iter().map(|r| r.total).sum();
    html! {
        @if rows.is_empty() {
            p id="search-none" { (t.not_found) }
        } @else {
            div class="scroll" { table class="stock" id="search-results" {
                thead { tr {
                    th scope="col" { (t.depot) }
                    th scope="col" { (t.sku) }
                    th scope="col" { (t.name) }
                    th scope="col" class="num" { (t.quantity) }
                    th scope="col" { (t.zones) }
                    th scope="col" class="num" { (t.last_seq) }
                } }
                tbody { @for r in rows {
                    tr {
                        th scope="row" { (r.depot) }
                        td { (r.sku) @if r.restricted { " " span class="tag" { (t.restricted) } } }
                        td { (r.name) }
                        td class="num" { (r.total) " " (r.unit) }
                        td { (zones_text(&r.zones)) }
                        td class="num" { (r.seq) }
                    }
                } }
                tfoot { tr {
                    th scope="row" colspan="3" { (t.total) }
                    td class="num" id="search-total" { (total) }
                    td {} td {}
                } }
            } }
        }
    }
}

/// A stock snapshot's zones (`[{zone, quantity}]`) as "A 5, B 3".
fn zones_text(zones: &serde_json::Value) -> String {
    zones
        .as_array()
        .map(|zones| {
            zones
                .iter()
                .map(|z| {
                    format!(
                        "{} {}",
                        z["zone"].as_str().unwrap_or("?"),
                        z["quantity"].as_i64().unwrap_or(0)
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

/// `GET /?by=&q=`: the region page, with search results when asked.
pub async fn page(
    State(state): State<Arc<AppState>>,
    viewer: Viewer,
    query: Result<Query<SearchQuery>, QueryRejection>,
) -> Response {
    // A malformed query string is no search, not an error page.
    let query = query.map(|Query(q)| q).unwrap_or_default();
    let t = viewer.lang.texts();
    let now = OffsetDateTime::now_utc();
    let region = match load(&state, now).await {
        Ok(region) => region,
        Err(error) => {
            tracing::error!(%error, "region page failed");
            return unavailable(viewer.lang);
        }
    };
    let results = match query.key() {
        Some(key) => match state.store.stock(&key, viewer.user.restricted).await {
            Ok(rows) => Some(rows),
            Err(error) => {
                tracing::error!(%error, "search failed");
                return unavailable(viewer.lang);
            }
        },
        None => None,
    };
    let body = html! {
        h1 { (t.region_title) }
        p class="muted" { (t.live_note) }
        div id="live-region" aria-live="polite" { (live_part(t, &region, now)) }
        section {
            (search_form(t, &query))
            @if let Some(rows) = &results { (search_results(t, rows)) }
        }
    };
    layout(viewer.lang, t.region_title, Some(&viewer.user), body).into_response()
}

/// `GET /live`: `text/event-stream`; a `region` event with the live part
/// rendered as HTML at once and then whenever it changes.
pub async fn live(State(state): State<Arc<AppState>>, viewer: Viewer) -> Response {
    let lang = viewer.lang;
    let events = stream::unfold(
        (state, String::new(), true),
        move |(state, last, first)| async move {
            let mut last = last;
            let mut first = first;
            loop {
                if !first {
                    let mut stopping = state.stopping.clone();
                    tokio::select! {
                        () = tokio::time::sleep(LIVE_INTERVAL) => {}
                        _ = stopping.wait_for(|s| *s) => return None,
                    }
                }
                first = false;
                let now = OffsetDateTime::now_utc();
                match load(&state, now).await {
                    Ok(region) => {
                        let html = live_part(lang.texts(), &region, now).into_string();
                        if html != last {
                            let event = Event::default().event("region").data(&html);
                            last = html;
                            return Some((Ok::<_, Infallible>(event), (state, last, false)));
                        }
                    }
                    Err(error) => tracing::warn!(%error, "live region not loaded"),
                }
            }
        },
    );
    Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::pages::Lang;
    use time::macros::datetime;

    #[test]
    fn the_search_key_follows_the_chosen_field() {
        let query = |by: Option<&str>, q: &str| SearchQuery {
            by: by.map(str::to_owned),
            q: Some(q.to_owned()),
        };
        assert_eq!(
            query(None, " ART-1 ").key(),
            Some(ArticleKey::Sku("ART-1".into()))
        );
        assert_eq!(
            query(Some("nsn"), "2510-01-028-8573").key(),
            Some(ArticleKey::Nsn("2510010288573".into()))
        );
        assert_eq!(query(Some("gtin"), "  ").key(), None);
    }

    #[test]
    fn depots_show_gaps_lag_and_link() {
        let now = datetime!(2026-12-01 10:00 UTC);
        let depot = DepotFeed {
            depot: "north-1".into(),
            contiguous_seq: 4,
            newest_seq: 9,
            gaps: vec![(5, 6), (8, 8)],
            movements_applied: 6,
            duplicates: 0,
            link: Some((feed_contract::LinkState::Offline, now)),
            last_message: now - time::Duration::seconds(42),
            freshness: Freshness::Stale,
            epoch: None,
            restored: None,
            diverged: None,
        };
        let html = depots_table(Lang::En.texts(), std::slice::from_ref(&depot), now).into_string();
        for part in ["5–6, 8", ">5<", "offline", "stale", "42 s ago"] {
            assert!(html.contains(part), "{part} in {html}");
        }
        assert!(!html.contains("restored"), "{html}");

        let restored = DepotFeed {
            restored: Some(crate::store::DepotRestore {
                at: Some(now),
                noticed: Some(now),
                lost: Some((21, 27)),
                lost_count: 7,
            }),
            diverged: Some((30, now)),
            ..depot
        };
        let html = depots_table(Lang::De.texts(), &[restored], now).into_string();
        for part in [
            "aus einer Sicherung wiederhergestellt",
            "2026-12-01T10:00:00Z",
            "verlorene Seqs 21–27 (7 Bewegungen)",
            "Verlauf umgeschrieben ab Seq 30",
        ] {
            assert!(html.contains(part), "{part} in {html}");
        }
    }

    #[test]
    fn a_bar_needs_a_capacity() {
        let t = Lang::En.texts();
        let html = bar(
            t,
            Fill {
                used: 300,
                capacity: Some(1000),
                free: Some(700),
            },
            1,
            "",
        )
        .into_string();
        assert!(html.contains(r#"max="1000""#) && html.contains("700 free of 1000"));
        let html = bar(
            t,
            Fill {
                used: 3,
                capacity: None,
                free: None,
            },
            1,
            "",
        )
        .into_string();
        assert!(html.contains(t.unlimited) && !html.contains("meter"));
    }
}
