//! Login, logout and the signed-in viewer.
//!
//! The session cookie (`depot_session`) holds 256 random bits, is
//! `HttpOnly`, `SameSite=Strict`, `Path=/`, and `Secure` when the request
//! came over TLS; the server keeps only its SHA-256. Every form carries the
//! session's CSRF token and every POST checks it (403 otherwise). The login
//! form, before there is a session, uses a double-submit token: a random
//! value in a cookie and in the form, which must match.

use axum::extract::{FromRequestParts, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::html;
use serde::Deserialize;
use time::format_description::well_known::Rfc3339;

use super::i18n::{Lang, LANG_COOKIE};
use super::{error_page, layout, plain_page};
use crate::depot::{LoginOutcome, WebSession};
use crate::domain::access::Caller;
use crate::domain::rate::Decision;
use crate::http::extract::{cookie, same_secret, SESSION_COOKIE};
use crate::http::limits::{client_address, with_retry_after, Scope};
use crate::http::AppState;

/// The login form's double-submit cookie.
const LOGIN_CSRF_COOKIE: &str = "depot_login_csrf";

/// The signed-in user of a page request, with the language to answer in.
/// Without a valid session the request is sent to the login page.
pub struct Viewer {
    pub caller: Caller,
    pub csrf_token: String,
    pub lang: Lang,
}

impl Viewer {
    /// Whether a form's CSRF token is the session's (else answer [`csrf_refused`]).
    pub fn csrf_ok(&self, sent: &str) -> bool {
        same_secret(sent, &self.csrf_token)
    }
}

/// The 403 page for a form without the right CSRF token.
pub fn csrf_refused(lang: Lang) -> Response {
    let t = lang.texts();
    plain_page(
        lang,
        StatusCode::FORBIDDEN,
        t.forbidden_title,
        t.form_expired,
    )
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let lang = Lang::of(&parts.headers);
        let session = match cookie(&parts.headers, SESSION_COOKIE) {
            Some(value) => state
                .depot
                .session(value)
                .await
                .map_err(|e| error_page(lang, &e))?,
            None => None,
        };
        match session {
            Some(WebSession { caller, csrf_token }) => Ok(Viewer {
                caller,
                csrf_token,
                lang,
            }),
            None => {
                let next = parts
                    .uri
                    .path_and_query()
                    .map_or("/", |p| p.as_str())
                    .to_owned();
                let target = format!("/login?next={}", layout::urlencode(&next));
                Err(Redirect::to(&target).into_response())
            }
        }
    }
}

/// Whether the request came over TLS (directly or through a proxy that says so).
fn over_tls(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"))
}

/// A `Set-Cookie` value with the flags every cookie of ours carries.
fn set_cookie(headers: &HeaderMap, name: &str, value: &str, max_age_s: i64) -> HeaderValue {
    let secure = if over_tls(headers) { "; Secure" } else { "" };
    let text =
        format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_s}{secure}");
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Only a local path may be a redirect target (no `//host` or scheme).
fn local_path(next: Option<&str>) -> String {
    match next {
        Some(path) if path.starts_with('/') && !path.starts_with("//") && !path.contains('\\') => {
            path.to_owned()
        }
        _ => "/".to_owned(),
    }
}

#[derive(Debug, Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// `GET /login`.
pub async fn login_form(headers: HeaderMap, Query(query): Query<NextQuery>) -> Response {
    let lang = Lang::of(&headers);
    let token = crate::depot::fresh_secret();
    let next = local_path(query.next.as_deref());
    let mut response = login_page(lang, &token, &next, None, StatusCode::OK);
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&headers, LOGIN_CSRF_COOKIE, &token, 3_600),
    );
    response
}

