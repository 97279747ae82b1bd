//! `/admin/users`: the depot's users for managers (add one with a web
//! password, which shows its API token once; revoke one) and read-only for
//! auditors; closed to staff and hubs. Only a cleared manager grants
//! clearance: the façade refuses it otherwise, and the form does not offer it.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::html;
use serde::Deserialize;

use super::admin::{forbidden, tabs};
use super::error_page;
use super::layout::{self, Head, Section};
use super::session::{csrf_refused, Viewer};
use super::stock::select;
use crate::depot::DepotError;
use crate::domain::access::{Action, Role};
use crate::http::AppState;

/// The add form as posted.
#[derive(Debug, Default, Deserialize)]
pub struct UserForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
    restricted: Option<String>,
    #[serde(default)]
    password: String,
}

/// The revoke button's form.
#[derive(Debug, Default, Deserialize)]
pub struct RevokeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
}

#[derive(Debug, Deserialize)]
pub struct RevokedQuery {
    revoked: Option<String>,
}

/// What the page says above the list.
enum Note {
    Added { name: String, token: String },
    Revoked(String),
    Refused(String),
}

/// `GET /admin/users`.
pub async fn users(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(query): Query<RevokedQuery>,
) -> Response {
    let form = UserForm {
        role: "staff".into(),
        ..UserForm::default()
    };
    let note = query.revoked.map(Note::Revoked);
    render(&state, &viewer, &form, note, StatusCode::OK).await
}

