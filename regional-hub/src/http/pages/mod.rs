//! The hub's web page, server-rendered with maud: usable without
//! JavaScript, kept live by Server-Sent Events where the browser runs the
//! one small script. Shared here: the viewer (a session cookie from a login
//! with an API token), the language (English or German by
//! `Accept-Language`), the layout, the embedded static files and the
//! security headers. Pages call the store's read methods, like the JSON
//! handlers; they decide nothing about the feed.

mod login;
mod region;
mod texts;

use std::sync::{Arc, LazyLock};

use axum::extract::{FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup, DOCTYPE};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

pub use self::texts::{Lang, Texts};
use super::AppState;
use crate::store::User;

/// The Content-Security-Policy of every page: only our own script, style
/// and connections; no inline script or style; never framed.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; \
    form-action 'self'; frame-ancestors 'none'";

/// The name of the session cookie.
const COOKIE: &str = "hub_session";

/// How long a web session lasts.
const SESSION_LIFETIME: time::Duration = time::Duration::hours(12);

/// The page routes, with the security headers on every response.
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/", get(region::page))
        .route("/live", get(region::live))
        .route("/login", get(login::form).post(login::login))
        .route("/logout", post(login::logout))
        .route("/static/{file}", get(asset))
        .layer(middleware::from_fn(security_headers))
}

async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}

/// The language a request asks for.
fn lang(headers: &HeaderMap) -> Lang {
    Lang::from_accept_language(
        headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or(""),
    )
}

/// The session id in the request's cookie, if any.
fn session_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())
}

/// A logged-in user of the page and their language. Without a valid
/// session the request is sent to `/login`.
pub struct Viewer {
    pub user: User,
    pub lang: Lang,
}

impl FromRequestParts<Arc<AppState>> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Response> {
        let lang = lang(&parts.headers);
        let Some(id) = session_id(&parts.headers) else {
            return Err(Redirect::to("/login").into_response());
        };
        match state
            .store
            .user_by_session(&id, OffsetDateTime::now_utc())
            .await
        {
            Ok(Some(user)) => Ok(Viewer { user, lang }),
            Ok(None) => Err(Redirect::to("/login").into_response()),
            Err(error) => {
                tracing::error!(%error, "session lookup failed");
                Err(unavailable(lang))
            }
        }
    }
}

/// A 503 page: the database did not answer.
fn unavailable(lang: Lang) -> Response {
    let t = lang.texts();
    let body = html! { h1 { (t.unavailable_title) } p { (t.unavailable_text) } };
    (
        StatusCode::SERVICE_UNAVAILABLE,
        layout(lang, t.unavailable_title, None, body),
    )
        .into_response()
}

/// The page around `body`; with a `user`, the header shows them and a
/// logout button.
fn layout(lang: Lang, title: &str, user: Option<&User>, body: Markup) -> Markup {
    let t = lang.texts();
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " — " (t.product) }
                link rel="stylesheet" href=(asset_url("hub.css"));
                script src=(asset_url("hub.js")) defer {}
            }
            body {
                header class="top" {
                    span class="brand" { (t.product) }
                    @if let Some(user) = user {
                        span class="user" {
                            (user.name)
                            @if user.restricted { " · " (t.cleared) }
                        }
                        form method="post" action="/logout" class="inline" {
                            button type="submit" { (t.logout) }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

/// One embedded static file.
struct Asset {
    name: &'static str,
    body: &'static str,
    mime: &'static str,
}

const ASSETS: &[Asset] = &[
    Asset {
        name: "hub.css",
        body: include_str!("static/hub.css"),
        mime: "text/css; charset=utf-8",
    },
    Asset {
        name: "hub.js",
        body: include_str!("static/hub.js"),
        mime: "text/javascript; charset=utf-8",
    },
];

/// Each asset's fingerprinted name (`hub.1a2b3c4d.css`): a new build that
/// changes a file changes its name, so it may be cached for a year.
static FINGERPRINTED: LazyLock<Vec<String>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|asset| {
            let digest = hex::encode(&Sha256::digest(asset.body.as_bytes())[..4]);
            match asset.name.rsplit_once('.') {
                Some((stem, ext)) => format!("{stem}.{digest}.{ext}"),
                None => format!("{}.{digest}", asset.name),
            }
        })
        .collect()
});

/// The URL of an embedded file by its plain name.
fn asset_url(name: &str) -> String {
    ASSETS
        .iter()
        .zip(FINGERPRINTED.iter())
        .find(|(asset, _)| asset.name == name)
        .map(|(_, fingerprinted)| format!("/static/{fingerprinted}"))
        .unwrap_or_default()
}

/// `GET /static/{file}`: an embedded file by its fingerprinted name.
async fn asset(Path(file): Path<String>) -> Response {
    match ASSETS
        .iter()
        .zip(FINGERPRINTED.iter())
        .find(|(_, fingerprinted)| **fingerprinted == file)
    {
        Some((asset, _)) => (
            [
                (header::CONTENT_TYPE, asset.mime),
                (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
            ],
            asset.body,
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; hub_session=abc; b=2"),
        );
        assert_eq!(session_id(&headers).as_deref(), Some("abc"));
        headers.insert(header::COOKIE, HeaderValue::from_static("hub_sessionx=1"));
        assert_eq!(session_id(&headers), None);
    }

    #[test]
    fn assets_have_fingerprinted_urls() {
        let css = asset_url("hub.css");
        assert!(
            css.starts_with("/static/hub.") && css.ends_with(".css"),
            "{css}"
        );
        assert_eq!(asset_url("missing.js"), "");
    }
}
