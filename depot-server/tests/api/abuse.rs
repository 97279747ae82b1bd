//! Abuse resistance through the real listener: rate limits per token, per
//! address and on the login form (429 with `Retry-After`, then recovery),
//! the request timeout (503, while an SSE stream runs on), the connection
//! bound on the plain and the TLS listener, expired tokens (401), and
//! `user list` showing expiry and last use.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use reqwest::redirect::Policy;
use reqwest::{Client, Response};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use depot_server::config::Config;

use crate::helpers::{expect_problem, spawn_app_with, TestApp};

const PASSWORD: &str = "correct horse battery";

fn depot_server(db: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_depot-server"))
        .arg("--db")
        .arg(db)
        .args(args)
        .envs(env.iter().copied())
        .env("DEPOT_LOG", "warn")
        .output()
        .expect("run depot-server")
}

/// The `Retry-After` of a 429, in seconds, after checking the problem.
async fn retry_after(response: Response, detail: &str) -> u64 {
    let seconds: u64 = response
        .headers()
        .get("retry-after")
        .expect("Retry-After")
        .to_str()
        .unwrap()
        .parse()
        .expect("whole seconds");
    let problem = expect_problem(response, 429).await;
    assert_eq!(problem["type"], "urn:depot-edge:problem:rate-limited");
    assert!(
        problem["detail"].as_str().unwrap().contains(detail),
        "{problem}"
    );
    assert_eq!(problem["retry_after_s"], seconds);
    assert!(seconds >= 1, "{seconds}");
    seconds
}

/// Sends `request` until it is refused; returns how many passed and the refusal.
async fn until_refused(mut send: impl AsyncFnMut() -> Response) -> (usize, Response) {
    for passed in 0..1_000 {
        let response = send().await;
        if response.status() == 429 {
            return (passed, response);
        }
        assert_eq!(response.status(), 200, "before the limit");
    }
    panic!("never refused");
}

