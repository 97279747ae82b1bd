//! Articles, locations, visibility of restricted stock, reports and docs.

use serde_json::{json, Value};

use crate::helpers::{expect_problem, spawn_app};

#[tokio::test]
async fn articles_are_created_read_replaced_and_paged() {
    let app = spawn_app().await;
    let article: Value = app
        .get(&app.staff, "/api/v1/articles/ART-1")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(article["unit"], "piece");
    expect_problem(
        app.post(
            &app.manager,
            "/api/v1/articles",
            &json!({"sku":"ART-1","name":"Again","unit":"piece"}),
        )
        .await,
        409,
    )
    .await;
    let replaced = app
        .put(
            &app.manager,
            "/api/v1/articles/ART-1",
            &json!({"name":"Article one, renamed","unit":"piece","nsn":"2510010288573"}),
        )
        .await;
    assert_eq!(replaced.status(), 200);
    let article: Value = replaced.json().await.unwrap();
    assert_eq!(article["nsn"], "2510-01-028-8573");
    let created = app
        .put(
            &app.manager,
            "/api/v1/articles/ZZ-NEW",
            &json!({"name":"New","unit":"kg"}),
        )
        .await;
    assert_eq!(created.status(), 201);
    expect_problem(
        app.put(
            &app.manager,
            "/api/v1/articles/ZZ-NEW",
            &json!({"sku":"OTHER","name":"New","unit":"kg"}),
        )
        .await,
        422,
    )
    .await;

    let page: Value = app
        .get(&app.staff, "/api/v1/articles?limit=2")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    let after = page["next_after"].as_str().unwrap().to_owned();
    let rest: Value = app
        .get(
            &app.staff,
            &format!("/api/v1/articles?after={after}&limit=100"),
        )
        .await
        .json()
        .await
        .unwrap();
    let skus: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .chain(rest["items"].as_array().unwrap())
        .map(|a| a["sku"].as_str().unwrap())
        .collect();
    assert_eq!(
        skus,
        vec!["ART-1", "LOT-1", "TAGGED", "ZZ-NEW"],
        "the restricted article is not listed to staff"
    );
    assert!(rest.get("next_after").is_none());
}

#[tokio::test]
async fn restricted_articles_are_404_without_clearance() {
    let app = spawn_app().await;
    expect_problem(app.get(&app.staff, "/api/v1/articles/SECRET-1").await, 404).await;
    assert_eq!(
        app.get(&app.cleared_staff, "/api/v1/articles/SECRET-1")
            .await
            .status(),
        200
    );
    let booking = json!({"kind":"receive","sku":"SECRET-1","quantity":2,"to":"B-1"});
    let hidden = expect_problem(app.book(&app.staff, "s1", &booking).await, 422).await;
    assert_eq!(hidden["detail"], "no article 'SECRET-1'");
    assert_eq!(
        app.book(&app.cleared_staff, "s2", &booking).await.status(),
        201
    );
    let stock: Value = app
        .get(&app.staff, "/api/v1/stock")
        .await
        .json()
        .await
        .unwrap();
    assert!(stock["items"].as_array().unwrap().is_empty());
    let ledger: Value = app
        .get(&app.staff, "/api/v1/movements")
        .await
        .json()
        .await
        .unwrap();
    assert!(ledger["movements"].as_array().unwrap().is_empty());
    let cleared: Value = app
        .get(&app.cleared_staff, "/api/v1/stock")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(cleared["items"][0]["sku"], "SECRET-1");
}

