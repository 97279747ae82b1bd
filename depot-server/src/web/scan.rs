//! `/scan`: the handheld booking page. One focused input takes what a
//! keyboard-wedge scanner types (ending in Enter) or a person types: an EPC,
//! a GS1 element string or Digital Link (with a serial: one item; a GTIN
//! without one: an amount of its article), a location label (which sets the
//! location) or a SKU. Receive, move, issue or count at the chosen location;
//! a count books the difference to the stock there.
//!
//! Every rendered form carries a fresh read id, the booking's Idempotency-Key,
//! so a double submit of the same form books once. Without JavaScript the
//! form posts here; with it, `scan.js` queues each read in IndexedDB and
//! sends the queue in order through `POST /api/v1/scans` (ids generated per
//! scan), so reads survive a lost connection while the page stays open, and
//! a reload offline where a service worker may run (a secure context).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Form;
use maud::{html, Markup};
use serde::Deserialize;

use super::error_page;
use super::i18n::Texts;
use super::layout::{self, Head, Section};
use super::session::{csrf_refused, Viewer};
use crate::depot::DepotError;
use crate::domain::access::Action;
use crate::http::scans::{self, ScanRead, ScanResult};
use crate::http::AppState;

/// What the form keeps between scans.
#[derive(Debug, Default, Deserialize)]
pub struct ScanForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    quantity: Option<String>,
    #[serde(default)]
    location: String,
    #[serde(default)]
    from: String,
}

/// The feedback of the last scan.
enum Feedback {
    Booked(ScanResult),
    Refused(String),
    LocationSet(String),
}

/// `GET /scan`.
pub async fn page(State(state): State<AppState>, viewer: Viewer) -> Response {
    let form = ScanForm {
        kind: "receive".into(),
        ..ScanForm::default()
    };
    render(&state, &viewer, &form, None).await
}

/// `POST /scan`: the form without JavaScript.
pub async fn book(
    State(state): State<AppState>,
    viewer: Viewer,
    Form(mut form): Form<ScanForm>,
) -> Response {
    if !viewer.csrf_ok(&form.csrf) {
        return csrf_refused(viewer.lang);
    }
    if !viewer.caller.role.may(Action::Book) {
        return error_page(
            viewer.lang,
            &DepotError::Forbidden {
                role: viewer.caller.role,
            },
        );
    }
    let code = form.code.trim().to_owned();
    if code.is_empty() {
        return render(&state, &viewer, &form, None).await;
    }
    // A location label sets the location instead of booking.
    if let Ok(location) = state.depot.location(&viewer.caller, &code).await {
        form.location = location.code.to_string();
        form.code.clear();
        let feedback = Feedback::LocationSet(form.location.clone());
        return render(&state, &viewer, &form, Some(feedback)).await;
    }
    let quantity = match form
        .quantity
        .as_deref()
        .map(str::trim)
        .filter(|q| !q.is_empty())
    {
        Some(text) => match text.parse::<i64>() {
            Ok(quantity) => Some(quantity),
            Err(_) => {
                let feedback =
                    Feedback::Refused(format!("quantity: '{text}' is not a whole number"));
                return render(&state, &viewer, &form, Some(feedback)).await;
            }
        },
        None => None,
    };
    let read = ScanRead {
        id: form.id.clone(),
        kind: form.kind.clone(),
        code,
        quantity,
        location: Some(form.location.clone()),
        from: Some(form.from.clone()),
    };
    let result = scans::apply(&state.depot, &viewer.caller, read).await;
    let feedback = if result.status == 201 {
        form.code.clear();
        Feedback::Booked(result)
    } else {
        let detail = result
            .problem
            .as_ref()
            .and_then(|p| p.get("detail"))
            .and_then(|d| d.as_str())
            .unwrap_or("")
            .to_owned();
        Feedback::Refused(detail)
    };
    render(&state, &viewer, &form, Some(feedback)).await
}

