//! Bookings: idempotency, concurrency, EPCs, the ledger invariant.

use serde_json::{json, Value};

use crate::helpers::{expect_problem, spawn_app, spawn_app_with};

#[tokio::test]
async fn receive_then_issue_books_movements_with_gapless_seq() {
    let app = spawn_app().await;
    let receive = app
        .book(
            &app.staff,
            "r1",
            &json!({"kind":"receive","sku":"ART-1","quantity":5,"to":"A-1"}),
        )
        .await;
    assert_eq!(receive.status(), 201);
    let body: Value = receive.json().await.unwrap();
    assert_eq!(body["movements"][0]["seq"], 1);
    assert_eq!(body["movements"][0]["source"], "handheld");
    let issue = app
        .book(
            &app.staff,
            "i1",
            &json!({"kind":"issue","sku":"ART-1","quantity":2,"from":"A-1"}),
        )
        .await;
    let body: Value = issue.json().await.unwrap();
    assert_eq!(body["movements"][0]["seq"], 2);
    assert_eq!(app.stock_of("ART-1", "A-1").await, 3);
    let moved = app
        .book(
            &app.staff,
            "m1",
            &json!({"kind":"move","sku":"ART-1","quantity":3,"from":"A-1","to":"B-1"}),
        )
        .await;
    assert_eq!(moved.status(), 201);
    assert_eq!(app.stock_of("ART-1", "A-1").await, 0);
    assert_eq!(app.stock_of("ART-1", "B-1").await, 3);
    let ledger: Value = app
        .get(&app.auditor, "/api/v1/movements?after_seq=1&limit=10")
        .await
        .json()
        .await
        .unwrap();
    let seqs: Vec<i64> = ledger["movements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, vec![2, 3]);
    app.assert_ledger_consistent().await;
}

#[tokio::test]
async fn a_retried_request_books_once_even_across_a_restart() {
    let app = spawn_app().await;
    let body = json!({"kind":"receive","sku":"ART-1","quantity":4,"to":"B-1"});
    let first = app.book(&app.staff, "retry-1", &body).await;
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    // The same body, serialised differently (key order, spacing), is the same request.
    let again = app
        .client
        .post(app.url("/api/v1/movements"))
        .bearer_auth(&app.staff)
        .header("Idempotency-Key", "retry-1")
        .header("Content-Type", "application/json")
        .body(r#"{ "to": "B-1", "quantity": 4, "sku": "ART-1", "kind": "receive" }"#)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers().get("idempotency-replayed").unwrap(), "true");
    assert_eq!(again.json::<Value>().await.unwrap(), first);
    assert_eq!(app.stock_of("ART-1", "B-1").await, 4);

    let app = app.restart().await;
    let after_restart = app.book(&app.staff, "retry-1", &body).await;
    assert_eq!(after_restart.status(), 201);
    assert_eq!(after_restart.json::<Value>().await.unwrap(), first);
    assert_eq!(app.stock_of("ART-1", "B-1").await, 4);

    let other_body = json!({"kind":"receive","sku":"ART-1","quantity":5,"to":"B-1"});
    let reused = app.book(&app.staff, "retry-1", &other_body).await;
    let problem = expect_problem(reused, 422).await;
    assert_eq!(
        problem["type"],
        "urn:depot-edge:problem:idempotency-key-reused"
    );
    assert_eq!(app.stock_of("ART-1", "B-1").await, 4);
    app.assert_ledger_consistent().await;
}

/// Idempotency records expire after the retention period (30 days by
/// default); a retry after that is a new booking.
#[tokio::test]
async fn an_expired_idempotency_key_books_anew() {
    let app = spawn_app().await;
    let body = json!({"kind":"receive","sku":"ART-1","quantity":2,"to":"B-1"});
    assert_eq!(app.book(&app.staff, "old-key", &body).await.status(), 201);
    let replay = app.book(&app.staff, "old-key", &body).await;
    assert_eq!(
        replay.headers().get("idempotency-replayed").unwrap(),
        "true"
    );
    let mut app = app.restart().await;
    app.shutdown().await;
    // 31 days later, as the clock sees it.
    let pool = depot_server::store::open_pool(&app.db, &Default::default())
        .await
        .unwrap();
    let aged = sqlx::query(
        "UPDATE idempotency_records SET created_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-31 days')",
    )
    .execute(&pool)
    .await
    .unwrap();
    assert_eq!(aged.rows_affected(), 1);
    pool.close().await;
    let app = app.restart().await;
    let after = app.book(&app.staff, "old-key", &body).await;
    assert_eq!(after.status(), 201);
    assert!(after.headers().get("idempotency-replayed").is_none());
    assert_eq!(
        app.stock_of("ART-1", "B-1").await,
        4,
        "booked a second time"
    );
    let again = app.book(&app.staff, "old-key", &body).await;
    assert_eq!(again.headers().get("idempotency-replayed").unwrap(), "true");
    assert_eq!(app.stock_of("ART-1", "B-1").await, 4);
}

#[tokio::test]
async fn a_refused_booking_is_replayed_as_refused() {
    let app = spawn_app().await;
    let body = json!({"kind":"issue","sku":"ART-1","quantity":1,"from":"B-1"});
    let first = expect_problem(app.book(&app.staff, "k-409", &body).await, 409).await;
    app.book(
        &app.staff,
        "fill",
        &json!({"kind":"receive","sku":"ART-1","quantity":1,"to":"B-1"}),
    )
    .await;
    let again = expect_problem(app.book(&app.staff, "k-409", &body).await, 409).await;
    assert_eq!(first, again);
    assert_eq!(app.stock_of("ART-1", "B-1").await, 1);
}

#[tokio::test]
async fn fifty_handhelds_issue_the_last_ten_units_at_once() {
    let app = spawn_app().await;
    let stocked = app
        .book(
            &app.staff,
            "stock",
            &json!({"kind":"receive","sku":"ART-1","quantity":10,"to":"B-1"}),
        )
        .await;
    assert_eq!(stocked.status(), 201);
    let mut tasks = Vec::new();
    for i in 0..50 {
        let client = app.client.clone();
        let url = app.url("/api/v1/movements");
        let token = app.staff.clone();
        tasks.push(tokio::spawn(async move {
            let response = client
                .post(url)
                .bearer_auth(token)
                .header("Idempotency-Key", format!("issue-{i}"))
                .json(&json!({"kind":"issue","sku":"ART-1","quantity":1,"from":"B-1"}))
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        }));
    }
    let mut created = 0;
    let mut conflicts = 0;
    for task in tasks {
        match task.await.unwrap() {
            (201, _) => created += 1,
            (409, problem) => {
                conflicts += 1;
                assert_eq!(problem["available"], 0);
                assert_eq!(problem["requested"], 1);
            }
            (status, body) => panic!("unexpected {status}: {body}"),
        }
    }
    assert_eq!((created, conflicts), (10, 40));
    assert_eq!(app.stock_of("ART-1", "B-1").await, 0);
    app.assert_ledger_consistent().await;
}

#[tokio::test]
async fn conflicts_carry_their_figures() {
    let app = spawn_app().await;
    app.book(
        &app.staff,
        "a",
        &json!({"kind":"receive","sku":"ART-1","quantity":3,"to":"B-1"}),
    )
    .await;
    let problem = expect_problem(
        app.book(
            &app.staff,
            "b",
            &json!({"kind":"issue","sku":"ART-1","quantity":5,"from":"B-1"}),
        )
        .await,
        409,
    )
    .await;
    assert_eq!(
        (problem["available"].as_i64(), problem["requested"].as_i64()),
        (Some(3), Some(5))
    );
    assert_eq!(problem["type"], "urn:depot-edge:problem:insufficient-stock");
    // A-1 holds 10 l; ART-1 is 1 l a piece.
    let problem = expect_problem(
        app.book(
            &app.staff,
            "c",
            &json!({"kind":"receive","sku":"ART-1","quantity":11,"to":"A-1"}),
        )
        .await,
        409,
    )
    .await;
    assert_eq!(problem["type"], "urn:depot-edge:problem:capacity-exceeded");
    assert_eq!(
        (problem["capacity"].as_i64(), problem["free"].as_i64()),
        (Some(10_000), Some(10_000))
    );
    assert_eq!(app.stock_of("ART-1", "A-1").await, 0);
}

#[tokio::test]
async fn lots_and_adjustments() {
    let app = spawn_app().await;
    expect_problem(
        app.book(
            &app.staff,
            "1",
            &json!({"kind":"receive","sku":"LOT-1","quantity":3,"to":"B-1"}),
        )
        .await,
        422,
    )
    .await;
    let ok = app
        .book(
            &app.staff,
            "2",
            &json!({"kind":"receive","sku":"LOT-1","quantity":3,"to":"B-1","lot":"L7"}),
        )
        .await;
    assert_eq!(ok.status(), 201);
    expect_problem(
        app.book(
            &app.staff,
            "3",
            &json!({"kind":"adjust","sku":"LOT-1","quantity":1,"from":"B-1","lot":"L7"}),
        )
        .await,
        422,
    )
    .await;
    let adjusted = app
        .book(&app.staff, "4", &json!({"kind":"adjust","sku":"LOT-1","quantity":1,"from":"B-1","lot":"L7","reason":"count: one box damaged"}))
        .await;
    assert_eq!(adjusted.status(), 201);
    let stock: Value = app
        .get(&app.staff, "/api/v1/stock?sku=LOT-1")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        stock["items"],
        json!([{"sku":"LOT-1","location":"B-1","zone":"B","lot":"L7","quantity":2}])
    );
    app.assert_ledger_consistent().await;
}

#[tokio::test]
async fn items_are_booked_by_epc_in_any_notation() {
    let app = spawn_app().await;
    let hex = "3074257BF7194E4000001A85";
    let received = app.book(&app.staff, "e1", &json!({"kind":"receive","epcs":[hex, "urn:epc:tag:sgtin-96:3.0614141.812345.6790"],"to":"D-1"})).await;
    assert_eq!(received.status(), 201);
    let body: Value = received.json().await.unwrap();
    assert_eq!(body["movements"][0]["sku"], "TAGGED");
    assert_eq!(body["movements"][0]["quantity"], 2);
    let item: Value = app
        .get(&app.staff, &format!("/api/v1/items/{hex}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(item["epc"], "urn:epc:id:sgtin:0614141.812345.6789");
    assert_eq!(item["location"], "D-1");
    assert_eq!(item["state"], "stored");
    let by_uri = app
        .get(
            &app.staff,
            "/api/v1/items/urn:epc:id:sgtin:0614141.812345.6789",
        )
        .await;
    assert_eq!(by_uri.status(), 200);

    let again = expect_problem(
        app.book(
            &app.staff,
            "e2",
            &json!({"kind":"receive","epcs":[hex],"to":"B-1"}),
        )
        .await,
        409,
    )
    .await;
    assert_eq!(
        again["type"],
        "urn:depot-edge:problem:item-already-in-stock"
    );
    // An issue takes the item from wherever it lies.
    let issued = app
        .book(&app.staff, "e3", &json!({"kind":"issue","epcs":[hex]}))
        .await;
    assert_eq!(issued.status(), 201);
    let body: Value = issued.json().await.unwrap();
    assert_eq!(body["movements"][0]["from"], "D-1");
    let item: Value = app
        .get(&app.staff, &format!("/api/v1/items/{hex}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(item["state"], "issued");
    assert_eq!(app.stock_of("TAGGED", "D-1").await, 1);

    let unknown = expect_problem(app.book(&app.staff, "e4", &json!({"kind":"receive","epcs":["3074257BF7194E4000001A85".replace("257BF7", "257BF8")],"to":"D-1"})).await, 422).await;
    assert_eq!(unknown["errors"][0]["field"], "epcs");
    let not_epc = expect_problem(
        app.book(
            &app.staff,
            "e5",
            &json!({"kind":"receive","epcs":["zz"],"to":"D-1"}),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(not_epc["errors"][0]["field"], "epcs");
    let twice = expect_problem(app.book(&app.staff, "e6", &json!({"kind":"receive","epcs":[hex, "urn:epc:id:sgtin:0614141.812345.6789"],"to":"D-1"})).await, 422).await;
    assert!(twice["detail"].as_str().unwrap().contains("more than once"));
    expect_problem(
        app.get(&app.staff, "/api/v1/items/3074257BF7194E4000001A99")
            .await,
        404,
    )
    .await;
    app.assert_ledger_consistent().await;
}

#[tokio::test]
async fn random_bookings_keep_stock_equal_to_the_ledger() {
    // 150 bookings in a row with one token: past its rate limits, off here.
    let app = spawn_app_with(|config| {
        config.api_token_rate_per_s = 0;
        config.api_address_rate_per_s = 0;
    })
    .await;
    let locations = ["A-1", "A-2", "B-1"];
    // A fixed pseudo-random sequence (xorshift), so a failure reproduces.
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for i in 0..150 {
        let from = locations[(next() % 3) as usize];
        let to = locations[(next() % 3) as usize];
        let quantity = (next() % 7 + 1) as i64;
        let body = match next() % 3 {
            0 => json!({"kind":"receive","sku":"ART-1","quantity":quantity,"to":to}),
            1 => json!({"kind":"issue","sku":"ART-1","quantity":quantity,"from":from}),
            _ => json!({"kind":"move","sku":"ART-1","quantity":quantity,"from":from,"to":to}),
        };
        let status = app
            .book(&app.staff, &format!("rnd-{i}"), &body)
            .await
            .status()
            .as_u16();
        assert!(
            matches!(status, 201 | 409 | 422),
            "booking {body} answered {status}"
        );
    }
    app.assert_ledger_consistent().await;
    for location in locations {
        assert!(app.stock_of("ART-1", location).await >= 0);
    }
}

#[tokio::test]
async fn serialised_items_cannot_be_taken_by_count() {
    let app = spawn_app().await;
    let epc = "3074257BF7194E4000001A85";
    app.book(
        &app.staff,
        "a",
        &json!({"kind":"receive","epcs":[epc],"to":"B-1"}),
    )
    .await;
    app.book(
        &app.staff,
        "b",
        &json!({"kind":"receive","sku":"TAGGED","quantity":2,"to":"B-1"}),
    )
    .await;
    let ok = app
        .book(
            &app.staff,
            "c",
            &json!({"kind":"issue","sku":"TAGGED","quantity":2,"from":"B-1"}),
        )
        .await;
    assert_eq!(ok.status(), 201);
    let problem = expect_problem(
        app.book(
            &app.staff,
            "d",
            &json!({"kind":"issue","sku":"TAGGED","quantity":1,"from":"B-1"}),
        )
        .await,
        409,
    )
    .await;
    assert_eq!(problem["type"], "urn:depot-edge:problem:serialised-items");
    assert_eq!(problem["items"], 1);
    assert_eq!(
        app.book(&app.staff, "e", &json!({"kind":"issue","epcs":[epc]}))
            .await
            .status(),
        201
    );
    app.assert_ledger_consistent().await;
}

#[tokio::test]
async fn huge_quantities_are_refused_and_the_writer_keeps_working() {
    let app = spawn_app().await;
    let too_many =
        json!({"kind":"receive","sku":"ART-1","quantity":1_000_000_000_001i64,"to":"D-1"});
    expect_problem(app.book(&app.staff, "a", &too_many).await, 422).await;
    // The largest allowed quantity of a 1 l, 1 kg article into an unlimited dock,
    // twice: usage sums must not overflow, and later bookings still work.
    let most = json!({"kind":"receive","sku":"ART-1","quantity":1_000_000_000_000i64,"to":"D-1"});
    assert_eq!(app.book(&app.staff, "b", &most).await.status(), 201);
    assert_eq!(app.book(&app.staff, "c", &most).await.status(), 201);
    let one = json!({"kind":"receive","sku":"ART-1","quantity":1,"to":"D-1"});
    assert_eq!(app.book(&app.staff, "d", &one).await.status(), 201);
    let report = app.get(&app.staff, "/api/v1/utilization").await;
    assert_eq!(report.status(), 200);
}

#[tokio::test]
async fn a_null_field_and_an_absent_one_are_the_same_request() {
    let app = spawn_app().await;
    let first = app
        .book(
            &app.staff,
            "n1",
            &json!({"kind":"receive","sku":"ART-1","quantity":1,"to":"B-1"}),
        )
        .await;
    assert_eq!(first.status(), 201);
    let again = app
        .book(
            &app.staff,
            "n1",
            &json!({"kind":"receive","sku":"ART-1","quantity":1,"to":"B-1","lot":null}),
        )
        .await;
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers().get("idempotency-replayed").unwrap(), "true");
    assert_eq!(app.stock_of("ART-1", "B-1").await, 1);
}
