//! Every error status the API answers, always as problem+json, never a 500.

use serde_json::{json, Value};

use crate::helpers::{expect_problem, spawn_app};

#[tokio::test]
async fn no_or_bad_token_is_401() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/api/v1/stock"))
        .send()
        .await
        .unwrap();
    expect_problem(response, 401).await;
    expect_problem(app.get("dpt_0000", "/api/v1/stock").await, 401).await;
    let basic = app
        .client
        .get(app.url("/api/v1/stock"))
        .header("Authorization", "Basic eDp5")
        .send()
        .await
        .unwrap();
    expect_problem(basic, 401).await;
}

#[tokio::test]
async fn roles_are_403() {
    let app = spawn_app().await;
    let booking = json!({"kind":"receive","sku":"ART-1","quantity":1,"to":"B-1"});
    expect_problem(app.book(&app.auditor, "a", &booking).await, 403).await;
    let article = json!({"sku":"NEW-1","name":"New","unit":"piece"});
    expect_problem(
        app.post(&app.staff, "/api/v1/articles", &article).await,
        403,
    )
    .await;
    expect_problem(
        app.put(
            &app.auditor,
            "/api/v1/locations/X-1",
            &json!({"zone":"X","kind":"bin"}),
        )
        .await,
        403,
    )
    .await;
}

/// A role that may not act gets 403 whatever it sent: the role is checked
/// before the body is looked at, so an existing SKU, a bad body or a wrong
/// media type tells it nothing.
#[tokio::test]
async fn the_role_is_checked_before_the_body() {
    let app = spawn_app().await;
    let existing = json!({"sku":"ART-1","name":"Article one","unit":"piece"});
    let new = json!({"sku":"NEW-2","name":"New","unit":"piece"});
    let invalid = json!({"sku":"bad sku","unit":"litre"});
    for body in [&existing, &new, &invalid] {
        expect_problem(app.post(&app.staff, "/api/v1/articles", body).await, 403).await;
        expect_problem(
            app.put(&app.staff, "/api/v1/articles/ART-1", body).await,
            403,
        )
        .await;
    }
    let not_json = app
        .client
        .post(app.url("/api/v1/locations"))
        .bearer_auth(&app.staff)
        .header("Content-Type", "text/plain")
        .body("code=A-1")
        .send()
        .await
        .unwrap();
    expect_problem(not_json, 403).await;
    let broken = app
        .client
        .post(app.url("/api/v1/movements"))
        .bearer_auth(&app.auditor)
        .header("Content-Type", "application/json")
        .body("{\"kind\":")
        .send()
        .await
        .unwrap();
    expect_problem(broken, 403).await;
    for path in [
        "/api/v1/deliveries",
        "/api/v1/gates/passes/1/resolution",
        "/api/v1/scans",
    ] {
        let body = json!({"unknown": true});
        let who = if path == "/api/v1/scans" {
            &app.auditor
        } else {
            &app.staff
        };
        expect_problem(app.post(who, path, &body).await, 403).await;
    }
    assert_eq!(
        app.get(&app.manager, "/api/v1/articles/NEW-2")
            .await
            .status(),
        404,
        "nothing was created"
    );
}

