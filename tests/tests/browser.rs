//! Browser journeys: a real headless Chromium (Debian's `chromium`, driven
//! by `chromedriver` over WebDriver) against the real `depot-server` binary
//! on a fresh demo database per journey.
//!
//! The journeys share one chromedriver and run one after the other under this
//! file's own runner (`harness = false`), which stops the driver at the end and
//! prints `N passed, M failed`.

use std::future::Future;
use std::pin::Pin;
use std::time::Instant;

use anyhow::{bail, ensure, Context};
use fantoccini::{Client, Locator};
use serde_json::{json, Value};
use system_tests::{eventually, Depot, Driver};

type Journey = fn(&Driver) -> Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send + '_>>;

const DESKTOP: (u32, u32) = (1280, 900);
const HANDHELD: (u32, u32) = (360, 740);

/// The Enter key as WebDriver types it (what a wedge scanner sends after a code).
const ENTER: &str = "\u{e007}";

fn main() -> std::process::ExitCode {
    let journeys: &[(&str, Journey)] = &[
        ("login_shows_stock_and_search_filters_it", |d| {
            Box::pin(login_shows_stock_and_search_filters_it(d))
        }),
        ("wrong_passwords_lock_the_login", |d| {
            Box::pin(wrong_passwords_lock_the_login(d))
        }),
        ("a_wedge_scan_books_and_a_double_submit_books_once", |d| {
            Box::pin(a_wedge_scan_books_and_a_double_submit_books_once(d))
        }),
        (
            "movements_appear_live_and_restricted_ones_only_when_cleared",
            |d| {
                Box::pin(movements_appear_live_and_restricted_ones_only_when_cleared(
                    d,
                ))
            },
        ),
        (
            "offline_scans_over_plain_http_queue_and_book_once_in_order",
            |d| {
                Box::pin(offline_scans_over_plain_http_queue_and_book_once_in_order(
                    d,
                ))
            },
        ),
        (
            "offline_reload_with_service_worker_and_interrupted_replay_books_once",
            |d| Box::pin(offline_reload_with_service_worker_and_interrupted_replay_books_once(d)),
        ),
        ("pages_fit_a_360_px_handheld", |d| {
            Box::pin(pages_fit_a_360_px_handheld(d))
        }),
        (
            "gates_page_shows_the_simulated_gateway_and_its_passes",
            |d| Box::pin(gates_page_shows_the_simulated_gateway_and_its_passes(d)),
        ),
    ];
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (passed, failed) = runtime.block_on(async {
        let driver = match Driver::start().await {
            Ok(driver) => driver,
            Err(error) => {
                eprintln!("cannot start chromedriver: {error:#}");
                return (0, journeys.len());
            }
        };
        let (mut passed, mut failed) = (0, 0);
        for (name, journey) in journeys {
            if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
                continue;
            }
            let started = Instant::now();
            match journey(&driver).await {
                Ok(()) => {
                    passed += 1;
                    println!(
                        "test {name} ... ok ({:.1} s)",
                        started.elapsed().as_secs_f64()
                    );
                }
                Err(error) => {
                    failed += 1;
                    println!("test {name} ... FAILED\n{error:#}");
                }
            }
        }
        driver.stop().await;
        (passed, failed)
    });
    println!("\n{passed} passed, {failed} failed");
    if failed == 0 {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}

/// Logs in through the login form (after being sent there from `path`).
async fn log_in(client: &Client, depot: &Depot, user: &str, path: &str) -> anyhow::Result<()> {
    client.goto(&depot.url(path)).await?;
    let password = depot.user(user).password.clone();
    client
        .wait()
        .for_element(Locator::Id("name"))
        .await?
        .send_keys(user)
        .await?;
    client
        .find(Locator::Id("password"))
        .await?
        .send_keys(&format!("{password}{ENTER}"))
        .await?;
    let expected = depot.url(path);
    eventually("the login to land on the page asked for", || async {
        let url = client.current_url().await?;
        Ok((url.as_str() == expected).then_some(()))
    })
    .await
}

async fn text_of(client: &Client, css: &str) -> anyhow::Result<String> {
    Ok(client.find(Locator::Css(css)).await?.text().await?)
}

/// Column `index` of every row of the table `css`.
async fn column(client: &Client, css: &str, index: usize) -> anyhow::Result<Vec<String>> {
    let script = format!(
        "return Array.from(document.querySelectorAll('{css} tbody tr'), r => r.cells[{index}].textContent.trim());"
    );
    let value = client.execute(&script, vec![]).await?;
    Ok(serde_json::from_value(value)?)
}

