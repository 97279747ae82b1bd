//! Web page benchmark (not a test): run with
//! `cargo bench -p depot-server --bench pages`.
//!
//! 1. **Stock page and searches.** A database with `BENCH_ARTICLES` (default
//!    10,000) articles (one in ten restricted, supply classes I–X, found by
//!    name, GTIN-less), a tenth as many locations in 10 zones and ten times
//!    as many stock rows (each article at 10 locations, booked by
//!    `store::ledger::append_all`), served by the release binary. A cleared manager signs in through the login form; each
//!    path below is then requested `BENCH_REQUESTS` times (default 300), one
//!    request at a time. The latency is from sending the request to the
//!    body's last byte over loopback, so it is the server's time plus the
//!    client's own (an upper bound of the server's); the size is the body's
//!    bytes as sent (the server does not compress). The far page is the one
//!    halfway through the stock, reached by its key as the pager links it.
//! 2. **Live movements.** Bookings at `BENCH_RATE` per second (default 500),
//!    paced open-loop for `BENCH_SECONDS` (default 10): once with no page
//!    open, then with `BENCH_PAGES` (default 50) signed-in pages connected
//!    to `/movements/live`, then once more without (the spread of the two
//!    baselines is the noise). Reports each run's booking p50/p99 and, for
//!    the run with pages, whether every page received every booked movement
//!    (and no `reload` event).
//!
//! Client and server share the machine's cores; the figures are for both together.
//! `BENCH_SERVER=/path/to/depot-server` benchmarks another build of the server.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use depot_server::domain::article::Sku;
use depot_server::domain::booking::{MovementKind, Source};
use depot_server::domain::ledger::Movement;
use depot_server::domain::location::LocationCode;
use depot_server::domain::quantity::Lot;
use reqwest::redirect::Policy;
use reqwest::Client;
use serde_json::{json, Value};

mod common;
use common::{env_number, percentile, server};

const PLACES_PER_ARTICLE: usize = 10;
/// Lines per page of `/stock`.
const PAGE_LINES: usize = 100;

/// The size of the seeded depot.
#[derive(Clone, Copy)]
struct Scale {
    articles: usize,
    locations: usize,
}

impl Scale {
    /// The `place`th of the 10 locations of `article`.
    fn place(self, article: usize, place: usize) -> String {
        location((article * 7 + place * 97) % self.locations)
    }

    /// The page halfway through the stock and the link to it, as the
    /// pager makes it: after the key of the last line of the page before.
    fn far_page(self) -> String {
        let rows = self.articles * PLACES_PER_ARTICLE;
        let page = (rows / PAGE_LINES / 2).max(2);
        let last = (page - 1) * PAGE_LINES - 1;
        let article = last / PLACES_PER_ARTICLE;
        let mut places: Vec<String> = (0..PLACES_PER_ARTICLE)
            .map(|p| self.place(article, p))
            .collect();
        places.sort();
        let location = &places[last % PLACES_PER_ARTICLE];
        format!("/stock?after={}~{location}~&page={page}", sku(article))
    }
}
const PASSWORD: &str = "bench-password-1";

/// Runs a command of the server binary; its standard output.
fn cli(db: &Path, args: &[&str], stdin: Option<&str>) -> String {
    let mut child = Command::new(server())
        .arg("--db")
        .arg(db)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cli");
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(text.as_bytes())
            .expect("write stdin");
    }
    let out = child.wait_with_output().expect("cli");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn sku(n: usize) -> String {
    format!("ART-{n:05}")
}

fn location(n: usize) -> String {
    format!("Z{}-{:04}", n % 10, n)
}

/// Articles and locations as CSV files, imported by the command line.
fn master_data(dir: &Path, db: &Path, scale: Scale) {
    let classes = ["I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X"];
    let mut articles = String::from("sku,name,unit,supply_class,classification,unit_volume_ml\n");
    for n in 0..scale.articles {
        let classification = if n % 10 == 9 { "restricted" } else { "open" };
        articles.push_str(&format!(
            "{},Bench article {n:05},piece,{},{classification},{}\n",
            sku(n),
            classes[n % 10],
            100 + n % 900
        ));
    }
    let mut locations = String::from("code,zone,kind,capacity_volume_l\n");
    for n in 0..scale.locations {
        locations.push_str(&format!("{},Z{},bin,5000\n", location(n), n % 10));
    }
    let articles_csv = dir.join("articles.csv");
    let locations_csv = dir.join("locations.csv");
    std::fs::write(&articles_csv, articles).expect("articles csv");
    std::fs::write(&locations_csv, locations).expect("locations csv");
    cli(
        db,
        &["import", "locations", &locations_csv.to_string_lossy()],
        None,
    );
    cli(
        db,
        &["import", "articles", &articles_csv.to_string_lossy()],
        None,
    );
}