fn feedback(t: &Texts, feedback: &Feedback) -> Markup {
    match feedback {
        Feedback::Booked(result) if result.movements.is_empty() => html! {
            p class="ok" { strong { (t.scan_count_agrees) } }
        },
        Feedback::Booked(result) => html! {
            p class="ok" {
                strong { (t.scan_booked) } ": "
                @for m in &result.movements {
                    (t.term(&m.kind)) " " (m.quantity) " × " (m.sku)
                    @if let Some(from) = &m.from { " " (from) " →" }
                    @if let Some(to) = &m.to { " → " (to) }
                    " (" (t.seq) " " (m.seq) ") "
                }
            }
        },
        Feedback::Refused(detail) => html! {
            p class="refused" { strong { (t.scan_refused) } ": " (detail) }
        },
        Feedback::LocationSet(code) => html! {
            p class="ok" { (t.scan_location_set) " " strong { (code) } }
        },
    }
}

async fn render(
    state: &AppState,
    viewer: &Viewer,
    form: &ScanForm,
    last: Option<Feedback>,
) -> Response {
    let t = viewer.lang.texts();
    let locations = match state.depot.locations(&viewer.caller, "", 1_000, None).await {
        Ok(locations) => locations,
        Err(error) => return error_page(viewer.lang, &error),
    };
    // A fresh id per rendered form: posting this form twice books once.
    let id = format!("form-{}", crate::depot::fresh_secret());
    let kind = if form.kind.is_empty() {
        "receive"
    } else {
        form.kind.as_str()
    };
    let body = html! {
        h1 { (t.scan_title) }
        div id="scan-feedback" role="status" aria-live="assertive" {
            @if let Some(last) = &last { (feedback(t, last)) }
        }
        form id="scan-form" class="scan stack" method="post" action="/scan" autocomplete="off"
            data-t-booked=(t.scan_booked) data-t-refused=(t.scan_refused)
            data-t-offline=(t.scan_offline) data-t-location-set=(t.scan_location_set)
            data-t-seq=(t.seq) data-t-count-agrees=(t.scan_count_agrees)
            data-user=(viewer.caller.name) {
            input type="hidden" name="csrf" value=(viewer.csrf_token);
            input type="hidden" name="id" value=(id);
            fieldset class="kinds" {
                legend { (t.scan_kind) }
                @for (value, label) in [("receive", t.kind_receive), ("move", t.kind_move), ("issue", t.kind_issue), ("count", t.kind_count)] {
                    label class="kind" {
                        @if kind == value {
                            input type="radio" name="kind" value=(value) checked;
                        } @else {
                            input type="radio" name="kind" value=(value);
                        }
                        " " (label)
                    }
                }
            }
            label for="scan-location" { (t.scan_to_location) }
            input id="scan-location" name="location" type="text" list="location-codes"
                value=(form.location) autocapitalize="characters" spellcheck="false"
                aria-describedby="scan-location-hint";
            span id="scan-location-hint" class="hint" { (t.scan_location_hint) }
            label for="scan-from" { (t.scan_from_location) }
            input id="scan-from" name="from" type="text" list="location-codes"
                value=(form.from) autocapitalize="characters" spellcheck="false";
            label for="scan-code" { (t.scan_code) }
            input id="scan-code" class="code" name="code" type="text" autofocus
                value=(form.code) autocapitalize="none" spellcheck="false" enterkeyhint="send"
                aria-describedby="scan-code-hint";
            span id="scan-code-hint" class="hint" { (t.scan_code_hint) }
            label for="scan-quantity" { (t.quantity) }
            input id="scan-quantity" name="quantity" type="number" min="0" step="1" inputmode="numeric"
                value=(form.quantity.as_deref().unwrap_or("1"));
            button type="submit" class="primary big" { (t.scan_book) }
        }
        datalist id="location-codes" {
            @for location in &locations { option value=(location.code.as_str()) {} }
        }
        section id="scan-queue" class="panel" hidden aria-labelledby="queue-heading" {
            h2 id="queue-heading" { (t.scan_queue) " " span id="queue-count" { "0" } }
            p id="queue-empty" class="muted" { (t.scan_queue_empty) }
            ol id="queue-list" {}
        }
        section id="scan-results" class="panel" hidden aria-labelledby="results-heading" {
            h2 id="results-heading" { (t.scan_results) }
            ol id="result-list" reversed {}
        }
    };
    let head = Head {
        title: t.scan_title,
        section: Section::Scan,
        path: "/scan",
        scripts: &["scan.js"],
    };
    layout::page(viewer, head, body).into_response()
}