async fn login_shows_stock_and_search_filters_it(driver: &Driver) -> anyhow::Result<()> {
    let depot = Depot::demo().await?;
    let browser = driver.browser(DESKTOP.0, DESKTOP.1, None).await?;
    let client = &browser.client;

    // Not signed in: sent to the login form, then back to the stock page.
    log_in(client, &depot, "demo-manager", "/stock").await?;
    let skus = column(client, "#stock", 0).await?;
    for sku in ["WATER-1L5", "DIESEL-F54", "AMMO-556-BOX"] {
        ensure!(skus.iter().any(|s| s == sku), "{sku} missing in {skus:?}");
    }
    browser.screenshot("stock-desktop").await?;

    // Search by part of the name: only that article's lines.
    let field = client.find(Locator::Id("f-q")).await?;
    field.send_keys(&format!("ration{ENTER}")).await?;
    eventually("the filtered stock page", || async {
        let skus = column(client, "#stock", 0).await?;
        Ok((!skus.is_empty() && skus.iter().all(|s| s == "RATION-EPA")).then_some(skus))
    })
    .await?;
    ensure!(client.current_url().await?.as_str().contains("q=ration"));

    // The start page: stock at a glance and utilisation bars.
    client.goto(&depot.url("/")).await?;
    let articles = text_of(client, "#articles-in-stock").await?;
    ensure!(
        articles == "8",
        "a cleared manager sees 8 articles in stock, saw {articles}"
    );
    let meters = client.find_all(Locator::Css("meter")).await?;
    ensure!(!meters.is_empty(), "utilisation bars");
    browser.screenshot("start-desktop").await?;

    // The language switch sticks across pages.
    client
        .find(Locator::Css("a[hreflang='de']"))
        .await?
        .click()
        .await?;
    eventually("the German start page", || async {
        Ok((text_of(client, "h1").await? == "Depot auf einen Blick").then_some(()))
    })
    .await?;
    client.goto(&depot.url("/stock")).await?;
    ensure!(text_of(client, "h1").await? == "Bestand");

    // An uncleared user sees no restricted article, in the list or the totals.
    let staff = driver.browser(DESKTOP.0, DESKTOP.1, None).await?;
    log_in(&staff.client, &depot, "demo-staff", "/stock").await?;
    let skus = column(&staff.client, "#stock", 0).await?;
    ensure!(
        !skus.iter().any(|s| s == "AMMO-556-BOX"),
        "restricted article shown: {skus:?}"
    );
    staff.client.goto(&depot.url("/")).await?;
    let articles = text_of(&staff.client, "#articles-in-stock").await?;
    ensure!(
        articles == "7",
        "an uncleared user's count leaves out the restricted article: {articles}"
    );

    // Staff may not open the admin pages, and are not offered them.
    let links = staff
        .client
        .find_all(Locator::Css("nav a[href='/admin/articles']"))
        .await?;
    ensure!(links.is_empty(), "staff are offered the admin pages");
    staff.client.goto(&depot.url("/admin/articles")).await?;
    ensure!(text_of(&staff.client, "h1").await? == "Not allowed");
    staff.client.goto(&depot.url("/")).await?;

    // Logout ends the session: the stock page asks for a login again.
    staff
        .client
        .find(Locator::Css("form[action='/logout'] button"))
        .await?
        .click()
        .await?;
    eventually("the login page after logout", || async {
        Ok(staff
            .client
            .find(Locator::Id("password"))
            .await
            .ok()
            .map(|_| ()))
    })
    .await?;
    staff.client.goto(&depot.url("/stock")).await?;
    ensure!(
        staff.client.current_url().await?.path() == "/login",
        "after logout the stock page asks for a login"
    );
    staff.close().await?;
    browser.close().await
}

/// The problem the login form answered with, once the answer has replaced
/// the page that was sent (its name field is empty again).
async fn login_problem(client: &Client) -> anyhow::Result<String> {
    eventually("the login form's answer", || async {
        let name = client
            .find(Locator::Id("name"))
            .await?
            .prop("value")
            .await?;
        if name.as_deref() != Some("") {
            return Ok(None);
        }
        Ok(Some(text_of(client, "#login-problem").await?))
    })
    .await
}