async fn metric(app: &TestApp, line_start: &str) -> u64 {
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(line_start))
        .unwrap_or_else(|| panic!("{line_start} missing:\n{text}"))
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn a_burst_gets_429_with_retry_after_other_tokens_go_on_and_it_recovers() {
    // (The helper seeds master data with 8 requests of the manager's token.)
    let app = spawn_app_with(|config| {
        config.api_token_rate_per_s = 1;
        config.api_token_burst = 10;
        config.api_address_rate_per_s = 0;
    })
    .await;
    let started = Instant::now();
    let (passed, refused) =
        until_refused(async || app.get(&app.staff, "/api/v1/stock").await).await;
    // The burst, and at most one more per second that went by meanwhile.
    let most = 10 + started.elapsed().as_secs() as usize + 1;
    assert!((10..=most).contains(&passed), "{passed} passed");
    let wait = retry_after(refused, "with this credential").await;
    assert_eq!(wait, 1, "one request a second");
    // Another token from the same address is not affected.
    for _ in 0..10 {
        assert_eq!(app.get(&app.auditor, "/api/v1/stock").await.status(), 200);
    }
    assert_eq!(
        metric(&app, "depot_http_rate_limited_total{scope=\"token\"}").await,
        1
    );
    // After the wait the token is served again, and bookings count too.
    tokio::time::sleep(Duration::from_secs(wait)).await;
    let booked = app
        .book(
            &app.staff,
            "after-wait",
            &json!({"kind":"receive","sku":"ART-1","quantity":1,"to":"B-1"}),
        )
        .await;
    assert_eq!(booked.status(), 201);
    // /healthz and /metrics are not limited.
    for _ in 0..20 {
        assert_eq!(
            app.client
                .get(app.url("/healthz"))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }
}

#[tokio::test]
async fn one_address_is_limited_whatever_token_it_sends() {
    // (The helper's 8 seeding requests came from this address too.)
    let app = spawn_app_with(|config| {
        config.api_token_rate_per_s = 0;
        config.api_address_rate_per_s = 1;
        config.api_address_burst = 20;
    })
    .await;
    let started = Instant::now();
    let tokens = [&app.staff, &app.manager, &app.auditor];
    let mut n = 0;
    let (passed, refused) = until_refused(async || {
        n += 1;
        app.get(tokens[n % 3], "/api/v1/stock").await
    })
    .await;
    let most = 20 - 8 + started.elapsed().as_secs() as usize + 2;
    assert!((1..=most).contains(&passed), "{passed} passed");
    retry_after(refused, "from this address").await;
    // Without a token too: the address is refused before the token is looked at.
    let anonymous = app
        .client
        .get(app.url("/api/v1/stock"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 429);
    assert!(metric(&app, "depot_http_rate_limited_total{scope=\"address\"}").await >= 2);
}

fn browser() -> Client {
    Client::builder().redirect(Policy::none()).build().unwrap()
}

/// Fetches the login form and posts `name` and `password` with its tokens.
async fn post_login(app: &TestApp, client: &Client, name: &str, password: &str) -> Response {
    let form = client.get(app.url("/login")).send().await.unwrap();
    assert_eq!(form.status(), 200, "the form is never limited");
    let cookie = form
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("depot_login_csrf="))
        .and_then(|v| v.split(';').next())
        .unwrap()
        .to_owned();
    let html = form.text().await.unwrap();
    let at = html.find(r#"name="csrf" value=""#).unwrap() + r#"name="csrf" value=""#.len();
    let csrf = html[at..at + html[at..].find('"').unwrap()].to_owned();
    client
        .post(app.url("/login"))
        .header("cookie", format!("depot_login_csrf={cookie}"))
        .form(&[
            ("name", name),
            ("password", password),
            ("csrf", csrf.as_str()),
            ("next", "/"),
        ])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_login_form_is_limited_per_address_on_top_of_the_per_user_lock() {
    let app = spawn_app_with(|config| {
        config.login_rate_per_min = 1;
        config.login_burst = 3;
    })
    .await;
    app.set_password("staff", PASSWORD).await;
    let client = browser();
    // Three guesses at three different names: no user reaches its own lock-out.
    for name in ["nobody", "someone", "manager"] {
        let refused = post_login(&app, &client, name, "wrong password").await;
        assert_eq!(refused.status(), 401, "{name}");
    }
    // The fourth attempt from this address is refused before any password is checked.
    let limited = post_login(&app, &client, "staff", PASSWORD).await;
    assert_eq!(limited.status(), 429);
    let seconds: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&seconds), "{seconds}");
    assert!(limited.headers().get("set-cookie").is_none());
    assert!(limited.text().await.unwrap().contains("Try again in"));
    assert_eq!(
        metric(&app, "depot_http_rate_limited_total{scope=\"login\"}").await,
        1
    );
    // The API of the same address is not affected.
    assert_eq!(app.get(&app.staff, "/api/v1/stock").await.status(), 200);
}

/// A session cookie for `name`, logged in through the form.
async fn session(app: &TestApp, name: &str) -> String {
    let response = post_login(app, &browser(), name, PASSWORD).await;
    assert_eq!(response.status(), 303, "login of {name}");
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("depot_session="))
        .and_then(|v| v.split(';').next())
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_hung_request_gets_503_after_the_timeout_and_an_sse_stream_runs_on() {
    let app = spawn_app_with(|config| {
        config.request_timeout_ms = 700;
        config.busy_timeout_ms = 600_000;
    })
    .await;
    app.set_password("staff", PASSWORD).await;
    let cookie = session(&app, "staff").await;
    let mut live = browser()
        .get(app.url("/movements/live?after=0"))
        .header("cookie", format!("depot_session={cookie}"))
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), 200);

    // Another process holds the write lock: the writer waits (busy timeout 10 min).
    let mut sqlite = Command::new("sqlite3")
        .arg(&app.db)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("sqlite3 is missing: run scripts/install-deps.sh (Debian package sqlite3)");
    let mut sql_in = sqlite.stdin.take().unwrap();
    let mut sql_out = BufReader::new(sqlite.stdout.take().unwrap()).lines();
    writeln!(sql_in, "BEGIN IMMEDIATE;\n.print locked").unwrap();
    assert_eq!(sql_out.next().unwrap().unwrap(), "locked");
    let body = json!({"kind":"receive","sku":"ART-1","quantity":3,"to":"B-1"});
    let started = Instant::now();
    let hung = app.book(&app.staff, "hung-1", &body).await;
    let waited = started.elapsed();
    assert_eq!(hung.headers()["retry-after"], "1");
    let problem = expect_problem(hung, 503).await;
    assert_eq!(problem["type"], "urn:depot-edge:problem:timeout");
    assert!(
        waited >= Duration::from_millis(700) && waited < Duration::from_secs(10),
        "{waited:?}"
    );
    assert_eq!(metric(&app, "depot_http_request_timeouts_total").await, 1);

    // Well past the timeout, the stream is still open: the booking that
    // timed out is committed once the lock is gone, and its event arrives.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    writeln!(sql_in, "ROLLBACK;\n.quit").unwrap();
    sqlite.wait().unwrap();
    let retried = app.book(&app.staff, "hung-1", &body).await;
    assert_eq!(retried.status(), 201, "the same key answers what it became");
    let seq = retried.json::<Value>().await.unwrap()["movements"][0]["seq"]
        .as_i64()
        .unwrap();
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !text.contains("ART-1") {
        match tokio::time::timeout_at(deadline, live.chunk()).await {
            Ok(Ok(Some(chunk))) => text.push_str(&String::from_utf8_lossy(&chunk)),
            other => panic!("the stream ended or stalled ({other:?}) after:\n{text}"),
        }
    }
    assert!(seq >= 1);
}

