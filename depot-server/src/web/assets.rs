//! Static assets embedded in the binary: the style sheet and the small
//! scripts that enhance the pages. Each is served under a name with a
//! fingerprint of its content (`/static/app.1a2b3c4d.css`) and cached for a
//! year; a new build changes the name. The scan page's service worker is the
//! exception: it must keep one URL (`/scan-sw.js`), so it is revalidated.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// One embedded file.
struct Asset {
    name: &'static str,
    body: &'static str,
    mime: &'static str,
}

const FILES: &[Asset] = &[
    Asset {
        name: "app.css",
        body: include_str!("static/app.css"),
        mime: "text/css; charset=utf-8",
    },
    Asset {
        name: "live.js",
        body: include_str!("static/live.js"),
        mime: "text/javascript; charset=utf-8",
    },
    Asset {
        name: "scan.js",
        body: include_str!("static/scan.js"),
        mime: "text/javascript; charset=utf-8",
    },
];

/// The service worker of the scan page (offline reload where the context is secure).
pub const SERVICE_WORKER: &str = include_str!("static/scan-sw.js");

/// Each file's fingerprinted name (`app.1a2b3c4d.css`).
static NAMES: LazyLock<Vec<String>> = LazyLock::new(|| {
    FILES
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

/// The URL of an embedded file by its plain name (`app.css`).
pub fn url(name: &str) -> String {
    FILES
        .iter()
        .zip(NAMES.iter())
        .find(|(asset, _)| asset.name == name)
        .map(|(_, fingerprinted)| format!("/static/{fingerprinted}"))
        .unwrap_or_default()
}

/// Every asset URL, for the service worker's cache.
pub fn urls() -> Vec<String> {
    NAMES.iter().map(|n| format!("/static/{n}")).collect()
}

/// `GET /static/{file}`.
pub async fn serve(Path(file): Path<String>) -> Response {
    let Some((asset, _)) = FILES.iter().zip(NAMES.iter()).find(|(_, n)| **n == file) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let mut response = asset.body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.mime));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    response
}

/// `GET /scan-sw.js`: the service worker, with the asset URLs it caches.
pub async fn service_worker() -> Response {
    let body = SERVICE_WORKER.replace(
        "\"__ASSETS__\"",
        &serde_json::to_string(&urls()).unwrap_or_else(|_| "[]".into()),
    );
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/javascript; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}
