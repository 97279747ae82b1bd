//! The web pages: server-rendered HTML (maud) for managers, auditors and
//! staff, on the same `Depot` methods as the JSON API. Pages work without
//! JavaScript; small embedded scripts only enhance them (live movements by
//! Server-Sent Events, the scan page's offline queue).
//!
//! Owns: login and sessions (`session.rs`), the page shell and navigation
//! (`layout.rs`), the message catalogue (`i18n.rs`), embedded assets
//! (`assets.rs`), one module per page (`admin*.rs` for master data and users), and the security headers every
//! response gets. Runs no SQL and holds no rules: the façade decides.

mod admin;
mod admin_locations;
mod admin_users;
mod article;
pub mod assets;
mod gates;
mod home;
pub mod i18n;
mod layout;
mod location;
mod movements;
mod scan;
pub mod session;
mod stock;
mod uplink;
mod utilisation;

use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::html;

use self::i18n::Lang;
use crate::depot::DepotError;
use crate::http::{self, AppState};

/// The Content-Security-Policy of every response: only our own scripts,
/// styles and connections; no inline script or style; never framed.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; connect-src 'self'; worker-src 'self'; \
    object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The whole application: the pages beside the JSON API, every response
/// with the security headers.
pub fn router(state: AppState) -> Router {
    let pages = Router::new()
        .route("/", get(home::page))
        .route(
            "/login",
            get(session::login_form).post(session::login).route_layer(
                middleware::from_fn_with_state(state.clone(), session::limit_login),
            ),
        )
        .route("/logout", post(session::logout))
        .route("/lang", get(session::switch_language))
        .route("/stock", get(stock::page))
        .route("/articles/{sku}", get(article::page))
        .route("/locations/{code}", get(location::page))
        .route("/utilisation", get(utilisation::page))
        .route("/gates", get(gates::page))
        .route("/uplink", get(uplink::page))
        .route("/movements", get(movements::page))
        .route("/movements/live", get(movements::live))
        .route("/scan", get(scan::page).post(scan::book))
        .route(
            "/admin/articles",
            get(admin::articles).post(admin::save_article),
        )
        .route(
            "/admin/locations",
            get(admin_locations::locations).post(admin_locations::save_location),
        )
        .route(
            "/admin/users",
            get(admin_users::users).post(admin_users::add_user),
        )
        .route("/admin/users/revoke", post(admin_users::revoke_user))
        .route("/scan-sw.js", get(assets::service_worker))
        .route("/static/{file}", get(assets::serve))
        .with_state(state.clone());
    http::router(state.clone())
        .merge(pages)
        .layer(middleware::from_fn_with_state(state, http::limits::timeout))
        .layer(middleware::from_fn(security_headers))
}

/// Adds the security headers; HTML is never stored by caches (it shows stock).
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
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    let is_html = headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
    if is_html {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// A page that says what went wrong, with the fitting status.
pub fn error_page(lang: Lang, error: &DepotError) -> Response {
    let t = lang.texts();
    let (status, title, text) = match error {
        DepotError::Forbidden { .. } | DepotError::NeedsClearance => {
            (StatusCode::FORBIDDEN, t.forbidden_title, t.forbidden_text)
        }
        DepotError::NotFound { .. } => (StatusCode::NOT_FOUND, t.not_found_title, ""),
        DepotError::Unavailable(_) | DepotError::WriterStopped | DepotError::ShuttingDown => {
            (StatusCode::SERVICE_UNAVAILABLE, t.error_title, t.error_text)
        }
        other => {
            tracing::error!(error = %other, "a page failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                t.error_title,
                t.error_text,
            )
        }
    };
    plain_page(lang, status, title, text)
}

/// A minimal page with a heading and one paragraph (errors, refusals).
pub fn plain_page(lang: Lang, status: StatusCode, title: &str, text: &str) -> Response {
    let t = lang.texts();
    let body = html! {
        h1 { (title) }
        @if !text.is_empty() { p { (text) } }
        p { a href="/" { (t.nav_start) } }
    };
    (status, layout::bare(lang, title, body)).into_response()
}
