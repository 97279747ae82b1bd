//! The web pages over HTTP: login, session cookie flags, CSRF on every form
//! and on the API by cookie, lock-out, security headers, the scans batch,
//! and no restricted article in any page, search or live event for an
//! uncleared user.

use std::time::Duration;

use reqwest::redirect::Policy;
use reqwest::{Client, Response};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::helpers::{expect_problem, spawn_app_with, TestApp};

const PASSWORD: &str = "correct horse battery";

fn browser() -> Client {
    Client::builder()
        .redirect(Policy::none())
        .build()
        .expect("client")
}

/// The `Set-Cookie` header that sets `name`.
fn set_cookie(response: &Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

/// The value a `Set-Cookie` header sets.
fn cookie_value(header: &str) -> String {
    header
        .split(';')
        .next()
        .and_then(|pair| pair.split_once('='))
        .map(|(_, v)| v.to_owned())
        .unwrap_or_default()
}

/// The value of the first hidden `csrf` field of a page.
fn csrf_field(html: &str) -> String {
    let at = html.find(r#"name="csrf" value=""#).expect("a csrf field");
    let rest = &html[at + r#"name="csrf" value=""#.len()..];
    rest[..rest.find('"').expect("end of value")].to_owned()
}

/// A signed-in browser: its session cookie value and the session's CSRF token.
struct Session {
    cookie: String,
    csrf: String,
}

impl Session {
    fn header(&self) -> String {
        format!("depot_session={}", self.cookie)
    }
}

async fn login_form(app: &TestApp, client: &Client) -> (String, String) {
    let form = client
        .get(app.url("/login"))
        .send()
        .await
        .expect("GET /login");
    assert_eq!(form.status(), 200);
    let cookie = set_cookie(&form, "depot_login_csrf").expect("login csrf cookie");
    let html = form.text().await.expect("html");
    (cookie_value(&cookie), csrf_field(&html))
}

async fn post_login(
    app: &TestApp,
    client: &Client,
    name: &str,
    password: &str,
    extra: &[(&str, &str)],
) -> Response {
    let (cookie, csrf) = login_form(app, client).await;
    let mut request = client
        .post(app.url("/login"))
        .header("cookie", format!("depot_login_csrf={cookie}"))
        .form(&[
            ("name", name),
            ("password", password),
            ("csrf", csrf.as_str()),
            ("next", "/stock"),
        ]);
    for (key, value) in extra {
        request = request.header(*key, *value);
    }
    request.send().await.expect("POST /login")
}

async fn log_in(app: &TestApp, name: &str) -> Session {
    let client = browser();
    let response = post_login(app, &client, name, PASSWORD, &[]).await;
    assert_eq!(response.status(), 303, "login of {name}");
    let cookie = cookie_value(&set_cookie(&response, "depot_session").expect("session cookie"));
    let page = client
        .get(app.url("/stock"))
        .header("cookie", format!("depot_session={cookie}"))
        .send()
        .await
        .expect("GET /stock");
    assert_eq!(page.status(), 200);
    let csrf = csrf_field(&page.text().await.expect("html"));
    Session { cookie, csrf }
}

async fn web_app() -> TestApp {
    // Some of these book a hundred times in a row with one token: the API's
    // rate limits are `abuse.rs`'s to test.
    let app = spawn_app_with(|config| {
        config.api_token_rate_per_s = 0;
        config.api_address_rate_per_s = 0;
    })
    .await;
    for name in ["staff", "manager", "auditor", "cleared-staff"] {
        app.set_password(name, PASSWORD).await;
    }
    app
}

async fn page(app: &TestApp, session: &Session, path: &str) -> (u16, String) {
    let response = browser()
        .get(app.url(path))
        .header("cookie", session.header())
        .send()
        .await
        .expect("GET page");
    let status = response.status().as_u16();
    (status, response.text().await.expect("html"))
}

#[tokio::test]
async fn login_sets_a_hardened_session_cookie_stored_hashed() {
    let app = web_app().await;
    let client = browser();
    let anonymous = client.get(app.url("/stock")).send().await.expect("GET");
    assert_eq!(anonymous.status(), 303);
    assert_eq!(anonymous.headers()["location"], "/login?next=/stock");

    let response = post_login(&app, &client, "staff", PASSWORD, &[]).await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/stock");
    let cookie = set_cookie(&response, "depot_session").expect("session cookie");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(cookie.contains(flag), "{flag} missing in {cookie}");
    }
    assert!(
        !cookie.contains("Secure"),
        "no Secure over plain HTTP: {cookie}"
    );
    let value = cookie_value(&cookie);
    assert_eq!(value.len(), 64);

    // Only the cookie's hash is stored.
    let pool = depot_server::store::open_pool(&app.db, &Default::default())
        .await
        .expect("pool");
    let stored: Vec<String> = sqlx::query_scalar("SELECT id_hash FROM web_sessions")
        .fetch_all(&pool)
        .await
        .expect("sessions");
    assert_eq!(stored, vec![hex::encode(Sha256::digest(value.as_bytes()))]);
    pool.close().await;

    // Behind TLS the cookie is Secure.
    let tls = post_login(
        &app,
        &client,
        "staff",
        PASSWORD,
        &[("x-forwarded-proto", "https")],
    )
    .await;
    let cookie = set_cookie(&tls, "depot_session").expect("session cookie");
    assert!(cookie.contains("; Secure"), "{cookie}");
}

#[tokio::test]
async fn every_page_has_the_security_headers() {
    let app = web_app().await;
    let session = log_in(&app, "manager").await;
    for path in [
        "/",
        "/stock",
        "/movements",
        "/scan",
        "/login",
        "/api/v1/stock",
    ] {
        let response = browser()
            .get(app.url(path))
            .header("cookie", session.header())
            .send()
            .await
            .expect("GET");
        assert_eq!(response.status(), 200, "{path}");
        let headers = response.headers();
        let csp = headers["content-security-policy"].to_str().expect("csp");
        for directive in [
            "script-src 'self'",
            "style-src 'self'",
            "frame-ancestors 'none'",
            "object-src 'none'",
        ] {
            assert!(
                csp.contains(directive),
                "{path}: {directive} missing in {csp}"
            );
        }
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        if !path.starts_with("/api") {
            assert_eq!(headers["cache-control"], "no-store", "{path}");
            let html = response.text().await.expect("html");
            assert!(!html.contains("<script>"), "{path} has an inline script");
            assert!(!html.contains(" style="), "{path} has an inline style");
        }
    }
}

#[tokio::test]
async fn a_form_or_an_api_change_by_cookie_without_the_csrf_token_is_403() {
    let app = web_app().await;
    let session = log_in(&app, "staff").await;
    let client = browser();

    // The login form: its double-submit token must match.
    let (cookie, _) = login_form(&app, &client).await;
    let forged = client
        .post(app.url("/login"))
        .header("cookie", format!("depot_login_csrf={cookie}"))
        .form(&[
            ("name", "staff"),
            ("password", PASSWORD),
            ("csrf", "forged"),
        ])
        .send()
        .await
        .expect("POST");
    assert_eq!(forged.status(), 403);
    let missing = client
        .post(app.url("/login"))
        .form(&[("name", "staff"), ("password", PASSWORD)])
        .send()
        .await
        .expect("POST");
    assert_eq!(missing.status(), 403);

    // Forms of a session.
    for (path, form) in [
        ("/logout", vec![]),
        (
            "/scan",
            vec![
                ("kind", "receive"),
                ("code", "ART-1"),
                ("location", "A-1"),
                ("id", "k-1"),
            ],
        ),
    ] {
        let response = client
            .post(app.url(path))
            .header("cookie", session.header())
            .form(&form)
            .send()
            .await
            .expect("POST");
        assert_eq!(response.status(), 403, "{path} without a token");
    }
    assert_eq!(app.stock_of("ART-1", "A-1").await, 0, "nothing booked");

    // The JSON API by cookie: X-CSRF-Token required for changes.
    let batch =
        json!({"reads": [{"id": "r-1", "kind": "receive", "code": "ART-1", "location": "A-1"}]});
    let response = client
        .post(app.url("/api/v1/scans"))
        .header("cookie", session.header())
        .json(&batch)
        .send()
        .await
        .expect("POST");
    let problem = expect_problem(response, 403).await;
    assert_eq!(problem["type"], "urn:depot-edge:problem:csrf");
    let response = client
        .post(app.url("/api/v1/scans"))
        .header("cookie", session.header())
        .header("x-csrf-token", &session.csrf)
        .json(&batch)
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 200);
    assert_eq!(app.stock_of("ART-1", "A-1").await, 1);

    // Logout with the token ends the session.
    let response = client
        .post(app.url("/logout"))
        .header("cookie", session.header())
        .form(&[("csrf", session.csrf.as_str())])
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 303);
    let cleared = set_cookie(&response, "depot_session").expect("cleared cookie");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    let (status, _) = page(&app, &session, "/stock").await;
    assert_eq!(status, 303, "the old cookie opens nothing");
}