/// 100,000 receipts, one per (article, location), through `append_all`.
async fn stock(db: &Path, scale: Scale) {
    let pool = depot_server::store::open_pool(db, &Default::default())
        .await
        .expect("open");
    let mut conn = pool.acquire().await.expect("conn");
    let now = time::OffsetDateTime::now_utc();
    let movements: Vec<Movement> = (0..scale.articles * PLACES_PER_ARTICLE)
        .map(|i| {
            let (article, place) = (i / PLACES_PER_ARTICLE, i % PLACES_PER_ARTICLE);
            Movement {
                seq: i as i64 + 1,
                kind: MovementKind::Receive,
                sku: Sku::parse(&sku(article)).expect("sku"),
                quantity: 1 + (i % 50) as i64,
                from: None,
                to: Some(LocationCode::parse(&scale.place(article, place)).expect("code")),
                lot: Lot::none(),
                epcs: Vec::new(),
                actor: "bench".into(),
                source: Source::Import,
                idempotency_key: None,
                reason: None,
                recorded_at: now,
            }
        })
        .collect();
    for chunk in movements.chunks(10_000) {
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut *conn)
            .await
            .expect("begin");
        depot_server::store::ledger::append_all(&mut conn, chunk)
            .await
            .expect("append");
        sqlx::query("COMMIT")
            .execute(&mut *conn)
            .await
            .expect("commit");
    }
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM stock_levels WHERE quantity > 0")
        .fetch_one(&mut *conn)
        .await
        .expect("count");
    assert_eq!(
        rows,
        (scale.articles * PLACES_PER_ARTICLE) as i64,
        "stock rows"
    );
    pool.close().await;
}

/// Starts the server on the database; its child process and base URL.
async fn serve(db: &Path) -> (Child, String) {
    let mut child = Command::new(server())
        .args(["run", "--listen", "127.0.0.1:0", "--db"])
        .arg(db)
        .env("DEPOT_LOG", "warn,depot_server::app=info")
        .envs(common::UNLIMITED)
        .env("DEPOT_GATEWAY", "off")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let address = loop {
        let line = lines.next().expect("server exited").expect("stderr");
        if let Some((_, rest)) = line.split_once("listening on http://") {
            break rest.trim().to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let base = format!("http://{address}");
    let client = Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = client.get(format!("{base}/healthz")).send().await {
            if r.status() == 200 {
                break;
            }
        }
        assert!(Instant::now() < deadline, "the server never became healthy");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (child, base)
}

/// The value of the cookie `name` a response sets.
fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix(&format!("{name}=")))
        .and_then(|v| v.split(';').next())
        .map(str::to_owned)
}

/// Signs in through the login form; the `Cookie` header of the session.
async fn log_in(client: &Client, base: &str, name: &str) -> String {
    let form = client
        .get(format!("{base}/login"))
        .send()
        .await
        .expect("login form");
    let token = set_cookie(&form, "depot_login_csrf").expect("login csrf cookie");
    let html = form.text().await.expect("html");
    let marker = r#"name="csrf" value=""#;
    let at = html.find(marker).expect("csrf field") + marker.len();
    let csrf = &html[at..at + html[at..].find('"').expect("value end")];
    let answer = client
        .post(format!("{base}/login"))
        .header("cookie", format!("depot_login_csrf={token}"))
        .form(&[("name", name), ("password", PASSWORD), ("csrf", csrf)])
        .send()
        .await
        .expect("login");
    assert_eq!(answer.status(), 303, "login");
    let session = set_cookie(&answer, "depot_session").expect("session cookie");
    format!("depot_session={session}")
}

/// Requests `path` `requests` times in turn: latencies, and the body size.
async fn measure(
    client: &Client,
    base: &str,
    cookie: &str,
    path: &str,
    requests: u64,
) -> (Vec<Duration>, usize) {
    let mut latencies = Vec::with_capacity(requests as usize);
    let mut size = 0;
    for _ in 0..requests {
        let sent = Instant::now();
        let response = client
            .get(format!("{base}{path}"))
            .header("cookie", cookie)
            .send()
            .await
            .expect("page");
        assert_eq!(response.status(), 200, "{path}");
        size = response.bytes().await.expect("body").len();
        latencies.push(sent.elapsed());
    }
    latencies.sort();
    (latencies, size)
}