#[tokio::test]
async fn locations_and_utilization() {
    let app = spawn_app().await;
    let bad = expect_problem(
        app.post(
            &app.manager,
            "/api/v1/locations",
            &json!({"code":"X 1","zone":"X","kind":"shelf","capacity_pallets":-1}),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(bad["errors"].as_array().unwrap().len(), 3);
    let page: Value = app
        .get(&app.staff, "/api/v1/locations?zone=A")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    app.book(
        &app.staff,
        "u1",
        &json!({"kind":"receive","sku":"ART-1","quantity":4,"to":"A-1"}),
    )
    .await;
    let report: Value = app
        .get(&app.staff, "/api/v1/utilization")
        .await
        .json()
        .await
        .unwrap();
    let a1 = report["locations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["code"] == "A-1")
        .unwrap();
    assert_eq!(
        a1["volume_ml"],
        json!({"used":4000,"capacity":10000,"free":6000,"per_mille":400})
    );
    let zone_a = report["zones"]
        .as_array()
        .unwrap()
        .iter()
        .find(|z| z["zone"] == "A")
        .unwrap();
    assert_eq!(zone_a["volume_ml"]["capacity"], 20000);
    assert_eq!(zone_a["volume_ml"]["used"], 4000);
    assert_eq!(
        report["depot"]["volume_ml"]["capacity"],
        Value::Null,
        "B-1 is unlimited"
    );
}

#[tokio::test]
async fn health_metrics_and_openapi() {
    let app = spawn_app().await;
    let health: Value = app
        .client
        .get(app.url("/healthz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["database"], "ok");
    assert_eq!(health["gateway"], "sim");
    app.book(
        &app.staff,
        "m",
        &json!({"kind":"receive","sku":"ART-1","quantity":1,"to":"B-1"}),
    )
    .await;
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("depot_bookings_committed_total 1"),
        "{metrics}"
    );
    assert!(metrics.contains("depot_ledger_last_seq 1"));
    let spec: Value = app
        .client
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3.1"));
    for path in [
        "/api/v1/movements",
        "/api/v1/stock",
        "/api/v1/articles/{sku}",
        "/api/v1/items/{epc}",
        "/healthz",
    ] {
        assert!(
            spec["paths"].get(path).is_some(),
            "{path} missing from the OpenAPI document"
        );
    }
    check_openapi_invariants(&spec);
}

/// What a client generating code relies on: each operation has its own
/// `operationId`; every error it can answer is `application/problem+json`
/// with the `Problem` schema (but `/healthz`'s 503, its own report); every
/// operation behind a token documents 401 and 503.
fn check_openapi_invariants(spec: &Value) {
    let mut ids = std::collections::BTreeSet::new();
    let resolve = |response: &Value| -> Value {
        match response["$ref"].as_str() {
            Some(reference) => {
                let name = reference.trim_start_matches("#/components/responses/");
                spec["components"]["responses"][name].clone()
            }
            None => response.clone(),
        }
    };
    let paths = spec["paths"].as_object().expect("paths");
    for (path, operations) in paths {
        for (method, operation) in operations.as_object().expect("operations") {
            let id = operation["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path} has no operationId"));
            assert!(ids.insert(id.to_owned()), "operationId {id} twice");
            let responses = operation["responses"].as_object().expect("responses");
            let secured = operation.get("security").is_some();
            if secured {
                for status in ["401", "503"] {
                    assert!(
                        responses.contains_key(status),
                        "{method} {path} does not document {status}"
                    );
                }
            }
            for (status, response) in responses {
                if status.as_str() < "400" || path == "/healthz" {
                    continue;
                }
                let content = resolve(response)["content"].clone();
                let content = content.as_object().expect("error content");
                assert_eq!(
                    content.keys().collect::<Vec<_>>(),
                    ["application/problem+json"],
                    "{method} {path} {status}"
                );
                assert_eq!(
                    content["application/problem+json"]["schema"]["$ref"],
                    "#/components/schemas/Problem",
                    "{method} {path} {status}"
                );
            }
        }
    }
    assert!(ids.len() >= 23, "{ids:?}");
}

#[tokio::test]
async fn an_uncleared_manager_keeps_open_articles_and_a_clash_names_nothing() {
    let app = spawn_app().await;
    let uncleared = app
        .add_user(
            "plain-manager",
            depot_server::domain::access::Role::Manager,
            false,
        )
        .await;
    let secret_gtin = json!({"sku":"SECRET-2","name":"Secret","unit":"box","gtin":"4006381333931","classification":"restricted"});
    assert_eq!(
        app.post(&app.manager, "/api/v1/articles", &secret_gtin)
            .await
            .status(),
        201
    );
    // Open articles: created and edited, by PUT and by POST.
    let free = json!({"name":"Free","unit":"piece"});
    assert_eq!(
        app.put(&uncleared, "/api/v1/articles/FREE-SKU", &free)
            .await
            .status(),
        201
    );
    let renamed = json!({"name":"Free, renamed","unit":"piece"});
    assert_eq!(
        app.put(&uncleared, "/api/v1/articles/FREE-SKU", &renamed)
            .await
            .status(),
        200
    );
    let posted = json!({"sku":"FREE-2","name":"Free 2","unit":"piece"});
    assert_eq!(
        app.post(&uncleared, "/api/v1/articles", &posted)
            .await
            .status(),
        201
    );
    // A clash with a restricted article's SKU or GTIN: one conflict that
    // names neither the article nor its classification, whichever way.
    let clashes = [
        app.put(&uncleared, "/api/v1/articles/SECRET-1", &free)
            .await,
        app.post(
            &uncleared,
            "/api/v1/articles",
            &json!({"sku":"SECRET-1","name":"x","unit":"piece"}),
        )
        .await,
        app.post(
            &uncleared,
            "/api/v1/articles",
            &json!({"sku":"OPEN-GTIN","name":"x","unit":"piece","gtin":"04006381333931"}),
        )
        .await,
    ];
    let mut details = Vec::new();
    for clash in clashes {
        let problem = expect_problem(clash, 409).await;
        let text = problem.to_string();
        assert!(
            !text.contains("SECRET") && !text.to_lowercase().contains("restricted"),
            "{text}"
        );
        details.push(problem["detail"].clone());
    }
    assert!(details.iter().all(|d| *d == details[0]), "{details:?}");
    // Still invisible, and writing a restricted article needs clearance.
    expect_problem(app.get(&uncleared, "/api/v1/articles/SECRET-2").await, 404).await;
    let refused = expect_problem(
        app.put(
            &uncleared,
            "/api/v1/articles/NEW-SECRET",
            &json!({"name":"x","unit":"piece","classification":"restricted"}),
        )
        .await,
        403,
    )
    .await;
    assert_eq!(refused["type"], "urn:depot-edge:problem:needs-clearance");
    // A cleared manager is told what clashes.
    let named = expect_problem(
        app.post(
            &app.manager,
            "/api/v1/articles",
            &json!({"sku":"SECRET-1","name":"x","unit":"piece"}),
        )
        .await,
        409,
    )
    .await;
    assert_eq!(named["type"], "urn:depot-edge:problem:exists");
}

#[tokio::test]
async fn article_writes_need_a_free_gtin() {
    let app = spawn_app().await;
    // A GTIN belongs to one article, however it is padded.
    let taken = expect_problem(
        app.post(
            &app.manager,
            "/api/v1/articles",
            &json!({"sku":"COPY","name":"Copy","unit":"piece","gtin":"80614141123458"}),
        )
        .await,
        409,
    )
    .await;
    assert_eq!(
        taken["detail"],
        "GTIN 80614141123458 belongs to article 'TAGGED'"
    );
    let water = json!({"sku":"WATER","name":"Water","unit":"piece","gtin":"4006381333931"});
    assert_eq!(
        app.post(&app.manager, "/api/v1/articles", &water)
            .await
            .status(),
        201
    );
    let padded = json!({"sku":"WATER-14","name":"Water","unit":"piece","gtin":"04006381333931"});
    expect_problem(
        app.post(&app.manager, "/api/v1/articles", &padded).await,
        409,
    )
    .await;
    let huge =
        json!({"sku":"HEAVY","name":"Heavy","unit":"piece","unit_weight_g":1_000_000_001i64});
    expect_problem(app.post(&app.manager, "/api/v1/articles", &huge).await, 422).await;
}

/// Regression: a create read, then upserted, so two concurrent creates of one
/// key both answered 201 and the second silently replaced the first.
#[tokio::test]
async fn concurrent_creates_of_one_key_have_one_winner() {
    let app = spawn_app().await;
    let creates = (0..16).map(|i| {
        let app = &app;
        async move {
            let article = app
                .post(
                    &app.manager,
                    "/api/v1/articles",
                    &json!({"sku":"RACE-1","name":format!("Racer {i}"),"unit":"piece"}),
                )
                .await;
            let location = app
                .post(
                    &app.manager,
                    "/api/v1/locations",
                    &json!({"code":"RACE-LOC","zone":format!("Z{i}"),"kind":"bin"}),
                )
                .await;
            let article_status = article.status().as_u16();
            let article: Value = article.json().await.unwrap();
            (article_status, article, location.status().as_u16())
        }
    });
    let results = futures_util::future::join_all(creates).await;
    let winners: Vec<&Value> = results
        .iter()
        .filter(|(status, _, _)| *status == 201)
        .map(|(_, body, _)| body)
        .collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    for (status, body, _) in &results {
        if *status != 201 {
            assert_eq!(*status, 409, "{body}");
            assert_eq!(body["type"], "urn:depot-edge:problem:exists");
        }
    }
    let stored: Value = app
        .get(&app.staff, "/api/v1/articles/RACE-1")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        stored["name"], winners[0]["name"],
        "the winner's article stays"
    );
    let location_wins = results.iter().filter(|(_, _, s)| *s == 201).count();
    let location_conflicts = results.iter().filter(|(_, _, s)| *s == 409).count();
    assert_eq!((location_wins, location_conflicts), (1, 15));
}