#[tokio::test]
async fn repeated_failures_lock_the_login_even_for_the_right_password() {
    let app = web_app().await;
    let client = browser();
    for attempt in 1..=4 {
        let response = post_login(&app, &client, "staff", "wrong password", &[]).await;
        assert_eq!(response.status(), 401, "attempt {attempt}");
    }
    let locked = post_login(&app, &client, "staff", "wrong password", &[]).await;
    assert_eq!(locked.status(), 429);
    let right = post_login(&app, &client, "staff", PASSWORD, &[]).await;
    assert_eq!(right.status(), 429, "locked: the password is not checked");
    assert!(set_cookie(&right, "depot_session").is_none());
    // Other users are not affected; an unknown user is refused like a wrong password.
    let other = post_login(&app, &client, "manager", PASSWORD, &[]).await;
    assert_eq!(other.status(), 303);
    let unknown = post_login(&app, &client, "nobody", PASSWORD, &[]).await;
    assert_eq!(unknown.status(), 401);
}

/// Reads an event stream until `until` appears in it or two seconds pass.
async fn read_events(app: &TestApp, session: &Session, until: &str) -> String {
    let mut response = browser()
        .get(app.url("/movements/live?after=0"))
        .header("cookie", session.header())
        .send()
        .await
        .expect("GET live");
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .expect("type")
        .starts_with("text/event-stream"));
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !text.contains(until) {
        match tokio::time::timeout_at(deadline, response.chunk()).await {
            Ok(Ok(Some(chunk))) => text.push_str(&String::from_utf8_lossy(&chunk)),
            _ => break,
        }
    }
    text
}