async fn wrong_passwords_lock_the_login(driver: &Driver) -> anyhow::Result<()> {
    let depot = Depot::demo().await?;
    let browser = driver.browser(DESKTOP.0, DESKTOP.1, None).await?;
    let client = &browser.client;
    client.goto(&depot.url("/login")).await?;
    let mut problems = Vec::new();
    for attempt in 0..5 {
        client
            .wait()
            .for_element(Locator::Id("name"))
            .await?
            .send_keys("demo-staff")
            .await?;
        client
            .find(Locator::Id("password"))
            .await?
            .send_keys(&format!("wrong-{attempt}{ENTER}"))
            .await?;
        problems.push(login_problem(client).await?);
    }
    ensure!(
        problems[..4].iter().all(|p| p.contains("not right")),
        "{problems:?}"
    );
    ensure!(
        problems[4].contains("Too many failed attempts"),
        "{problems:?}"
    );
    // Locked: even the right password is not checked now.
    let password = depot.user("demo-staff").password.clone();
    client
        .find(Locator::Id("name"))
        .await?
        .send_keys("demo-staff")
        .await?;
    client
        .find(Locator::Id("password"))
        .await?
        .send_keys(&format!("{password}{ENTER}"))
        .await?;
    ensure!(login_problem(client)
        .await?
        .contains("Too many failed attempts"));
    browser.close().await
}

/// Types a code into the scan input as a wedge scanner does: keys, then Enter.
async fn wedge(client: &Client, code: &str) -> anyhow::Result<()> {
    let input = client.find(Locator::Id("scan-code")).await?;
    input.send_keys(&format!("{code}{ENTER}")).await?;
    Ok(())
}

/// The `data-status` of each result line of the scan page, newest first.
async fn scan_results(client: &Client) -> anyhow::Result<Vec<String>> {
    let value = client
        .execute(
            "return Array.from(document.querySelectorAll('#result-list li'), li => li.dataset.status);",
            vec![],
        )
        .await?;
    Ok(serde_json::from_value(value)?)
}