#[tokio::test]
async fn malformed_json_is_400_and_wrong_shape_is_422() {
    let app = spawn_app().await;
    let send = |body: &'static str| {
        app.client
            .post(app.url("/api/v1/movements"))
            .bearer_auth(&app.staff)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
    };
    expect_problem(send(r#"{"kind":"receive","#).await.unwrap(), 400).await;
    expect_problem(send("not json").await.unwrap(), 400).await;
    expect_problem(
        send(r#"{"kind":"receive","sku":"ART-1","quantity":"5","to":"B-1"}"#)
            .await
            .unwrap(),
        422,
    )
    .await;
    expect_problem(
        send(r#"{"kind":"receive","sku":"ART-1","quantity":5,"to":"B-1","colour":"red"}"#)
            .await
            .unwrap(),
        422,
    )
    .await;
    expect_problem(
        send(r#"{"kind":"receive","sku":"ART-1","quantity":1.5,"to":"B-1"}"#)
            .await
            .unwrap(),
        422,
    )
    .await;
    expect_problem(
        send(r#"{"kind":"receive","sku":"ART-1","quantity":9223372036854775808,"to":"B-1"}"#)
            .await
            .unwrap(),
        422,
    )
    .await;
}

#[tokio::test]
async fn invalid_fields_are_422_with_every_failing_field() {
    let app = spawn_app().await;
    let problem = expect_problem(
        app.post(
            &app.staff,
            "/api/v1/movements",
            &json!({"kind":"steal","sku":"bad sku","quantity":-3,"to":"B-1"}),
        )
        .await,
        422,
    )
    .await;
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, vec!["kind", "sku", "quantity"]);
    for quantity in [0, -1] {
        let body = json!({"kind":"receive","sku":"ART-1","quantity":quantity,"to":"B-1"});
        expect_problem(app.post(&app.staff, "/api/v1/movements", &body).await, 422).await;
    }
    let unknown_sku = expect_problem(
        app.post(
            &app.staff,
            "/api/v1/movements",
            &json!({"kind":"receive","sku":"NOPE","quantity":1,"to":"B-1"}),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(unknown_sku["errors"][0]["field"], "sku");
    let unknown_location = expect_problem(
        app.post(
            &app.staff,
            "/api/v1/movements",
            &json!({"kind":"receive","sku":"ART-1","quantity":1,"to":"Z-9"}),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(unknown_location["errors"][0]["field"], "to");
    let bad_gtin = expect_problem(
        app.post(
            &app.manager,
            "/api/v1/articles",
            &json!({"sku":"G-1","name":"G","unit":"piece","gtin":"4006381333932"}),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(bad_gtin["errors"][0]["field"], "gtin");
    assert!(bad_gtin["errors"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("check digit"));
    expect_problem(app.get(&app.staff, "/api/v1/movements?limit=0").await, 422).await;
}

#[tokio::test]
async fn handheld_bookings_need_an_idempotency_key() {
    let app = spawn_app().await;
    let body = json!({"kind":"receive","sku":"ART-1","quantity":1,"to":"B-1","source":"handheld"});
    let problem = expect_problem(app.post(&app.staff, "/api/v1/movements", &body).await, 422).await;
    assert_eq!(problem["errors"][0]["field"], "Idempotency-Key");
    let long_key = "k".repeat(129);
    expect_problem(app.book(&app.staff, &long_key, &body).await, 400).await;
}

#[tokio::test]
async fn a_two_megabyte_body_is_413() {
    let app = spawn_app().await;
    let huge = format!(
        r#"{{"kind":"receive","sku":"ART-1","quantity":1,"to":"B-1","reason":"{}"}}"#,
        "x".repeat(2 * 1024 * 1024)
    );
    let response = app
        .client
        .post(app.url("/api/v1/movements"))
        .bearer_auth(&app.staff)
        .header("Content-Type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    let problem = expect_problem(response, 413).await;
    assert_eq!(problem["limit_bytes"], 1024 * 1024);
    assert_eq!(app.stock_of("ART-1", "B-1").await, 0);
}

#[tokio::test]
async fn a_body_that_is_not_json_is_415() {
    let app = spawn_app().await;
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        None,
    ] {
        let mut request = app
            .client
            .post(app.url("/api/v1/movements"))
            .bearer_auth(&app.staff)
            .body(r#"{"kind":"receive"}"#);
        if let Some(content_type) = content_type {
            request = request.header("Content-Type", content_type);
        }
        expect_problem(request.send().await.unwrap(), 415).await;
    }
}

#[tokio::test]
async fn unknown_paths_and_methods_are_problems_too() {
    let app = spawn_app().await;
    expect_problem(app.get(&app.staff, "/api/v1/nothing-here").await, 404).await;
    let delete = app
        .client
        .delete(app.url("/api/v1/stock"))
        .bearer_auth(&app.staff)
        .send()
        .await
        .unwrap();
    expect_problem(delete, 405).await;
    let bad_query = app.get(&app.staff, "/api/v1/movements?after_seq=abc").await;
    expect_problem(bad_query, 400).await;
}

#[tokio::test]
async fn a_full_disk_is_503_and_writes_nothing() {
    let app = spawn_app().await;
    app.book(
        &app.staff,
        "before",
        &json!({"kind":"receive","sku":"ART-1","quantity":1,"to":"B-1"}),
    )
    .await;
    // Fill the file system the database lives on: a database capped at its
    // current size behaves as a full disk does (SQLITE_FULL).
    let pool = depot_server::store::open_pool(&app.db, &Default::default())
        .await
        .unwrap();
    let pages: i64 = sqlx::query_scalar("PRAGMA page_count")
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    let mut capped = app.restart_with_page_cap(pages).await;
    let mut saw_503 = false;
    for i in 0..400 {
        let reason = "r".repeat(400);
        let response = capped
            .book(
                &capped.staff,
                &format!("full-{i}"),
                &json!({"kind":"adjust","sku":"ART-1","quantity":1,"to":"B-1","reason":reason}),
            )
            .await;
        match response.status().as_u16() {
            201 => continue,
            503 => {
                let problem: Value = response.json().await.unwrap();
                assert_eq!(
                    problem["type"],
                    "urn:depot-edge:problem:storage-unavailable"
                );
                saw_503 = true;
                break;
            }
            other => panic!(
                "unexpected status {other}: {}",
                response.text().await.unwrap_or_default()
            ),
        }
    }
    assert!(saw_503, "the capped database never filled");
    // An operator's probe sees it too: not ok, with a status it can act on.
    let health = capped
        .client
        .get(capped.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 503);
    let health: Value = health.json().await.unwrap();
    assert_eq!(health["status"], "failing", "{health}");
    assert_eq!(health["database"], "full", "{health}");
    assert!(health["max_db_size_kib"].as_u64().is_some(), "{health}");
    let metrics = capped
        .client
        .get(capped.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !metrics.contains("depot_storage_errors_total 0"),
        "the failed commit is counted: {metrics}"
    );
    capped.shutdown().await;
    capped.assert_ledger_consistent().await;
}