/// `POST /admin/users`: adds a user with a password.
pub async fn add_user(
    State(state): State<AppState>,
    viewer: Viewer,
    Form(form): Form<UserForm>,
) -> Response {
    if !viewer.csrf_ok(&form.csrf) {
        return csrf_refused(viewer.lang);
    }
    if !viewer.caller.role.may(Action::KeepMasterData) {
        return forbidden(&viewer);
    }
    let name = form.name.trim().to_owned();
    let Ok(role) = Role::parse(&form.role) else {
        let note = Some(Note::Refused(format!("role: '{}' is no role", form.role)));
        return render(
            &state,
            &viewer,
            &form,
            note,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    };
    let added = state
        .depot
        .add_user_as(
            &viewer.caller,
            &name,
            role,
            form.restricted.is_some(),
            &form.password,
        )
        .await;
    let (status, note) = match added {
        Ok(token) => (StatusCode::CREATED, Note::Added { name, token }),
        Err(DepotError::Invalid(errors)) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Note::Refused(
                errors
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
        ),
        Err(error @ DepotError::Exists { .. }) => {
            (StatusCode::CONFLICT, Note::Refused(error.to_string()))
        }
        Err(error @ DepotError::NeedsClearance) => {
            (StatusCode::FORBIDDEN, Note::Refused(error.to_string()))
        }
        Err(error) => return error_page(viewer.lang, &error),
    };
    // Never echo the password back into the form.
    let form = UserForm {
        password: String::new(),
        ..form
    };
    render(&state, &viewer, &form, Some(note), status).await
}

/// `POST /admin/users/revoke`: revokes a user's token and web sessions.
pub async fn revoke_user(
    State(state): State<AppState>,
    viewer: Viewer,
    Form(form): Form<RevokeForm>,
) -> Response {
    if !viewer.csrf_ok(&form.csrf) {
        return csrf_refused(viewer.lang);
    }
    match state.depot.revoke_user_as(&viewer.caller, &form.name).await {
        Ok(()) => Redirect::to(&format!(
            "/admin/users?revoked={}",
            layout::urlencode(&form.name)
        ))
        .into_response(),
        Err(DepotError::Forbidden { .. }) => forbidden(&viewer),
        Err(error @ (DepotError::Conflict(_) | DepotError::NotFound { .. })) => {
            let note = Some(Note::Refused(error.to_string()));
            render(
                &state,
                &viewer,
                &UserForm::default(),
                note,
                StatusCode::CONFLICT,
            )
            .await
        }
        Err(error) => error_page(viewer.lang, &error),
    }
}

async fn render(
    state: &AppState,
    viewer: &Viewer,
    form: &UserForm,
    note: Option<Note>,
    status: StatusCode,
) -> Response {
    let t = viewer.lang.texts();
    let users = match state.depot.users_as(&viewer.caller).await {
        Ok(users) => users,
        Err(DepotError::Forbidden { .. }) => return forbidden(viewer),
        Err(error) => return error_page(viewer.lang, &error),
    };
    let may_write = viewer.caller.role.may(Action::KeepMasterData);
    let roles: Vec<(&str, &str)> = Role::ALL.iter().map(|r| (r.as_str(), r.as_str())).collect();
    let body = html! {
        (tabs(t, "/admin/users"))
        h1 { (t.admin_users_title) }
        @match &note {
            Some(Note::Added { name, token }) => div class="ok" role="status" id="user-added" {
                p { (t.user_added) " " strong { (name) } }
                p { code id="new-token" { (token) } }
            },
            Some(Note::Revoked(name)) => p class="ok" role="status" { (t.user_revoked) " " strong { (name) } },
            Some(Note::Refused(problem)) => div class="error-summary" role="alert" {
                h2 { (t.there_is_a_problem) }
                p id="user-problem" { (t.refused) " " (problem) }
            },
            None => {},
        }
        @if may_write {
            section class="panel" aria-labelledby="add-heading" {
                h2 id="add-heading" { (t.admin_user_add) }
                form id="user-form" method="post" action="/admin/users" class="filters" autocomplete="off" {
                    input type="hidden" name="csrf" value=(viewer.csrf_token);
                    div { label for="u-name" { (t.user_name) } input id="u-name" name="name" type="text" required value=(form.name) autocapitalize="none" spellcheck="false" maxlength="64"; }
                    div { label for="u-role" { (t.role) } (select("role", "u-role", &roles, &form.role)) }
                    div { label for="u-password" { (t.initial_password) } input id="u-password" name="password" type="password" required minlength="8" maxlength="256" autocomplete="new-password"; }
                    @if viewer.caller.restricted {
                        div { label { input name="restricted" type="checkbox" checked[form.restricted.is_some()]; " " (t.cleared) } }
                    }
                    button type="submit" class="primary" { (t.save) }
                }
            }
        } @else {
            p class="muted" { (t.admin_users_read_only) }
        }
        div class="scroll" {
            table id="users" {
                thead { tr {
                    th scope="col" { (t.user_name) }
                    th scope="col" { (t.role) }
                    th scope="col" { (t.cleared) }
                    th scope="col" { (t.created) }
                    th scope="col" { (t.access_expires) }
                    th scope="col" { (t.last_used) }
                    th scope="col" { (t.state) }
                    @if may_write { th scope="col" { span class="muted" { (t.revoke) } } }
                } }
                tbody {
                    @for u in &users {
                        tr {
                            th scope="row" { (u.name) }
                            td { (u.role.as_str()) }
                            td { @if u.restricted { (t.yes) } @else { (t.no) } }
                            td { (u.created_at) }
                            td { (u.expires_at.as_deref().unwrap_or("–")) }
                            td { (u.last_used_at.as_deref().unwrap_or("–")) }
                            td { @match &u.revoked_at { Some(at) => { (t.revoked) " " (at) }, None => (t.active) } }
                            @if may_write {
                                td {
                                    @if u.revoked_at.is_none() && u.name != viewer.caller.name {
                                        form method="post" action="/admin/users/revoke" {
                                            input type="hidden" name="csrf" value=(viewer.csrf_token);
                                            input type="hidden" name="name" value=(u.name);
                                            button type="submit" aria-label=(format!("{} {}", t.revoke, u.name)) { (t.revoke) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    let head = Head {
        title: t.admin_users_title,
        section: Section::Admin,
        path: "/admin/users",
        scripts: &[],
    };
    (status, layout::page(viewer, head, body)).into_response()
}