/// What one connected page received.
#[derive(Default)]
struct Seen {
    seqs: HashSet<i64>,
    reloads: usize,
}

/// Reads `/movements/live` until `stop`, noting each movement row's seq.
async fn watch(
    client: Client,
    base: String,
    cookie: String,
    seen: Arc<Mutex<Seen>>,
    ready: tokio::sync::mpsc::Sender<()>,
    stop: Arc<tokio::sync::Notify>,
) {
    let mut response = client
        .get(format!("{base}/movements/live"))
        .header("cookie", cookie)
        .send()
        .await
        .expect("live");
    assert_eq!(response.status(), 200, "live");
    ready.send(()).await.expect("ready");
    let mut buffer = String::new();
    loop {
        let chunk = tokio::select! {
            chunk = response.chunk() => chunk,
            () = stop.notified() => return,
        };
        let Ok(Some(chunk)) = chunk else { return };
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        // Only whole events (ending in a blank line) are read.
        while let Some(end) = buffer.find("\n\n") {
            let event: String = buffer.drain(..end + 2).collect();
            let mut seen = seen.lock().expect("seen");
            if event.contains("event: reload") {
                seen.reloads += 1;
            }
            for part in event.split(r#"<tr id="m-"#).skip(1) {
                let digits: String = part.chars().take_while(char::is_ascii_digit).collect();
                if let Ok(seq) = digits.parse() {
                    seen.seqs.insert(seq);
                }
            }
        }
    }
}

/// Books at `rate` per second for `seconds`: sorted latencies and the seqs booked.
async fn book(
    client: &Client,
    base: &str,
    token: &str,
    run: &str,
    rate: u64,
    seconds: u64,
) -> (Vec<Duration>, Vec<i64>) {
    let total = rate * seconds;
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let started = tokio::time::Instant::now();
    let mut tasks = Vec::with_capacity(total as usize);
    for n in 0..total {
        tokio::time::sleep_until(started + interval * n as u32).await;
        let (client, url, token) = (
            client.clone(),
            format!("{base}/api/v1/movements"),
            token.to_owned(),
        );
        let key = format!("{run}-{n}");
        tasks.push(tokio::spawn(async move {
            let sent = Instant::now();
            let response = client
                .post(url)
                .bearer_auth(token)
                .header("Idempotency-Key", key)
                .json(&json!({"kind":"receive","sku":"ART-00000","quantity":1,"to":"Z0-0000"}))
                .send()
                .await
                .expect("booking");
            assert_eq!(response.status(), 201);
            let body: Value = response.json().await.expect("answer");
            (
                sent.elapsed(),
                body["movements"][0]["seq"].as_i64().expect("seq"),
            )
        }));
    }
    let mut latencies = Vec::with_capacity(tasks.len());
    let mut seqs = Vec::with_capacity(tasks.len());
    for task in tasks {
        let (latency, seq) = task.await.expect("booking task");
        latencies.push(latency);
        seqs.push(seq);
    }
    latencies.sort();
    (latencies, seqs)
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .trim()
        .to_owned()
}