/// A server of its own on a fresh database (no client has a connection
/// to it yet), with `tweak`ed settings; stops when the sender is dropped.
async fn bare_server(
    dir: &Path,
    tweak: impl FnOnce(&mut Config),
) -> (std::net::SocketAddr, tokio::sync::oneshot::Sender<()>) {
    std::fs::create_dir_all(dir).unwrap();
    let mut config = Config {
        db: dir.join("depot.db"),
        listen: "127.0.0.1:0".parse().unwrap(),
        gateway: "off".into(),
        ..Config::default()
    };
    tweak(&mut config);
    let bound = depot_server::app::bind(config).await.unwrap();
    let address = bound.address;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(bound.serve(async {
        let _ = stopped.await;
    }));
    (address, stop)
}

/// Two idle connections fill a bound of two; a third waits, its request
/// unanswered, until one of them closes, then it is served.
async fn third_connection_waits(address: std::net::SocketAddr, answer: &str) {
    let request = b"GET /healthz HTTP/1.1\r\nHost: depot\r\nConnection: close\r\n\r\n";
    let first = TcpStream::connect(address).await.unwrap();
    let second = TcpStream::connect(address).await.unwrap();
    let mut third = TcpStream::connect(address).await.unwrap();
    third.write_all(request).await.unwrap();
    let mut buffer = vec![0_u8; 4096];
    let early = tokio::time::timeout(Duration::from_millis(1_500), third.read(&mut buffer)).await;
    assert!(
        early.is_err(),
        "the third connection was served while two were open"
    );
    drop(first);
    let n = tokio::time::timeout(Duration::from_secs(10), third.read(&mut buffer))
        .await
        .expect("served once a connection closed")
        .unwrap();
    let text = String::from_utf8_lossy(&buffer[..n]);
    assert!(text.starts_with(answer), "{text}");
    drop(second);
}

#[tokio::test]
async fn connections_past_the_bound_wait_until_one_closes_plain_and_tls() {
    let dir = tempfile::tempdir().unwrap();
    let (plain, _stop_plain) = bare_server(&dir.path().join("plain"), |config| {
        config.max_connections = 2;
    })
    .await;
    third_connection_waits(plain, "HTTP/1.1 200").await;

    // The TLS listener counts a connection from its TCP accept on, through
    // the handshake: a plain request to it is answered at once with a 400
    // that says to use https, unless the bound holds it back.
    let files = depot_server::tls::TlsFiles {
        cert: dir.path().join("cert.pem"),
        key: dir.path().join("key.pem"),
    };
    depot_server::tls::write_self_signed(
        &files,
        &["localhost".to_owned()],
        time::OffsetDateTime::now_utc(),
        30,
        false,
    )
    .unwrap();
    let (tls, _stop_tls) = bare_server(&dir.path().join("tls"), |config| {
        config.max_connections = 2;
        config.tls_cert_file = Some(files.cert.clone());
        config.tls_key_file = Some(files.key.clone());
    })
    .await;
    third_connection_waits(tls, "HTTP/1.1 400").await;
}

