//! The hub's web page, `/metrics`, `/healthz` and the OpenAPI document over
//! real HTTP, against a real Mosquitto, the real hub binary and a real
//! depot-server publishing its feed: login with a token, the depots'
//! freshness and capacity bars, the article search with the clearance rule,
//! and the live region by Server-Sent Events.

mod support;

use std::time::{Duration, Instant};

use reqwest::redirect::Policy;
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use support::{eventually, hub_command, start_hub, wait_subscribed};

/// Logs in at the page with `token`; returns the session cookie.
async fn login(client: &Client, hub: &str, token: &str) -> String {
    let response = client
        .post(format!("{hub}/login"))
        .form(&[("token", token)])
        .send()
        .await
        .expect("login");
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()["location"], "/");
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    cookie.split(';').next().expect("pair").to_owned()
}

async fn page(client: &Client, url: &str, cookie: &str) -> (StatusCode, String) {
    let response = client
        .get(url)
        .header("cookie", cookie)
        .send()
        .await
        .expect("page");
    let status = response.status();
    (status, response.text().await.expect("text"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_shows_the_region_live_and_keeps_restricted_stock_from_the_uncleared() {
    let broker = support::Broker::start();
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("hub.db");
    let db = db.to_str().expect("utf-8");
    let cell = hub_command(
        &["user", "add", "cell", "--role", "hub", "--restricted"],
        db,
    );
    let civil = hub_command(&["user", "add", "civil", "--role", "hub"], db);
    let (_hub_process, hub) = start_hub(db, &broker.url(), &[("HUB_MQTT_CLIENT_ID", "hub-page")]);
    let client = Client::builder()
        .redirect(Policy::none())
        .build()
        .expect("client");
    wait_subscribed(&client, &hub).await;

    let depot = support::Depot::start("north-1", &broker.url()).await;
    let response = client
        .post(format!("{}/api/v1/articles", depot.url))
        .bearer_auth(&depot.token)
        .json(&json!({"sku":"SECRET-1","name":"Restricted thing","unit":"box","classification":"restricted"}))
        .send()
        .await
        .expect("article");
    assert_eq!(response.status(), 201);
    depot.book(&client, "open-1", 7).await;
    let response = client
        .post(format!("{}/api/v1/movements", depot.url))
        .bearer_auth(&depot.token)
        .header("Idempotency-Key", "secret-1")
        .json(&json!({"kind":"receive","sku":"SECRET-1","quantity":3,"to":"B-1"}))
        .send()
        .await
        .expect("book");
    assert_eq!(response.status(), 201);

    // Without a session the page sends to the login form; a wrong token is 401.
    let response = client.get(format!("{hub}/")).send().await.expect("get");
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()["location"], "/login");
    let csp = response.headers()["content-security-policy"]
        .to_str()
        .expect("csp");
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"));
    let (status, form) = page(&client, &format!("{hub}/login"), "").await;
    assert_eq!(status, 200);
    assert!(form.contains(r#"name="token""#), "{form}");
    let response = client
        .post(format!("{hub}/login"))
        .header("accept-language", "de-DE,de;q=0.9")
        .form(&[("token", "hub_wrong")])
        .send()
        .await
        .expect("login");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(response
        .text()
        .await
        .expect("text")
        .contains("Dieses Token ist nicht gültig."));

    let cleared = login(&client, &hub, &cell).await;
    let uncleared = login(&client, &hub, &civil).await;
    // The depots table: north-1 online, its seqs applied, no gaps; capacity with a bar.
    let html = eventually("north-1 on the page", || async {
        let (status, html) = page(&client, &format!("{hub}/"), &cleared).await;
        assert_eq!(status, 200);
        (html.contains(r#"id="depot-north-1""#)
            && html.contains(r#"id="capacity-north-1""#)
            && html.contains("<meter"))
        .then_some(html)
    })
    .await;
    assert!(html.contains("online"), "{html}");
    assert!(html.contains(r#"id="live-region""#), "{html}");
    assert!(!html.contains("<script>"), "no inline script: {html}");

    // The search: the cleared cell finds the restricted article, the other does not.
    let search = |cookie: String, sku: &'static str| {
        let (client, hub) = (client.clone(), hub.clone());
        async move {
            page(&client, &format!("{hub}/?by=sku&q={sku}"), &cookie)
                .await
                .1
        }
    };
    eventually("SECRET-1 for the cleared cell", || async {
        let html = search(cleared.clone(), "SECRET-1").await;
        html.contains(r#"<td class="num" id="search-total">3</td>"#)
            .then_some(())
    })
    .await;
    let html = search(uncleared.clone(), "SECRET-1").await;
    assert!(html.contains(r#"id="search-none""#), "{html}");
    assert!(!html.contains("Restricted thing"), "{html}");
    let html = search(uncleared.clone(), "ART-1").await;
    assert!(
        html.contains(r#"<td class="num" id="search-total">7</td>"#),
        "{html}"
    );

    // The live region: the first event at once, the next when a booking arrives.
    let mut live = client
        .get(format!("{hub}/live"))
        .header("cookie", &uncleared)
        .send()
        .await
        .expect("live");
    assert_eq!(live.status(), 200);
    assert_eq!(live.headers()["content-type"], "text/event-stream");
    let seq = depot.book(&client, "open-2", 1).await;
    let wanted = format!(r#"<td class="num">{seq}</td>"#);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = String::new();
    while !seen.contains(&wanted) {
        assert!(
            Instant::now() < deadline,
            "no live event with seq {seq}: {seen}"
        );
        let chunk = tokio::time::timeout(Duration::from_secs(30), live.chunk())
            .await
            .expect("an event in time")
            .expect("stream")
            .expect("open stream");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.starts_with("event: region"), "{seen}");

    // Logout ends the session.
    let response = client
        .post(format!("{hub}/logout"))
        .header("cookie", &uncleared)
        .send()
        .await
        .expect("logout");
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let response = client
        .get(format!("{hub}/"))
        .header("cookie", &uncleared)
        .send()
        .await
        .expect("get");
    assert_eq!(response.status(), StatusCode::SEE_OTHER);

    // Metrics, health and the OpenAPI document.
    let metrics = client
        .get(format!("{hub}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    for line in [
        "hub_feed_connected 1",
        "hub_depot_online{depot=\"north-1\"} 1",
        "hub_depot_missing_seqs{depot=\"north-1\"} 0",
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
    assert!(metrics.contains("hub_feed_messages_total{outcome=\"applied\"}"));
    let health: Value = client
        .get(format!("{hub}/healthz"))
        .send()
        .await
        .expect("healthz")
        .json()
        .await
        .expect("json");
    assert_eq!(health["status"], "ok", "{health}");
    let openapi: Value = client
        .get(format!("{hub}/api/v1/openapi.json"))
        .send()
        .await
        .expect("openapi")
        .json()
        .await
        .expect("json");
    assert_eq!(openapi["openapi"], "3.1.0");
    for path in [
        "/healthz",
        "/metrics",
        "/api/v1/depots",
        "/api/v1/stock",
        "/api/v1/capacity",
        "/api/v1/openapi.json",
    ] {
        assert!(openapi["paths"][path].is_object(), "{path} documented");
        // And served: nothing documented is missing from the router.
        let status = client
            .get(format!("{hub}{path}"))
            .bearer_auth(&cell)
            .send()
            .await
            .expect("get")
            .status();
        assert_ne!(status, StatusCode::NOT_FOUND, "{path}");
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{path}");
    }
    depot.stop().await;
}
