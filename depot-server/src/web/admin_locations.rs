//! `/admin/locations`: locations for managers (create and change, by the
//! same `LocationDraft` as the JSON API and the CSV import), read-only for
//! auditors, closed to staff and hubs.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::html;
use serde::Deserialize;

use super::admin::{forbidden, given, may_read, number, tabs, SavedQuery};
use super::error_page;
use super::layout::{self, Head, Section};
use super::session::{csrf_refused, Viewer};
use super::stock::select;
use crate::depot::DepotError;
use crate::domain::access::Action;
use crate::domain::location::{LocationDraft, LocationKind};
use crate::http::AppState;

/// Locations listed on the page.
const PAGE_LOCATIONS: i64 = 1_000;

/// The location form as posted (every field text, as typed).
#[derive(Debug, Default, Deserialize)]
pub struct LocationForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    zone: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    capacity_volume_l: String,
    #[serde(default)]
    capacity_weight_kg: String,
    #[serde(default)]
    capacity_pallets: String,
}

impl LocationForm {
    /// The draft, or the fields that are not whole numbers.
    fn draft(&self) -> Result<LocationDraft, Vec<String>> {
        let mut problems = Vec::new();
        let capacity_volume_l = number(&mut problems, "capacity_volume_l", &self.capacity_volume_l);
        let capacity_weight_kg = number(
            &mut problems,
            "capacity_weight_kg",
            &self.capacity_weight_kg,
        );
        let capacity_pallets = number(&mut problems, "capacity_pallets", &self.capacity_pallets);
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(LocationDraft {
            code: given(&self.code),
            zone: self.zone.trim().to_owned(),
            kind: self.kind.clone(),
            capacity_volume_l,
            capacity_weight_kg,
            capacity_pallets,
        })
    }
}

/// `GET /admin/locations`.
pub async fn locations(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(query): Query<SavedQuery>,
) -> Response {
    if !may_read(viewer.caller.role) {
        return forbidden(&viewer);
    }
    let note = query.saved.map(|code| (true, code));
    let form = LocationForm {
        kind: "bin".into(),
        ..LocationForm::default()
    };
    render(&state, &viewer, &form, note, StatusCode::OK).await
}

/// `POST /admin/locations`: creates or changes one location.
pub async fn save_location(
    State(state): State<AppState>,
    viewer: Viewer,
    Form(form): Form<LocationForm>,
) -> Response {
    if !viewer.csrf_ok(&form.csrf) {
        return csrf_refused(viewer.lang);
    }
    if !viewer.caller.role.may(Action::KeepMasterData) {
        return forbidden(&viewer);
    }
    let location = match form.draft() {
        Ok(draft) => draft
            .parse(None)
            .map_err(|errors| errors.iter().map(ToString::to_string).collect::<Vec<_>>()),
        Err(problems) => Err(problems),
    };
    let location = match location {
        Ok(location) => location,
        Err(problems) => {
            let note = Some((false, problems.join("; ")));
            return render(
                &state,
                &viewer,
                &form,
                note,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
    };
    let code = location.code.to_string();
    match state.depot.put_location(&viewer.caller, location).await {
        Ok(_) => Redirect::to(&format!(
            "/admin/locations?saved={}",
            layout::urlencode(&code)
        ))
        .into_response(),
        Err(error @ DepotError::Conflict(_)) => {
            let note = Some((false, error.to_string()));
            render(&state, &viewer, &form, note, StatusCode::CONFLICT).await
        }
        Err(error) => error_page(viewer.lang, &error),
    }
}

async fn render(
    state: &AppState,
    viewer: &Viewer,
    form: &LocationForm,
    note: Option<(bool, String)>,
    status: StatusCode,
) -> Response {
    let t = viewer.lang.texts();
    let locations = match state
        .depot
        .locations(&viewer.caller, "", PAGE_LOCATIONS, None)
        .await
    {
        Ok(locations) => locations,
        Err(error) => return error_page(viewer.lang, &error),
    };
    let may_write = viewer.caller.role.may(Action::KeepMasterData);
    let kinds: Vec<(&str, &str)> = LocationKind::ALL
        .iter()
        .map(|k| (k.as_str(), k.as_str()))
        .collect();
    let limit = |value: Option<i64>| value.map(|v| v.to_string()).unwrap_or_default();
    let body = html! {
        (tabs(t, "/admin/locations"))
        h1 { (t.admin_locations_title) }
        @match &note {
            Some((true, code)) => p class="ok" role="status" { (t.saved) " " strong { (code) } },
            Some((false, problem)) => div class="error-summary" role="alert" {
                h2 { (t.there_is_a_problem) }
                p id="location-problem" { (t.refused) " " (problem) }
            },
            None => {},
        }
        @if may_write {
            section class="panel" aria-labelledby="edit-heading" {
                h2 id="edit-heading" { (t.admin_location_edit) }
                form id="location-form" method="post" action="/admin/locations" class="filters" {
                    input type="hidden" name="csrf" value=(viewer.csrf_token);
                    div { label for="l-code" { (t.location_code) } input id="l-code" name="code" type="text" required value=(form.code) autocapitalize="characters" spellcheck="false"; }
                    div { label for="l-zone" { (t.zone) } input id="l-zone" name="zone" type="text" required value=(form.zone) autocapitalize="characters"; }
                    div { label for="l-kind" { (t.location_kind) } (select("kind", "l-kind", &kinds, &form.kind)) }
                    div { label for="l-volume" { (t.capacity_volume_l) } input id="l-volume" name="capacity_volume_l" type="number" min="0" value=(form.capacity_volume_l); }
                    div { label for="l-weight" { (t.capacity_weight_kg) } input id="l-weight" name="capacity_weight_kg" type="number" min="0" value=(form.capacity_weight_kg); }
                    div { label for="l-pallets" { (t.capacity_pallets) } input id="l-pallets" name="capacity_pallets" type="number" min="0" value=(form.capacity_pallets); }
                    button type="submit" class="primary" { (t.save) }
                }
            }
        } @else {
            p class="muted" { (t.admin_locations_read_only) }
        }
        div class="scroll" {
            table id="locations" {
                thead { tr {
                    th scope="col" { (t.location_code) }
                    th scope="col" { (t.zone) }
                    th scope="col" { (t.location_kind) }
                    th scope="col" class="num" { (t.capacity_volume_l) }
                    th scope="col" class="num" { (t.capacity_weight_kg) }
                    th scope="col" class="num" { (t.capacity_pallets) }
                } }
                tbody {
                    @for l in &locations {
                        tr {
                            td { a href=(format!("/locations/{}", layout::urlencode(l.code.as_str()))) { (l.code) } }
                            td { (l.zone) }
                            td { (l.kind.as_str()) }
                            td class="num" { (limit(l.capacity.volume_l)) }
                            td class="num" { (limit(l.capacity.weight_kg)) }
                            td class="num" { (limit(l.capacity.pallets)) }
                        }
                    }
                }
            }
        }
    };
    let head = Head {
        title: t.admin_locations_title,
        section: Section::Admin,
        path: "/admin/locations",
        scripts: &[],
    };
    (status, layout::page(viewer, head, body)).into_response()
}