#[tokio::test]
async fn an_expired_token_is_401_saying_so_and_its_user_cannot_log_in() {
    let app = spawn_app_with(|_| {}).await;
    // Added two hours ago (libfaketime) for one hour: expired an hour ago.
    let added = depot_server(
        &app.db,
        &["user", "add", "temp", "--role", "staff", "--expires", "1h"],
        &[],
    );
    assert!(added.status.success());
    let out = Command::new(env!("CARGO_BIN_EXE_depot-server"))
        .arg("--db")
        .arg(&app.db)
        .args([
            "user",
            "add",
            "old",
            "--role",
            "staff",
            "--expires",
            "1h",
            "--password-stdin",
        ])
        .env("DEPOT_LOG", "warn")
        .env("LD_PRELOAD", crate::clock::libfaketime())
        .env("FAKETIME", "-2h")
        .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            writeln!(child.stdin.take().unwrap(), "{PASSWORD}")?;
            child.wait_with_output()
        })
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let old = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let temp = String::from_utf8(added.stdout).unwrap().trim().to_owned();

    let expired = app.get(&old, "/api/v1/stock").await;
    let problem = expect_problem(expired, 401).await;
    assert_eq!(problem["type"], "urn:depot-edge:problem:token-expired");
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains("expired"), "{detail}");
    assert!(!detail.contains("old"), "no name in the answer: {detail}");
    assert_eq!(app.get(&temp, "/api/v1/stock").await.status(), 200);
    let unknown = app.get("dpt_0000", "/api/v1/stock").await;
    assert_eq!(
        expect_problem(unknown, 401).await["type"],
        "urn:depot-edge:problem:unauthorized"
    );
    // The web login of the expired user is refused like a wrong password.
    let login = post_login(&app, &browser(), "old", PASSWORD).await;
    assert_eq!(login.status(), 401);

    let list = depot_server(&app.db, &["user", "list"], &[]);
    let list = String::from_utf8(list.stdout).unwrap();
    let line = list.lines().find(|l| l.starts_with("old\t")).unwrap();
    assert!(line.contains("\texpired 20"), "{line}");

    // Bad expiries are refused with the reason.
    for (bad, reason) in [("2020-01-01", "past"), ("9x", "unit"), ("soon", "expected")] {
        let out = depot_server(
            &app.db,
            &["user", "add", "never", "--role", "staff", "--expires", bad],
            &[],
        );
        assert!(!out.status.success(), "{bad}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("--expires") && stderr.contains(reason),
            "{stderr}"
        );
    }
}

#[tokio::test]
async fn user_list_shows_expiry_and_the_last_use_after_a_request() {
    let app = spawn_app_with(|_| {}).await;
    let out = depot_server(
        &app.db,
        &[
            "user",
            "add",
            "seasonal",
            "--role",
            "staff",
            "--expires",
            "90d",
        ],
        &[],
    );
    assert!(out.status.success());
    let line_of = |name: &str| {
        let out = depot_server(&app.db, &["user", "list"], &[]);
        let list = String::from_utf8(out.stdout).unwrap();
        list.lines()
            .find(|l| l.starts_with(&format!("{name}\t")))
            .unwrap_or_else(|| panic!("{name} missing:\n{list}"))
            .to_owned()
    };
    let seasonal = line_of("seasonal");
    assert!(seasonal.contains("\texpires 20"), "{seasonal}");
    assert!(seasonal.ends_with("\tnever used"), "{seasonal}");
    assert!(line_of("auditor").contains("\tnever expires\tnever used"));

    for _ in 0..3 {
        assert_eq!(app.get(&app.staff, "/api/v1/stock").await.status(), 200);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let staff = loop {
        let line = line_of("staff");
        if line.contains("\tlast used 20") {
            break line;
        }
        assert!(Instant::now() < deadline, "no last use recorded: {line}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(staff.contains("\tactive since "), "{staff}");
    assert!(line_of("auditor").ends_with("\tnever used"));
}

#[tokio::test]
async fn every_api_operation_documents_429_and_401() {
    let app = spawn_app_with(|_| {}).await;
    let document: Value = app
        .client
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths = document["paths"].as_object().unwrap();
    let mut operations = 0;
    for (path, item) in paths {
        for (method, operation) in item.as_object().unwrap() {
            let responses = &operation["responses"];
            if path.starts_with("/api/") {
                operations += 1;
                let limited = &responses["429"];
                assert!(
                    limited["headers"]["Retry-After"].is_object(),
                    "{method} {path}: {limited}"
                );
                assert!(
                    limited["content"]["application/problem+json"].is_object(),
                    "{method} {path}"
                );
                assert!(
                    responses["401"]["description"]
                        .as_str()
                        .is_some_and(|d| d.contains("expired")),
                    "{method} {path}"
                );
            } else {
                assert!(
                    responses.get("429").is_none(),
                    "{method} {path} is not limited"
                );
            }
        }
    }
    assert!(operations > 20, "{operations}");
}