fn login_page(
    lang: Lang,
    csrf: &str,
    next: &str,
    problem: Option<String>,
    status: StatusCode,
) -> Response {
    let t = lang.texts();
    let body = html! {
        h1 { (t.login_title) }
        @if let Some(problem) = &problem {
            div class="error-summary" role="alert" tabindex="-1" {
                h2 { (t.there_is_a_problem) }
                p id="login-problem" { (problem) }
            }
        }
        form method="post" action="/login" class="stack" {
            input type="hidden" name="csrf" value=(csrf);
            input type="hidden" name="next" value=(next);
            label for="name" { (t.user_name) }
            input id="name" name="name" type="text" autocomplete="username" required autofocus
                autocapitalize="none" spellcheck="false" maxlength="64";
            label for="password" { (t.password) }
            input id="password" name="password" type="password" autocomplete="current-password"
                required maxlength="256";
            button type="submit" class="primary" { (t.log_in) }
        }
    };
    (status, layout::bare(lang, t.login_title, body)).into_response()
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
    next: Option<String>,
}

/// `POST /login`: checks the double-submit token, then name and password.
pub async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let lang = Lang::of(&headers);
    let t = lang.texts();
    let expected = cookie(&headers, LOGIN_CSRF_COOKIE).unwrap_or("");
    if expected.is_empty() || !same_secret(&form.csrf, expected) {
        return csrf_refused(lang);
    }
    let next = local_path(form.next.as_deref());
    let outcome = match state.depot.login(form.name.trim(), &form.password).await {
        Ok(outcome) => outcome,
        Err(error) => return error_page(lang, &error),
    };
    match outcome {
        LoginOutcome::SignedIn { cookie, .. } => {
            let mut response = Redirect::to(&next).into_response();
            let jar = response.headers_mut();
            jar.append(
                header::SET_COOKIE,
                set_cookie(
                    &headers,
                    SESSION_COOKIE,
                    &cookie,
                    crate::domain::login::SESSION_LIFETIME.whole_seconds(),
                ),
            );
            jar.append(
                header::SET_COOKIE,
                set_cookie(&headers, LOGIN_CSRF_COOKIE, "", 0),
            );
            response
        }
        LoginOutcome::Refused => login_page(
            lang,
            expected,
            &next,
            Some(t.login_refused.to_owned()),
            StatusCode::UNAUTHORIZED,
        ),
        LoginOutcome::Locked { until } => {
            let until = until.format(&Rfc3339).unwrap_or_default();
            login_page(
                lang,
                expected,
                &next,
                Some(format!("{} {until}.", t.login_locked)),
                StatusCode::TOO_MANY_REQUESTS,
            )
        }
    }
}

/// Middleware of `/login`: a login form submission over the per-address
/// login limit gets the login page's 429 with `Retry-After`, and no password
/// is checked. It comes on top of the per-user back-off of `domain::login`,
/// which one address trying many user names would never meet.
pub async fn limit_login(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if request.method() != Method::POST {
        return next.run(request).await;
    }
    let decision = state.limits.check_login(client_address(&request));
    if decision == Decision::Allowed {
        return next.run(request).await;
    }
    state
        .depot
        .metrics()
        .count_rate_limited(Scope::Login.as_str());
    let lang = Lang::of(request.headers());
    let t = lang.texts();
    let seconds = decision.retry_after_s();
    let text = format!("{} {seconds} s.", t.login_rate_limited);
    let page = plain_page(lang, StatusCode::TOO_MANY_REQUESTS, t.login_title, &text);
    with_retry_after(page, seconds)
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /logout`: ends the session and forgets the cookie.
pub async fn logout(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    if !viewer.csrf_ok(&form.csrf) {
        return csrf_refused(viewer.lang);
    }
    if let Some(value) = cookie(&headers, SESSION_COOKIE) {
        if let Err(error) = state.depot.logout(value).await {
            return error_page(viewer.lang, &error);
        }
    }
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&headers, SESSION_COOKIE, "", 0),
    );
    response
}

#[derive(Debug, Deserialize)]
pub struct SwitchQuery {
    to: String,
    next: Option<String>,
}

/// `GET /lang?to=de&next=/stock`: remembers the language (a year) and goes back.
pub async fn switch_language(headers: HeaderMap, Query(query): Query<SwitchQuery>) -> Response {
    let Some(lang) = Lang::parse(&query.to) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let mut response = Redirect::to(&local_path(query.next.as_deref())).into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&headers, LANG_COOKIE, lang.code(), 365 * 24 * 3_600),
    );
    response
}
