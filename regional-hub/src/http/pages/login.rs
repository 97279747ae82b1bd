//! `/login` and `/logout`: a hub user logs in with their API token and gets
//! a session cookie (`HttpOnly`, `SameSite=Strict`, 12 h; the store keeps
//! only its hash). A wrong token is answered 401 with an error summary at
//! the top of the form, as the GOV.UK pattern has it.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::{html, Markup};
use serde::Deserialize;
use time::OffsetDateTime;

use super::{lang, layout, session_id, unavailable, Lang, COOKIE, SESSION_LIFETIME};
use crate::http::AppState;

fn login_page(lang: Lang, failed: bool) -> Markup {
    let t = lang.texts();
    let body = html! {
        h1 { (t.login_title) }
        @if failed {
            div class="error-summary" role="alert" tabindex="-1" {
                h2 { (t.error_summary) }
                p { a href="#token" { (t.bad_token) } }
            }
        }
        p { (t.login_intro) }
        form method="post" action="/login" {
            label for="token" { (t.token) }
            input id="token" name="token" type="password" autocomplete="current-password"
                required autofocus;
            button type="submit" { (t.login) }
        }
    };
    layout(lang, t.login_title, None, body)
}

/// `GET /login`.
pub async fn form(headers: HeaderMap) -> Markup {
    login_page(lang(&headers), false)
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    token: String,
}

/// `POST /login`: a session for a valid token, then the region page.
pub async fn login(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let lang = lang(&headers);
    let now = OffsetDateTime::now_utc();
    match state
        .store
        .open_session(form.token.trim(), now, now + SESSION_LIFETIME)
        .await
    {
        Ok(Some(id)) => {
            let cookie = format!(
                "{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}",
                SESSION_LIFETIME.whole_seconds()
            );
            ([(header::SET_COOKIE, cookie)], Redirect::to("/")).into_response()
        }
        Ok(None) => (StatusCode::UNAUTHORIZED, login_page(lang, true)).into_response(),
        Err(error) => {
            tracing::error!(%error, "login failed");
            unavailable(lang)
        }
    }
}

/// `POST /logout`: ends the session and clears the cookie.
pub async fn logout(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Some(id) = session_id(&headers) {
        if let Err(error) = state.store.close_session(&id).await {
            tracing::error!(%error, "logout failed");
            return unavailable(lang(&headers));
        }
    }
    let cookie = format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    ([(header::SET_COOKIE, cookie)], Redirect::to("/login")).into_response()
}