#[tokio::test]
async fn no_page_search_count_or_live_event_shows_a_restricted_article_uncleared() {
    let app = web_app().await;
    let manager = app.manager.clone();
    for (key, body) in [
        (
            "leak-1",
            json!({"kind":"receive","sku":"SECRET-1","quantity":3,"to":"B-1"}),
        ),
        (
            "leak-2",
            json!({"kind":"receive","sku":"ART-1","quantity":2,"to":"B-1"}),
        ),
    ] {
        assert_eq!(app.book(&manager, key, &body).await.status(), 201);
    }
    let staff = log_in(&app, "staff").await;
    let cleared = log_in(&app, "cleared-staff").await;
    for path in [
        "/",
        "/stock",
        "/stock?sku=SECRET-1",
        "/stock?q=secret",
        "/stock?q=Restricted",
        "/stock?location=B-1",
        "/stock?classification=restricted",
        "/stock?supply_class=III",
        "/utilisation",
        "/locations/B-1",
        "/gates",
        "/uplink",
        "/movements",
        "/scan",
    ] {
        let (status, html) = page(&app, &staff, path).await;
        assert_eq!(status, 200, "{path}");
        // A search echoes what was typed in its field; no row, count or link may name it.
        assert!(
            !html.contains(">SECRET"),
            "{path} shows the restricted article to staff"
        );
    }
    let (status, html) = page(&app, &staff, "/articles/SECRET-1").await;
    assert_eq!(
        status, 404,
        "a restricted article's page is not found uncleared"
    );
    assert!(!html.contains("SECRET"), "{html}");
    let (_, html) = page(&app, &cleared, "/stock").await;
    assert!(html.contains("SECRET-1"), "a cleared user sees it");
    let (status, html) = page(&app, &cleared, "/articles/SECRET-1").await;
    assert_eq!(status, 200);
    assert!(html.contains(r#"id="article-total">3<"#), "{html}");
    let (_, html) = page(&app, &cleared, "/locations/B-1").await;
    assert!(html.contains(">SECRET-1<"), "cleared: at its location");
    let (_, html) = page(&app, &cleared, "/stock?classification=restricted").await;
    assert!(
        html.contains(">SECRET-1<") && !html.contains(">ART-1<"),
        "the classification filter"
    );
    let (_, html) = page(&app, &cleared, "/stock?q=restricted").await;
    assert!(html.contains(">SECRET-1<"), "found by its name");
    assert!(!html.contains(">ART-1<"), "the search filters");
    // The start page's totals leave it out: one article in stock for staff, two cleared.
    let (_, html) = page(&app, &staff, "/").await;
    assert!(html.contains(r#"id="articles-in-stock">1<"#), "staff count");
    let (_, html) = page(&app, &cleared, "/").await;
    assert!(
        html.contains(r#"id="articles-in-stock">2<"#),
        "cleared count"
    );

    // Live events: the catch-up and new commits, per viewer.
    let events = read_events(&app, &staff, "ART-1").await;
    assert!(events.contains("ART-1"), "{events}");
    assert!(!events.contains("SECRET"), "{events}");
    let events = read_events(&app, &cleared, "SECRET-1").await;
    assert!(events.contains("SECRET-1"), "{events}");

    // New commits while connected (the answer's headers mean it has subscribed).
    let mut response = browser()
        .get(app.url("/movements/live"))
        .header("cookie", staff.header())
        .send()
        .await
        .expect("GET live");
    for (key, sku) in [("leak-3", "SECRET-1"), ("leak-4", "ART-1")] {
        let body = json!({"kind":"receive","sku":sku,"quantity":1,"to":"B-1"});
        assert_eq!(app.book(&manager, key, &body).await.status(), 201);
    }
    let mut events = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !events.contains("ART-1") {
        match tokio::time::timeout_at(deadline, response.chunk()).await {
            Ok(Ok(Some(chunk))) => events.push_str(&String::from_utf8_lossy(&chunk)),
            _ => break,
        }
    }
    assert!(events.contains("ART-1"), "{events}");
    assert!(!events.contains("SECRET"), "{events}");

    // Scanning it uncleared: no such article.
    let response = app
        .post(
            &app.staff,
            "/api/v1/scans",
            &json!({"reads":[{"id":"s-1","kind":"issue","code":"SECRET-1","location":"B-1"}]}),
        )
        .await;
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["results"][0]["status"], 422, "{body}");
    assert!(!body.to_string().contains("restricted"), "{body}");
}

#[tokio::test]
async fn a_scan_batch_applies_each_read_once_in_order_with_its_own_result() {
    let app = web_app().await;
    let batch = json!({"reads": [
        {"id": "b-1", "kind": "receive", "code": "ART-1", "quantity": 2, "location": "A-1"},
        {"id": "b-2", "kind": "issue", "code": "ART-1", "quantity": 5, "location": "A-1"},
        {"id": "b-3", "kind": "receive", "code": "3074257BF7194E4000001A85", "location": "D-1"},
        {"id": "b-4", "kind": "move", "code": "ART-1", "quantity": 1, "from": "A-1", "location": "B-1"},
        {"id": "b-5", "kind": "steal", "code": "ART-1"},
    ]});
    let first: Value = app
        .post(&app.staff, "/api/v1/scans", &batch)
        .await
        .json()
        .await
        .expect("json");
    let statuses: Vec<i64> = first["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["status"].as_i64().expect("status"))
        .collect();
    assert_eq!(statuses, [201, 409, 201, 201, 422], "{first}");
    assert_eq!(first["results"][1]["problem"]["available"], 2);
    assert_eq!(first["results"][2]["movements"][0]["sku"], "TAGGED");
    assert_eq!(app.stock_of("ART-1", "A-1").await, 1);
    assert_eq!(app.stock_of("ART-1", "B-1").await, 1);
    let seqs: Vec<i64> = first["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter_map(|r| r["movements"][0]["seq"].as_i64())
        .collect();
    assert_eq!(seqs, [1, 2, 3], "in the order sent");

    // The same batch again: every read answered as before, nothing booked.
    let again: Value = app
        .post(&app.staff, "/api/v1/scans", &batch)
        .await
        .json()
        .await
        .expect("json");
    for (before, after) in first["results"]
        .as_array()
        .expect("a")
        .iter()
        .zip(again["results"].as_array().expect("b"))
    {
        assert_eq!(before["status"], after["status"]);
        assert_eq!(before["movements"], after["movements"]);
    }
    assert_eq!(again["results"][0]["replayed"], true);
    assert_eq!(app.stock_of("ART-1", "A-1").await, 1);

    // An id reused for another read is refused; an empty batch is 422.
    let reused: Value = app
        .post(&app.staff, "/api/v1/scans", &json!({"reads":[{"id":"b-1","kind":"receive","code":"ART-1","quantity":9,"location":"A-1"}]}))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(reused["results"][0]["status"], 422);
    assert_eq!(
        reused["results"][0]["problem"]["type"],
        "urn:depot-edge:problem:idempotency-key-reused"
    );
    expect_problem(
        app.post(&app.staff, "/api/v1/scans", &json!({"reads": []}))
            .await,
        422,
    )
    .await;
    expect_problem(app.post(&app.auditor, "/api/v1/scans", &batch).await, 403).await;
    app.assert_ledger_consistent().await;
}

#[tokio::test]
async fn a_scan_counts_stock_and_books_a_gtin_without_serial_as_an_amount() {
    let app = web_app().await;
    let batch = json!({"reads": [
        {"id": "g-1", "kind": "receive", "code": "(01)80614141123458", "quantity": 3, "location": "A-1"},
        {"id": "g-2", "kind": "receive", "code": "https://id.gs1.org/01/80614141123458", "quantity": 2, "location": "A-1"},
        {"id": "g-3", "kind": "receive", "code": "(01)04006381333931", "location": "A-1"},
        {"id": "c-1", "kind": "count", "code": "(01)80614141123458", "quantity": 7, "location": "A-1"},
        {"id": "c-2", "kind": "count", "code": "TAGGED", "quantity": 7, "location": "A-1"},
        {"id": "c-3", "kind": "count", "code": "TAGGED", "quantity": 4, "location": "A-1"},
        {"id": "c-4", "kind": "count", "code": "TAGGED", "location": "A-1"},
        {"id": "c-5", "kind": "count", "code": "SECRET-1", "quantity": 0, "location": "B-1"},
        {"id": "c-6", "kind": "count", "code": "ART-1", "quantity": 0, "location": "NOPE"},
        {"id": "c-7", "kind": "count", "code": "3074257BF7194E4000001A85", "quantity": 1, "location": "A-1"},
    ]});
    let first: Value = app
        .post(&app.staff, "/api/v1/scans", &batch)
        .await
        .json()
        .await
        .expect("json");
    let results = first["results"].as_array().expect("results");
    let statuses: Vec<i64> = results
        .iter()
        .map(|r| r["status"].as_i64().expect("status"))
        .collect();
    assert_eq!(
        statuses,
        [201, 201, 422, 201, 201, 201, 422, 422, 422, 422],
        "{first}"
    );
    // A GTIN without serial: an amount of its article, no item.
    let receipt = &results[0]["movements"][0];
    assert_eq!(
        (&receipt["sku"], &receipt["quantity"], &receipt["epcs"]),
        (&json!("TAGGED"), &json!(3), &Value::Null),
        "{receipt}"
    );
    assert_eq!(results[1]["movements"][0]["quantity"], 2);
    let problem = results[2]["problem"].to_string();
    assert!(problem.contains("04006381333931"), "{problem}");
    // A count books the difference as an adjustment, or nothing.
    let more = &results[3]["movements"][0];
    assert_eq!(
        (&more["kind"], &more["quantity"], &more["to"], &more["from"]),
        (&json!("adjust"), &json!(2), &json!("A-1"), &Value::Null),
        "{more}"
    );
    assert_eq!(more["reason"], "count: 7 counted, 5 booked");
    assert_eq!(results[4]["movements"], Value::Null, "the books agree");
    let less = &results[5]["movements"][0];
    assert_eq!(
        (&less["quantity"], &less["from"]),
        (&json!(3), &json!("A-1")),
        "{less}"
    );
    assert_eq!(app.stock_of("TAGGED", "A-1").await, 4);
    assert!(results[6]["problem"].to_string().contains("quantity"));
    let secret = results[7]["problem"].to_string();
    assert!(!secret.contains("estricted"), "{secret}");
    assert!(results[8]["problem"].to_string().contains("NOPE"));
    assert!(results[9]["problem"]["detail"]
        .to_string()
        .contains("count"));

    // Sent again: the same answers, nothing booked, the agreeing count too.
    let again: Value = app
        .post(&app.staff, "/api/v1/scans", &batch)
        .await
        .json()
        .await
        .expect("json");
    for (before, after) in results.iter().zip(again["results"].as_array().expect("b")) {
        assert_eq!(before["status"], after["status"]);
        assert_eq!(before["movements"], after["movements"]);
    }
    assert_eq!(again["results"][4]["replayed"], true);
    assert_eq!(app.stock_of("TAGGED", "A-1").await, 4);

    // The form without JavaScript counts too.
    let staff = log_in(&app, "staff").await;
    let (_, html) = page(&app, &staff, "/scan").await;
    assert!(html.contains(r#"name="kind" value="count""#), "{html}");
    let id = html
        .split(r#"name="id" value=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("read id")
        .to_owned();
    let form = [
        ("id", id.as_str()),
        ("kind", "count"),
        ("code", "(01)80614141123458"),
        ("quantity", "6"),
        ("location", "A-1"),
    ];
    let (status, html) = post_form(&app, &staff, "/scan", &form).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("Booked") && html.contains("Adjust 2 × TAGGED"),
        "{html}"
    );
    let (_, html) = post_form(&app, &staff, "/scan", &form).await;
    assert!(html.contains("Booked"), "a resubmit answers as before");
    assert_eq!(app.stock_of("TAGGED", "A-1").await, 6, "and books once");
    app.assert_ledger_consistent().await;
}

#[tokio::test]
async fn admin_pages_are_for_managers_auditors_read_and_staff_are_kept_out() {
    let app = web_app().await;
    let staff = log_in(&app, "staff").await;
    let auditor = log_in(&app, "auditor").await;
    app.add_user(
        "plain-manager",
        depot_server::domain::access::Role::Manager,
        false,
    )
    .await;
    app.set_password("plain-manager", PASSWORD).await;
    let manager = log_in(&app, "plain-manager").await;
    let post = |session: &Session, form: Vec<(&'static str, String)>| {
        let request = browser()
            .post(app.url("/admin/articles"))
            .header("cookie", session.header())
            .form(&form);
        async move { request.send().await.expect("POST") }
    };
    let article = |session: &Session, sku: &str| {
        vec![
            ("csrf", session.csrf.clone()),
            ("sku", sku.to_owned()),
            ("name", "Tent".to_owned()),
            ("unit", "piece".to_owned()),
            ("classification", "open".to_owned()),
        ]
    };

    let (status, html) = page(&app, &staff, "/admin/articles").await;
    assert_eq!(status, 403, "staff may not open admin pages");
    assert!(!html.contains("article-form"));
    let (_, html) = page(&app, &staff, "/").await;
    assert!(!html.contains("/admin/articles"), "no admin link for staff");
    assert_eq!(post(&staff, article(&staff, "TENT-1")).await.status(), 403);

    let (status, html) = page(&app, &auditor, "/admin/articles").await;
    assert_eq!(status, 200);
    assert!(
        html.contains(">SECRET-1<") && !html.contains("article-form"),
        "auditors read only"
    );
    assert_eq!(
        post(&auditor, article(&auditor, "TENT-1")).await.status(),
        403
    );

    // An uncleared manager keeps open articles through the page too.
    let saved = post(&manager, article(&manager, "TENT-1")).await;
    assert_eq!(saved.status(), 303);
    let (_, html) = page(&app, &manager, "/admin/articles").await;
    assert!(
        html.contains(">TENT-1<") && !html.contains("SECRET"),
        "open only"
    );
    assert!(
        !html.contains(r#"value="restricted""#),
        "no restricted choice uncleared"
    );
    let clash = post(&manager, article(&manager, "SECRET-1")).await;
    assert_eq!(clash.status(), 409);
    let html = clash.text().await.expect("html");
    assert!(
        html.contains("already in use") && !html.contains("SECRET-1<"),
        "names neither"
    );
    let mut forged = article(&manager, "TENT-2");
    forged[0].1 = "forged".into();
    assert_eq!(post(&manager, forged).await.status(), 403, "CSRF");
}

/// The text of the element with this `id` (up to its first child tag's end).
fn by_id(html: &str, id: &str) -> String {
    let at = html
        .find(&format!(r#"id="{id}""#))
        .unwrap_or_else(|| panic!("no #{id} in {html}"));
    let rest = &html[at..];
    let start = rest.find('>').expect("tag end") + 1;
    let end = rest[start..].find('<').expect("text end") + start;
    rest[start..end].to_owned()
}

#[tokio::test]
async fn gates_and_uplink_pages_show_what_their_apis_serve() {
    let app = web_app().await;
    for (key, sku) in [("g-1", "ART-1"), ("g-2", "SECRET-1")] {
        let body = json!({"kind":"receive","sku":sku,"quantity":1,"to":"B-1"});
        assert_eq!(app.book(&app.manager, key, &body).await.status(), 201);
    }
    let manager = log_in(&app, "manager").await;
    let staff = log_in(&app, "staff").await;

    // No gateway is polled in this app: the API's empty list, said in words.
    let api: Value = app
        .get(&app.manager, "/api/v1/gates")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(api["gateways"], json!([]));
    let (status, html) = page(&app, &manager, "/gates").await;
    assert_eq!(status, 200);
    assert!(html.contains(r#"id="no-gateways""#), "{html}");
    assert!(html.contains(r#"id="no-passes""#), "{html}");

    // The uplink: the API's figures, feed off.
    let api: Value = app
        .get(&app.auditor, "/api/v1/uplink")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(api["state"], "off");
    let (status, html) = page(&app, &staff, "/uplink").await;
    assert_eq!(status, 200);
    assert!(html.contains(r#"id="uplink-off""#));
    assert_eq!(by_id(&html, "uplink-last-seq"), api["last_seq"].to_string());
    assert_eq!(
        by_id(&html, "uplink-acked-seq"),
        api["acked_seq"].to_string()
    );
    assert_eq!(
        by_id(&html, "uplink-backlog"),
        api["backlog_movements"].to_string()
    );
    assert_eq!(api["backlog_movements"], 2, "{api}");

    // Linked from the navigation and the start page, in German too.
    let (_, html) = page(&app, &manager, "/").await;
    assert!(html.contains(r#"href="/gates""#) && html.contains(r#"href="/uplink""#));
    assert!(html.contains(r#"id="uplink-backlog-panel""#));
    let german = browser()
        .get(app.url("/gates"))
        .header("cookie", manager.header())
        .header("accept-language", "de-DE")
        .send()
        .await
        .expect("GET");
    let html = german.text().await.expect("html");
    assert!(html.contains("Tore und Gateways") && html.contains(r#"lang="de""#));
}

#[tokio::test]
async fn stock_is_found_by_epc_filtered_by_class_and_paged() {
    let app = web_app().await;
    let staff = log_in(&app, "staff").await;
    let tagged = json!({"kind":"receive","epcs":["3074257BF7194E4000001A85"],"to":"D-1"});
    assert_eq!(app.book(&app.staff, "p-epc", &tagged).await.status(), 201);
    let ammo = json!({"sku":"TENT-3","name":"Tent","unit":"piece","supply_class":"II"});
    assert_eq!(
        app.post(&app.manager, "/api/v1/articles", &ammo)
            .await
            .status(),
        201
    );
    let body = json!({"kind":"receive","sku":"TENT-3","quantity":4,"to":"A-2"});
    assert_eq!(app.book(&app.staff, "p-tent", &body).await.status(), 201);

    // An EPC in hex or as a URI finds its item, and its article's stock.
    for code in [
        "3074257BF7194E4000001A85",
        "urn:epc:id:sgtin:0614141.812345.6789",
    ] {
        let (status, html) = page(&app, &staff, &format!("/stock?q={code}")).await;
        assert_eq!(status, 200);
        assert!(html.contains(r#"id="item-found""#), "{code}: {html}");
        assert!(html.contains(r#"href="/articles/TAGGED""#), "{code}");
        assert!(html.contains(r#"href="/locations/D-1">D-1<"#), "{code}");
    }
    let (_, html) = page(&app, &staff, "/stock?q=3074257BF7194E4000001A86").await;
    assert!(
        !html.contains("item-found") && html.contains("no-stock"),
        "an unknown EPC finds nothing"
    );

    // Supply class: only TENT-3; an unknown class matches nothing.
    let (_, html) = page(&app, &staff, "/stock?supply_class=II").await;
    assert!(
        html.contains(">TENT-3<") && !html.contains(">TAGGED<"),
        "{html}"
    );
    let (_, html) = page(&app, &staff, "/stock?supply_class=XI").await;
    assert!(html.contains("no-stock"));
    let (_, html) = page(&app, &staff, "/stock?classification=open&zone=A").await;
    assert!(html.contains(">TENT-3<") && !html.contains(">TAGGED<"));

    // 105 lines of one lot-tracked article: two pages, 100 and 5.
    for n in 0..105 {
        let body = json!({"kind":"receive","sku":"LOT-1","quantity":1,"to":"B-1","lot":format!("L{n:03}")});
        assert_eq!(
            app.book(&app.staff, &format!("p-lot-{n}"), &body)
                .await
                .status(),
            201
        );
    }
    // Paged by key, forwards and back, by SKU, by location and by search text.
    for first in ["/stock?sku=LOT-1", "/stock?location=B-1", "/stock?q=LOT-"] {
        let (_, html) = page(&app, &staff, first).await;
        assert_eq!(html.matches("<td>L").count(), 100, "{first}");
        assert!(
            html.contains(">L099<") && !html.contains(">L100<") && !html.contains(r#"rel="prev""#),
            "{first}: {html}"
        );
        let next = pager_link(&html, "next").expect("a next page");
        assert!(next.contains("after=LOT-1~B-1~L099&page=2"), "{next}");
        let (_, html) = page(&app, &staff, &next).await;
        assert_eq!(html.matches("<td>L").count(), 5, "{next}");
        assert!(
            html.contains(">L104<") && html.contains(">L100<") && !html.contains(">L099<"),
            "{next}: {html}"
        );
        assert!(html.contains("Page 2"), "{html}");
        assert_eq!(pager_link(&html, "next"), None, "{next}: the last page");
        let previous = pager_link(&html, "prev").expect("a previous page");
        let (_, html) = page(&app, &staff, &previous).await;
        assert_eq!(html.matches("<td>L").count(), 100, "{previous}");
        assert!(html.contains(">L000<") && html.contains(">L099<"));
        assert_eq!(
            pager_link(&html, "prev"),
            None,
            "{previous}: the first page"
        );
        // The page before a key, asked for directly, is the 100 lines before it.
        let (_, html) = page(
            &app,
            &staff,
            &format!("{first}&before=LOT-1~B-1~L104&page=7"),
        )
        .await;
        assert_eq!(html.matches("<td>L").count(), 100);
        assert!(html.contains(">L004<") && html.contains(">L103<") && !html.contains(">L003<"));
        assert!(html.contains("Page 7") && pager_link(&html, "prev").is_some());
    }
}

/// The target of the pager's `rel` link (`next` or `prev`), unescaped.
fn pager_link(html: &str, rel: &str) -> Option<String> {
    let at = html.find(&format!(r#"rel="{rel}""#))?;
    let start = html[..at].rfind(r#"href=""#)? + r#"href=""#.len();
    let end = start + html[start..].find('"')?;
    Some(html[start..end].replace("&amp;", "&"))
}

#[tokio::test]
async fn article_location_and_utilisation_pages() {
    let app = web_app().await;
    let auditor = log_in(&app, "auditor").await;
    for (key, body) in [
        (
            "a-1",
            json!({"kind":"receive","sku":"ART-1","quantity":5,"to":"A-1"}),
        ),
        (
            "a-2",
            json!({"kind":"move","sku":"ART-1","quantity":2,"from":"A-1","to":"A-2"}),
        ),
        (
            "a-3",
            json!({"kind":"receive","epcs":["3074257BF7194E4000001A85"],"to":"D-1"}),
        ),
    ] {
        assert_eq!(app.book(&app.manager, key, &body).await.status(), 201);
    }
    let (status, html) = page(&app, &auditor, "/articles/ART-1").await;
    assert_eq!(status, 200);
    assert!(html.contains(r#"id="article-total">5<"#), "{html}");
    assert!(html.contains(r#"href="/locations/A-2">A-2<"#));
    assert!(
        html.contains(r#"id="m-2""#) && html.contains(r#"id="m-1""#),
        "its movements"
    );
    assert!(!html.contains(r#"id="m-3""#), "not another article's");
    let (_, html) = page(&app, &auditor, "/articles/TAGGED").await;
    assert!(
        html.contains("urn:epc:id:sgtin:0614141.812345.6789"),
        "its items"
    );
    let (status, _) = page(&app, &auditor, "/articles/NOPE").await;
    assert_eq!(status, 404);

    // A-1: 3 × 1 l of 10 l.
    let (status, html) = page(&app, &auditor, "/locations/A-1").await;
    assert_eq!(status, 200);
    assert!(
        html.contains(r#"value="300""#) && html.contains("30 %"),
        "{html}"
    );
    assert!(html.contains(r#"href="/articles/ART-1">ART-1<"#));
    let (status, _) = page(&app, &auditor, "/locations/NOPE").await;
    assert_eq!(status, 404);

    // Zone A: 5 l of 20 l; its locations only when narrowed to it.
    let (_, html) = page(&app, &auditor, "/utilisation").await;
    assert!(
        html.contains(r#"href="/utilisation?zone=A">A<"#) && html.contains("25 %"),
        "{html}"
    );
    assert!(html.contains(">B-1<"));
    let (_, html) = page(&app, &auditor, "/utilisation?zone=A").await;
    assert!(html.contains(">A-2<") && !html.contains(">B-1<"));
}

/// A form POST with a session cookie.
async fn post_form(
    app: &TestApp,
    session: &Session,
    path: &str,
    form: &[(&str, &str)],
) -> (u16, String) {
    let mut fields = vec![("csrf", session.csrf.as_str())];
    fields.extend_from_slice(form);
    let response = browser()
        .post(app.url(path))
        .header("cookie", session.header())
        .form(&fields)
        .send()
        .await
        .expect("POST");
    let status = response.status().as_u16();
    (status, response.text().await.expect("html"))
}

#[tokio::test]
async fn managers_keep_locations_auditors_read_them_staff_are_kept_out() {
    let app = web_app().await;
    let manager = log_in(&app, "manager").await;
    let auditor = log_in(&app, "auditor").await;
    let staff = log_in(&app, "staff").await;
    let location = [
        ("code", "C-9"),
        ("zone", "C"),
        ("kind", "bin"),
        ("capacity_volume_l", "5"),
    ];

    let (status, _) = post_form(&app, &manager, "/admin/locations", &location).await;
    assert_eq!(status, 303);
    let api: Value = app
        .get(&app.auditor, "/api/v1/locations/C-9")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        (api["zone"].as_str(), api["capacity_volume_l"].as_i64()),
        (Some("C"), Some(5)),
        "{api}"
    );
    let bad = [
        ("code", "C-10"),
        ("zone", "C"),
        ("kind", "bin"),
        ("capacity_volume_l", "five"),
    ];
    let (status, html) = post_form(&app, &manager, "/admin/locations", &bad).await;
    assert_eq!(status, 422);
    assert!(
        html.contains("capacity_volume_l: 'five' is not a whole number"),
        "{html}"
    );
    let bad = [("code", "C-10"), ("zone", "C"), ("kind", "cellar")];
    let (status, _) = post_form(&app, &manager, "/admin/locations", &bad).await;
    assert_eq!(status, 422);
    expect_problem(app.get(&app.auditor, "/api/v1/locations/C-10").await, 404).await;

    let (status, html) = page(&app, &auditor, "/admin/locations").await;
    assert_eq!(status, 200);
    assert!(
        html.contains(">C-9<") && !html.contains("location-form"),
        "auditors read only"
    );
    let (status, _) = post_form(&app, &auditor, "/admin/locations", &location).await;
    assert_eq!(status, 403);
    let (status, _) = page(&app, &staff, "/admin/locations").await;
    assert_eq!(status, 403);
    let (status, _) = post_form(&app, &staff, "/admin/locations", &location).await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn managers_add_and_revoke_users_clearance_only_from_the_cleared() {
    let app = web_app().await;
    let manager = log_in(&app, "manager").await;
    app.add_user(
        "plain-manager",
        depot_server::domain::access::Role::Manager,
        false,
    )
    .await;
    app.set_password("plain-manager", PASSWORD).await;
    let plain = log_in(&app, "plain-manager").await;
    let auditor = log_in(&app, "auditor").await;
    let staff = log_in(&app, "staff").await;

    // A new user with a password: the page shows its token once, both work.
    let user = [
        ("name", "picker-7"),
        ("role", "staff"),
        ("password", PASSWORD),
    ];
    let (status, html) = post_form(&app, &manager, "/admin/users", &user).await;
    assert_eq!(status, 201, "{html}");
    assert!(!html.contains(PASSWORD), "the password is never echoed");
    let token = by_id(&html, "new-token");
    assert_eq!(app.get(&token, "/api/v1/stock").await.status(), 200);
    let picker = log_in(&app, "picker-7").await;
    let (status, _) = page(&app, &picker, "/scan").await;
    assert_eq!(status, 200);

    // A short password or a bad name writes nothing.
    for (name, password) in [("picker-8", "short"), ("bad name", PASSWORD)] {
        let form = [("name", name), ("role", "staff"), ("password", password)];
        let (status, _) = post_form(&app, &manager, "/admin/users", &form).await;
        assert_eq!(status, 422, "{name}");
    }
    let (_, html) = page(&app, &auditor, "/admin/users").await;
    assert!(
        html.contains(">picker-7<") && !html.contains("picker-8"),
        "{html}"
    );
    assert!(
        !html.contains("user-form") && !html.contains("/admin/users/revoke"),
        "auditors read only"
    );

    // Clearance: not offered to, and refused from, an uncleared manager.
    let (_, html) = page(&app, &plain, "/admin/users").await;
    assert!(html.contains("user-form") && !html.contains(r#"name="restricted""#));
    let forged = [
        ("name", "spy"),
        ("role", "staff"),
        ("password", PASSWORD),
        ("restricted", "on"),
    ];
    let (status, _) = post_form(&app, &plain, "/admin/users", &forged).await;
    assert_eq!(status, 403);
    let (status, _) = post_form(&app, &manager, "/admin/users", &forged).await;
    assert_eq!(status, 201, "a cleared manager grants it");

    // Revoking ends the token and the session; one's own is refused.
    let (status, _) = post_form(
        &app,
        &manager,
        "/admin/users/revoke",
        &[("name", "picker-7")],
    )
    .await;
    assert_eq!(status, 303);
    assert_eq!(app.get(&token, "/api/v1/stock").await.status(), 401);
    let (status, _) = page(&app, &picker, "/scan").await;
    assert_eq!(status, 303, "sent to the login");
    let (status, _) = post_form(
        &app,
        &manager,
        "/admin/users/revoke",
        &[("name", "manager")],
    )
    .await;
    assert_eq!(status, 409);

    // Staff and auditors change nothing; a forged CSRF token changes nothing.
    for session in [&staff, &auditor] {
        let (status, _) = post_form(&app, session, "/admin/users", &user).await;
        assert_eq!(status, 403);
        let (status, _) = post_form(&app, session, "/admin/users/revoke", &[("name", "spy")]).await;
        assert_eq!(status, 403);
    }
    let (status, _) = page(&app, &staff, "/admin/users").await;
    assert_eq!(status, 403);
    let response = browser()
        .post(app.url("/admin/users/revoke"))
        .header("cookie", manager.header())
        .form(&[("csrf", "forged"), ("name", "spy")])
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 403);
    assert_eq!(app.get(&app.manager, "/api/v1/stock").await.status(), 200);
}