#[tokio::main]
async fn main() {
    let requests = env_number("BENCH_REQUESTS", 300);
    let rate = env_number("BENCH_RATE", 500);
    let seconds = env_number("BENCH_SECONDS", 10);
    let pages = env_number("BENCH_PAGES", 50);
    // At least 100 articles, so that each article's 10 places differ.
    let articles = env_number("BENCH_ARTICLES", 10_000).max(100) as usize;
    let scale = Scale {
        articles,
        locations: articles / 10,
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("bench.db");
    println!("load average before: {}", load());
    let seeding = Instant::now();
    cli(&db, &["migrate"], None);
    cli(
        &db,
        &[
            "user",
            "add",
            "bench-manager",
            "--role",
            "manager",
            "--restricted",
            "--password-stdin",
        ],
        Some(&format!("{PASSWORD}\n")),
    );
    let staff = cli(
        &db,
        &["user", "add", "bench-staff", "--role", "staff"],
        None,
    );
    master_data(dir.path(), &db, scale);
    stock(&db, scale).await;
    println!(
        "seeded {} articles, {} locations, {} stock rows in {:.1} s",
        scale.articles,
        scale.locations,
        scale.articles * PLACES_PER_ARTICLE,
        seeding.elapsed().as_secs_f64()
    );

    let (mut child, base) = serve(&db).await;
    let client = Client::builder()
        .redirect(Policy::none())
        .build()
        .expect("client");
    let cookie = log_in(&client, &base, "bench-manager").await;

    println!("== pages, {requests} requests each, one at a time (cleared manager) ==");
    println!("| path | p50 ms | p99 ms | max ms | body bytes |");
    println!("|---|---|---|---|---|");
    // An article and a location somewhere in the middle.
    let middle = scale.articles * 42 / 100 + 17;
    let paths = [
        "/stock".to_owned(),
        scale.far_page(),
        format!("/stock?q=article+{middle:05}"),
        "/stock?q=no-such-thing".to_owned(),
        "/stock?zone=Z3&supply_class=III".to_owned(),
        "/stock?classification=restricted".to_owned(),
        "/stock?location=Z3-0003".to_owned(),
        "/stock?q=3074257BF7194E4000001A85".to_owned(),
        format!("/articles/{}", sku(middle)),
        "/locations/Z3-0003".to_owned(),
        "/".to_owned(),
        "/utilisation".to_owned(),
    ];
    for path in &paths {
        let path = path.as_str();
        // One warm-up request, then the measured ones.
        measure(&client, &base, &cookie, path, 1).await;
        let (latencies, size) = measure(&client, &base, &cookie, path, requests).await;
        println!(
            "| `{path}` | {:.2} | {:.2} | {:.2} | {size} |",
            ms(percentile(&latencies, 0.5)),
            ms(percentile(&latencies, 0.99)),
            ms(percentile(&latencies, 1.0)),
        );
    }
    println!("load average after the pages: {}", load());

    println!("== live movements: bookings at {rate}/s for {seconds} s ==");
    let report = |name: &str, latencies: &[Duration]| {
        println!(
            "{name}: {} bookings, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            latencies.len(),
            ms(percentile(latencies, 0.5)),
            ms(percentile(latencies, 0.99)),
            ms(percentile(latencies, 1.0))
        );
    };
    let (before, _) = book(&client, &base, &staff, "before", rate, seconds).await;
    report("no page open", &before);

    let stop = Arc::new(tokio::sync::Notify::new());
    let (ready_tx, mut ready) = tokio::sync::mpsc::channel(pages as usize);
    let mut watchers = Vec::new();
    let mut seen = Vec::new();
    for n in 0..pages {
        // Each page is its own browser: its own connection and session.
        let page_client = Client::builder()
            .redirect(Policy::none())
            .build()
            .expect("client");
        let page_cookie = if n == 0 {
            cookie.clone()
        } else {
            log_in(&page_client, &base, "bench-manager").await
        };
        let page_seen = Arc::new(Mutex::new(Seen::default()));
        seen.push(page_seen.clone());
        watchers.push(tokio::spawn(watch(
            page_client,
            base.clone(),
            page_cookie,
            page_seen,
            ready_tx.clone(),
            stop.clone(),
        )));
    }
    for _ in 0..pages {
        ready.recv().await.expect("a page connected");
    }
    let (with_pages, seqs) = book(&client, &base, &staff, "pages", rate, seconds).await;
    report(&format!("{pages} pages connected"), &with_pages);
    // Let the last events arrive (bounded), then check every page.
    let deadline = Instant::now() + Duration::from_secs(10);
    let missing = loop {
        let missing: usize = seen
            .iter()
            .map(|s| {
                let s = s.lock().expect("seen");
                seqs.iter().filter(|seq| !s.seqs.contains(seq)).count()
            })
            .sum();
        if missing == 0 || Instant::now() > deadline {
            break missing;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let reloads: usize = seen.iter().map(|s| s.lock().expect("seen").reloads).sum();
    stop.notify_waiters();
    for watcher in watchers {
        watcher.abort();
    }
    println!(
        "pages: {pages}, movements booked: {}, missing across all pages: {missing}, reload events: {reloads}",
        seqs.len()
    );
    let (after, _) = book(&client, &base, &staff, "after", rate, seconds).await;
    report("no page open, again", &after);
    let baseline = ms(percentile(&before, 0.99)).max(ms(percentile(&after, 0.99)));
    println!(
        "booking p99 with pages / worse baseline p99: {:.2}",
        ms(percentile(&with_pages, 0.99)) / baseline
    );
    println!("load average after: {}", load());
    let _ = child.kill();
    let _ = child.wait();
}