async fn a_wedge_scan_books_and_a_double_submit_books_once(driver: &Driver) -> anyhow::Result<()> {
    let depot = Depot::demo().await?;
    let browser = driver.browser(DESKTOP.0, DESKTOP.1, None).await?;
    let client = &browser.client;
    log_in(client, &depot, "demo-staff", "/scan").await?;
    let before = depot.last_seq().await?;

    // The input has focus: a scanner's keys go straight into it.
    let focused = client
        .execute("return document.activeElement.id;", vec![])
        .await?;
    ensure!(focused == json!("scan-code"), "focus is on {focused}");

    // A location label sets the location; a SKU then books a receipt there.
    wedge(client, "A-01-03").await?;
    let location = client
        .find(Locator::Id("scan-location"))
        .await?
        .prop("value")
        .await?;
    ensure!(
        location.as_deref() == Some("A-01-03"),
        "location {location:?}"
    );
    wedge(client, "WATER-1L5").await?;
    eventually("the booking's result", || async {
        Ok((scan_results(client).await? == ["201"]).then_some(()))
    })
    .await?;
    browser.screenshot("scan-desktop").await?;

    // A double Enter (a double tap, a scanner that repeats) books once.
    let input = client.find(Locator::Id("scan-code")).await?;
    input.send_keys(&format!("WATER-1L5{ENTER}{ENTER}")).await?;
    eventually("the second booking's result", || async {
        Ok((scan_results(client).await?.len() == 2).then_some(()))
    })
    .await?;

    // The form without JavaScript: the same form posted twice books once
    // (its read id is its Idempotency-Key).
    let statuses = client
        .execute_async(
            r#"const done = arguments[arguments.length - 1];
               const form = document.getElementById('scan-form');
               const data = new URLSearchParams(new FormData(form));
               data.set('code', 'WATER-1L5');
               const post = () => fetch('/scan', {method: 'POST', body: data}).then(r => r.status);
               Promise.all([post(), post()]).then(done, e => done(String(e)));"#,
            vec![],
        )
        .await?;
    ensure!(statuses == json!([200, 200]), "form posts: {statuses}");

    // A GS1 element string with a GTIN and no serial (WATER-1L5's): an
    // amount of its article, as many as the quantity field says.
    set_quantity(client, 2).await?;
    wedge(client, "(01)04006381333931").await?;
    eventually("the GTIN scan's result", || async {
        Ok((scan_results(client).await? == ["201", "201", "201"]).then_some(()))
    })
    .await?;

    // A count: the amount found at the location; the difference to the
    // books is booked as an adjustment.
    let token = depot.user("demo-staff").token.clone();
    let stock = depot
        .get(&token, "/api/v1/stock?sku=WATER-1L5&location=A-01-03")
        .await?;
    let booked = stock["items"][0]["quantity"]
        .as_i64()
        .context("WATER-1L5 at A-01-03")?;
    client
        .find(Locator::Css(r#"input[name="kind"][value="count"]"#))
        .await?
        .click()
        .await?;
    set_quantity(client, booked + 4).await?;
    wedge(client, "WATER-1L5").await?;
    eventually("the count's result", || async {
        Ok((scan_results(client).await?.len() == 4).then_some(()))
    })
    .await?;
    ensure!(
        scan_results(client).await?[0] == "201",
        "count: {:?}",
        text_of(client, "#result-list li").await?
    );

    let movements = depot.handheld_movements_after(before).await?;
    // The demo's gate simulator books receipts of the same articles meanwhile
    // (source `gate`): only the handheld's count.
    let water: Vec<&Value> = movements
        .iter()
        .filter(|m| m["sku"] == "WATER-1L5" && m["kind"] == "receive" && m["source"] == "handheld")
        .collect();
    let quantities: Vec<&Value> = water.iter().map(|m| &m["quantity"]).collect();
    ensure!(
        quantities == [&json!(1), &json!(1), &json!(1), &json!(2)],
        "one booking per scan (wedge, double Enter, double form post, GTIN): {movements:?}"
    );
    ensure!(water
        .iter()
        .all(|m| m["to"] == "A-01-03" && m["actor"] == "demo-staff" && m["epcs"].is_null()));
    let counts: Vec<&Value> = movements
        .iter()
        .filter(|m| m["kind"] == "adjust" && m["source"] == "handheld")
        .collect();
    ensure!(
        counts.len() == 1
            && counts[0]["quantity"] == 4
            && counts[0]["to"] == "A-01-03"
            && counts[0]["reason"] == format!("count: {} counted, {booked} booked", booked + 4),
        "one adjustment of the count: {movements:?}"
    );
    browser.close().await
}

/// Types a new amount into the scan page's quantity field.
async fn set_quantity(client: &Client, amount: i64) -> anyhow::Result<()> {
    let field = client.find(Locator::Id("scan-quantity")).await?;
    field.clear().await?;
    field.send_keys(&amount.to_string()).await?;
    Ok(())
}

async fn movements_appear_live_and_restricted_ones_only_when_cleared(
    driver: &Driver,
) -> anyhow::Result<()> {
    let depot = Depot::demo().await?;
    let manager = driver.browser(DESKTOP.0, DESKTOP.1, None).await?;
    let staff = driver.browser(DESKTOP.0, DESKTOP.1, None).await?;
    log_in(&manager.client, &depot, "demo-manager", "/movements").await?;
    log_in(&staff.client, &depot, "demo-staff", "/movements").await?;
    // A mark that a reload would wipe.
    for browser in [&manager, &staff] {
        browser
            .client
            .execute("window.notReloaded = true;", vec![])
            .await?;
    }
    let token = depot.user("demo-manager").token.clone();
    let (status, restricted) = depot
        .post(
            &token,
            "/api/v1/movements",
            Some("live-1"),
            &json!({"kind":"issue","sku":"AMMO-556-BOX","quantity":1,"from":"B-01-02","lot":"LOT-556-77"}),
        )
        .await?;
    ensure!(status == 201, "{restricted}");
    let (status, open) = depot
        .post(
            &token,
            "/api/v1/movements",
            Some("live-2"),
            &json!({"kind":"issue","sku":"WATER-1L5","quantity":2,"from":"A-01-03"}),
        )
        .await?;
    ensure!(status == 201, "{open}");
    let restricted_seq = restricted["movements"][0]["seq"].as_i64().context("seq")?;
    let open_seq = open["movements"][0]["seq"].as_i64().context("seq")?;

    for (who, browser, sees_restricted) in [("manager", &manager, true), ("staff", &staff, false)] {
        let client = &browser.client;
        eventually("the open movement to appear live", || async {
            Ok(client
                .find(Locator::Id(&format!("m-{open_seq}")))
                .await
                .ok()
                .map(|_| ()))
        })
        .await
        .with_context(|| format!("{who}'s page"))?;
        let shown = client
            .find_all(Locator::Id(&format!("m-{restricted_seq}")))
            .await?
            .len();
        ensure!(
            (shown == 1) == sees_restricted,
            "{who} sees the restricted movement {shown} times"
        );
        let kept = client
            .execute("return window.notReloaded === true;", vec![])
            .await?;
        ensure!(kept == json!(true), "{who}'s page was reloaded");
    }
    manager.screenshot("movements-desktop").await?;

    // The event stream itself never names the restricted article to the
    // uncleared user (read as the browser reads it, with its cookie).
    let stream = staff
        .client
        .execute_async(
            r#"const done = arguments[arguments.length - 1];
               const source = new EventSource('/movements/live?after=0');
               let text = '';
               source.addEventListener('movements', e => { text += e.data; });
               setTimeout(() => { source.close(); done(text); }, 1500);"#,
            vec![],
        )
        .await?;
    let stream = stream.as_str().unwrap_or("");
    ensure!(
        stream.contains("WATER-1L5"),
        "the catch-up carries the open movements"
    );
    ensure!(
        !stream.contains("AMMO"),
        "the stream leaks the restricted article"
    );
    manager.close().await?;
    staff.close().await
}

/// The ids of the reads waiting in the scan page's queue, in order.
async fn queued_ids(client: &Client) -> anyhow::Result<Vec<String>> {
    let value = client
        .execute(
            "return Array.from(document.querySelectorAll('#queue-list li'), li => li.dataset.id);",
            vec![],
        )
        .await?;
    Ok(serde_json::from_value(value)?)
}

/// Scans `codes` (receipts at `location`) while the page cannot reach the server.
async fn scan_offline(
    client: &Client,
    location: &str,
    codes: &[&str],
) -> anyhow::Result<Vec<String>> {
    wedge(client, location).await?;
    for (i, code) in codes.iter().enumerate() {
        wedge(client, code).await?;
        eventually("the read to wait in the queue", || async {
            let ids = queued_ids(client).await?;
            Ok((ids.len() == i + 1).then_some(()))
        })
        .await?;
    }
    queued_ids(client).await
}

/// Checks that each read id booked exactly one receipt, in the order scanned.
async fn booked_once_in_order(
    depot: &Depot,
    before: i64,
    ids: &[String],
    codes: &[&str],
) -> anyhow::Result<()> {
    let movements = depot.handheld_movements_after(before).await?;
    let keys: Vec<&str> = movements
        .iter()
        .filter_map(|m| m["idempotency_key"].as_str())
        .collect();
    let expected: Vec<&str> = ids.iter().map(String::as_str).collect();
    ensure!(
        keys == expected,
        "ledger keys {keys:?}, queued {expected:?}"
    );
    let skus: Vec<&str> = movements.iter().filter_map(|m| m["sku"].as_str()).collect();
    ensure!(skus == codes, "ledger {skus:?}, scanned {codes:?}");
    Ok(())
}

async fn offline_scans_over_plain_http_queue_and_book_once_in_order(
    driver: &Driver,
) -> anyhow::Result<()> {
    let depot = Depot::demo().await?;
    // A host name that is not localhost: a plain-HTTP origin, as on a depot LAN.
    let host = format!("depot.lan:{}", depot.address.port());
    let rules = format!("MAP depot.lan {}", depot.address.ip());
    let browser = driver.browser(DESKTOP.0, DESKTOP.1, Some(&rules)).await?;
    let client = &browser.client;
    client.goto(&format!("http://{host}/scan")).await?;
    client
        .wait()
        .for_element(Locator::Id("name"))
        .await?
        .send_keys("demo-staff")
        .await?;
    let password = depot.user("demo-staff").password.clone();
    client
        .find(Locator::Id("password"))
        .await?
        .send_keys(&format!("{password}{ENTER}"))
        .await?;
    client.wait().for_element(Locator::Id("scan-code")).await?;
    let secure = client
        .execute("return window.isSecureContext;", vec![])
        .await?;
    ensure!(
        secure == json!(false),
        "depot.lan over HTTP is not a secure context"
    );
    let workers = client
        .execute(
            "return !!(navigator.serviceWorker && navigator.serviceWorker.controller);",
            vec![],
        )
        .await?;
    ensure!(workers == json!(false), "no service worker over plain HTTP");

    let before = depot.last_seq().await?;
    browser.set_offline(true).await?;
    let codes = ["WATER-1L5", "VALVE-2510", "MEDKIT-IFAK"];
    let ids = scan_offline(client, "DOCK-1", &codes).await?;
    ensure!(
        depot.handheld_movements_after(before).await?.is_empty(),
        "nothing reached the server while offline"
    );
    browser.set_offline(false).await?;
    eventually("the queue to drain", || async {
        Ok(
            (queued_ids(client).await?.is_empty() && scan_results(client).await?.len() == 3)
                .then_some(()),
        )
    })
    .await?;
    // MEDKIT-IFAK is lot-tracked: received without a lot it is refused, shown, and not dropped.
    let results = scan_results(client).await?;
    ensure!(
        results == ["422", "201", "201"],
        "results newest first: {results:?}"
    );
    booked_once_in_order(&depot, before, &ids[..2], &codes[..2]).await?;
    browser.close().await
}

async fn offline_reload_with_service_worker_and_interrupted_replay_books_once(
    driver: &Driver,
) -> anyhow::Result<()> {
    let mut depot = Depot::demo().await?;
    let browser = driver.browser(DESKTOP.0, DESKTOP.1, None).await?;
    let client = &browser.client;
    // localhost is a secure context: the scan page installs its service worker.
    log_in(client, &depot, "demo-staff", "/scan").await?;
    eventually("the service worker to control the page", || async {
        let controlled = client
            .execute("return !!navigator.serviceWorker.controller;", vec![])
            .await?;
        Ok((controlled == json!(true)).then_some(()))
    })
    .await?;

    let before = depot.last_seq().await?;
    depot.stop().await?;
    let codes = ["WATER-1L5", "VALVE-2510", "TIRE-395-85", "DIESEL-F54"];
    let ids = scan_offline(client, "DOCK-2", &codes[..3]).await?;
    // Reload with the server down: the service worker serves the page, the
    // queue is still there, and scanning goes on.
    client.refresh().await?;
    client.wait().for_element(Locator::Id("scan-code")).await?;
    eventually("the queue after the reload", || async {
        Ok((queued_ids(client).await? == ids).then_some(()))
    })
    .await?;
    wedge(client, "DOCK-2").await?;
    wedge(client, codes[3]).await?;
    let ids = eventually("the fourth read queued", || async {
        let queued = queued_ids(client).await?;
        Ok((queued.len() == 4).then_some(queued))
    })
    .await?;
    ensure!(ids[..3] == ids[..3]);

    // An interrupted replay: the first two reads reached the server but
    // their answer was lost (sent here with the same ids, as the page did).
    depot.start_again().await?;
    let token = depot.user("demo-staff").token.clone();
    let reads: Vec<Value> = ids[..2]
        .iter()
        .zip(codes)
        .map(|(id, code)| json!({"id": id, "kind": "receive", "code": code, "location": "DOCK-2", "quantity": 1}))
        .collect();
    let (status, body) = depot
        .post(&token, "/api/v1/scans", None, &json!({"reads": reads}))
        .await?;
    ensure!(status == 200, "{body}");
    // The page replays the whole queue: the first two are answered from the
    // idempotency records, the rest book now.
    eventually("the queue to drain after the outage", || async {
        Ok(
            (queued_ids(client).await?.is_empty() && scan_results(client).await?.len() == 4)
                .then_some(()),
        )
    })
    .await
    .with_context(|| depot.log())?;
    booked_once_in_order(&depot, before, &ids, &codes).await?;
    browser.close().await
}

async fn pages_fit_a_360_px_handheld(driver: &Driver) -> anyhow::Result<()> {
    let depot = Depot::demo().await?;
    let browser = driver.browser(HANDHELD.0, HANDHELD.1, None).await?;
    let client = &browser.client;
    log_in(client, &depot, "demo-manager", "/").await?;
    let width = client.execute("return window.innerWidth;", vec![]).await?;
    ensure!(width == json!(360), "viewport {width}");
    for (path, shot) in [
        ("/", "start-handheld"),
        ("/stock", "stock-handheld"),
        ("/movements", "movements-handheld"),
        ("/scan", "scan-handheld"),
        ("/utilisation", "utilisation-handheld"),
        ("/articles/WATER-1L5", "article-handheld"),
        ("/gates", "gates-handheld"),
        ("/uplink", "uplink-handheld"),
        ("/admin/locations", "admin-locations-handheld"),
        ("/admin/users", "admin-users-handheld"),
    ] {
        client.goto(&depot.url(path)).await?;
        client.wait().for_element(Locator::Css("main h1")).await?;
        let overflow = client
            .execute(
                "return document.documentElement.scrollWidth - window.innerWidth;",
                vec![],
            )
            .await?;
        if overflow.as_i64().unwrap_or(1) > 0 {
            bail!("{path} is {overflow} px wider than a 360 px screen");
        }
        browser.screenshot(shot).await?;
    }
    // Touch targets on the scan page are at least 44 px high.
    let heights = client
        .execute(
            "return Array.from(document.querySelectorAll('#scan-code, #scan-form button, label.kind'), e => e.getBoundingClientRect().height);",
            vec![],
        )
        .await?;
    let heights: Vec<f64> = serde_json::from_value(heights)?;
    ensure!(
        heights.iter().all(|h| *h >= 44.0),
        "touch targets {heights:?}"
    );
    browser.close().await
}

/// The demo's gateway simulator reaches the gates page only through the real
/// poller and ledger: the gateway shows online, its passes appear with their
/// outcomes, a booked one links to its movement's article; the start page
/// counts it, and the uplink page says the feed is off.
async fn gates_page_shows_the_simulated_gateway_and_its_passes(
    driver: &Driver,
) -> anyhow::Result<()> {
    let depot = Depot::demo().await?;
    let browser = driver.browser(DESKTOP.0, DESKTOP.1, None).await?;
    let client = &browser.client;
    log_in(client, &depot, "demo-manager", "/gates").await?;
    let passes = eventually("a gateway online with gate passes", || async {
        client.goto(&depot.url("/gates")).await?;
        let states = column(client, "#gateways", 1).await.unwrap_or_default();
        let outcomes = column(client, "#passes", 7).await.unwrap_or_default();
        Ok(
            (states.iter().any(|s| s.starts_with("online")) && !outcomes.is_empty())
                .then_some(outcomes),
        )
    })
    .await
    .with_context(|| depot.log())?;
    let known = [
        "booked",
        "not booked",
        "unidentified",
        "flagged (weight)",
        "awaiting a lot",
    ];
    ensure!(
        passes
            .iter()
            .all(|o| known.iter().any(|k| o.starts_with(k))),
        "outcomes in words: {passes:?}"
    );
    // The gateway's own status block and each gate's newest pass.
    let firmware = column(client, "#gateways", 7).await?;
    ensure!(
        firmware.iter().all(|f| f.trim().split('.').count() == 3),
        "firmware versions shown: {firmware:?}"
    );
    let docks = column(client, "#gateways", 13).await?;
    ensure!(
        docks.iter().any(|d| d.contains("last pass")),
        "each gate's last pass shown: {docks:?}"
    );
    browser.screenshot("gates-desktop").await?;
    let api = depot
        .get(
            &depot.user("demo-manager").token,
            "/api/v1/gates/passes?limit=1000",
        )
        .await?;
    let newest = api["passes"]
        .as_array()
        .and_then(|p| p.last())
        .and_then(|p| p["id"].as_i64())
        .context("the API's passes")?;
    ensure!(newest > 0, "{api}");

    client.goto(&depot.url("/")).await?;
    let online = text_of(client, "#gateways-online").await?;
    ensure!(
        online == "1 / 1",
        "the start page's gateway panel: {online}"
    );
    client
        .find(Locator::Css("#uplink-heading ~ p a"))
        .await?
        .click()
        .await?;
    eventually("the uplink page", || async {
        Ok(client
            .find(Locator::Id("uplink-off"))
            .await
            .ok()
            .map(|_| ()))
    })
    .await?;
    browser.screenshot("uplink-desktop").await?;

    client.goto(&depot.url("/articles/WATER-1L5")).await?;
    ensure!(text_of(client, "#article-sku").await? == "WATER-1L5");
    browser.screenshot("article-desktop").await?;
    client.goto(&depot.url("/utilisation")).await?;
    let meters = client
        .find_all(Locator::Css("#location-fill meter"))
        .await?;
    ensure!(!meters.is_empty(), "bars per location");
    browser.screenshot("utilisation-desktop").await?;
    browser.close().await
}
