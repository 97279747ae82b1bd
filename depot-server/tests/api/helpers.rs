//! `spawn_app()`: a server on a free port with its own database file.

use std::net::SocketAddr;
use std::path::PathBuf;

use std::sync::Arc;

use depot_server::config::Config;
use depot_server::depot::{Depot, DepotOptions};
use depot_server::domain::access::Role;
use depot_server::metrics::Metrics;
use reqwest::{Client, Response};
use serde_json::{json, Value};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running server and tokens for each role.
pub struct TestApp {
    pub address: SocketAddr,
    pub client: Client,
    pub staff: String,
    pub manager: String,
    pub auditor: String,
    /// Staff with clearance for restricted articles.
    pub cleared_staff: String,
    pub db: PathBuf,
    /// The configuration it runs with (kept across restarts).
    pub config: Config,
    _dir: Option<tempfile::TempDir>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
}

/// A fresh database with users and a little master data, and a server on it.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// As [`spawn_app`], with the configuration changed by `tweak` (e.g. a broker).
pub async fn spawn_app_with(tweak: impl FnOnce(&mut Config)) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("depot.db");
    let (depot, writer) = Depot::open(&db, &DepotOptions::default(), Arc::new(Metrics::default()))
        .await
        .expect("open db");
    let mut tokens = Vec::new();
    for (name, role, restricted) in [
        ("staff", Role::Staff, false),
        ("manager", Role::Manager, true),
        ("auditor", Role::Auditor, true),
        ("cleared-staff", Role::Staff, true),
    ] {
        tokens.push(
            depot_server::users::add(&depot, name, role, restricted)
                .await
                .expect("add user"),
        );
    }
    depot.close().await;
    drop(depot);
    writer.finished().await;
    let mut config = Config {
        db: db.clone(),
        listen: "127.0.0.1:0".parse().expect("address"),
        ..Config::default()
    };
    tweak(&mut config);
    let mut app = start(config, tokens).await;
    app._dir = Some(dir);
    app.seed().await;
    app
}

async fn start(config: Config, tokens: Vec<String>) -> TestApp {
    let db = config.db.clone();
    let bound = depot_server::app::bind(config.clone()).await.expect("bind");
    let address = bound.address;
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(bound.serve(async {
        let _ = stopped.await;
    }));
    TestApp {
        address,
        client: Client::new(),
        staff: tokens[0].clone(),
        manager: tokens[1].clone(),
        auditor: tokens[2].clone(),
        cleared_staff: tokens[3].clone(),
        db,
        config,
        _dir: None,
        stop: Some(stop),
        server: Some(server),
    }
}

impl TestApp {
    /// Stops the server gracefully and starts a new one on the same database.
    pub async fn restart(self) -> TestApp {
        self.restart_capped(None).await
    }

    /// Restarts with the database capped at its current `pages` plus 64 KiB,
    /// so that it fills up as a full disk would.
    pub async fn restart_with_page_cap(self, pages: i64) -> TestApp {
        let kib = u64::try_from(pages).expect("pages") * 4 + 64;
        self.restart_capped(Some(kib)).await
    }

    async fn restart_capped(mut self, max_db_size_kib: Option<u64>) -> TestApp {
        self.shutdown().await;
        let tokens = vec![
            self.staff.clone(),
            self.manager.clone(),
            self.auditor.clone(),
            self.cleared_staff.clone(),
        ];
        let config = Config {
            max_db_size_kib,
            ..self.config.clone()
        };
        let mut app = start(config, tokens).await;
        app._dir = self._dir.take();
        app
    }

    /// Adds a user as the `user add` command does, from a second process's
    /// view: its own depot on the same database file. Returns the token.
    pub async fn add_user(&self, name: &str, role: Role, restricted: bool) -> String {
        let (depot, writer) = Depot::open(
            &self.db,
            &DepotOptions::default(),
            Arc::new(Metrics::default()),
        )
        .await
        .expect("open db");
        let token = depot_server::users::add(&depot, name, role, restricted)
            .await
            .expect("add user");
        depot.close().await;
        drop(depot);
        writer.finished().await;
        token
    }

    /// Sets a user's web password as `user passwd` does (its own depot on the same file).
    pub async fn set_password(&self, name: &str, password: &str) {
        let (depot, writer) = Depot::open(
            &self.db,
            &DepotOptions::default(),
            Arc::new(Metrics::default()),
        )
        .await
        .expect("open db");
        depot_server::users::passwd(&depot, name, password)
            .await
            .expect("set password");
        depot.close().await;
        drop(depot);
        writer.finished().await;
    }

    /// Stops the server and waits until every booking is answered.
    pub async fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.expect("server task").expect("server");
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    pub async fn get(&self, token: &str, path: &str) -> Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("GET")
    }

    pub async fn post(&self, token: &str, path: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("POST")
    }

    pub async fn put(&self, token: &str, path: &str, body: &Value) -> Response {
        self.client
            .put(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("PUT")
    }

    /// Books with an Idempotency-Key, as a handheld does.
    pub async fn book(&self, token: &str, key: &str, body: &Value) -> Response {
        self.client
            .post(self.url("/api/v1/movements"))
            .bearer_auth(token)
            .header("Idempotency-Key", key)
            .json(body)
            .send()
            .await
            .expect("POST movement")
    }

    /// Articles ART-1 (piece, 1 l, 1 kg), LOT-1 (lot-tracked), SECRET-1
    /// (restricted), TAGGED (GTIN of the brief's SGTIN vector); bins
    /// (10 l), B-1 (unlimited), dock D-1.
    async fn seed(&self) {
        let articles = [
            json!({"sku":"ART-1","name":"Article one","unit":"piece","unit_volume_ml":1000,"unit_weight_g":1000}),
            json!({"sku":"LOT-1","name":"Lot article","unit":"box","lot_tracked":true}),
            json!({"sku":"SECRET-1","name":"Restricted","unit":"box","classification":"restricted"}),
            json!({"sku":"TAGGED","name":"Tagged article","unit":"piece","gtin":"80614141123458"}),
        ];
        for article in &articles {
            let response = self.post(&self.manager, "/api/v1/articles", article).await;
            assert_eq!(response.status(), 201, "seed article {article}");
        }
        let locations = [
            json!({"code":"A-1","zone":"A","kind":"bin","capacity_volume_l":10}),
            json!({"code":"A-2","zone":"A","kind":"bin","capacity_volume_l":10}),
            json!({"code":"B-1","zone":"B","kind":"bin"}),
            json!({"code":"D-1","zone":"DOCK","kind":"dock"}),
        ];
        for location in &locations {
            let response = self
                .post(&self.manager, "/api/v1/locations", location)
                .await;
            assert_eq!(response.status(), 201, "seed location {location}");
        }
    }

    /// The stock of `sku` at `location` (0 if none).
    pub async fn stock_of(&self, sku: &str, location: &str) -> i64 {
        let body: Value = self
            .get(
                &self.manager,
                &format!("/api/v1/stock?sku={sku}&location={location}"),
            )
            .await
            .json()
            .await
            .expect("stock json");
        body["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|i| i["quantity"].as_i64().unwrap_or(0))
            .sum()
    }

    /// Checks the ledger invariant and the database's integrity.
    pub async fn assert_ledger_consistent(&self) {
        let pool = depot_server::store::open_pool(&self.db, &Default::default())
            .await
            .expect("open db");
        let mut conn = pool.acquire().await.expect("conn");
        let mismatches = depot_server::store::ledger::ledger_mismatches(&mut conn)
            .await
            .expect("query");
        assert!(
            mismatches.is_empty(),
            "stock differs from the ledger: {mismatches:?}"
        );
        let integrity: String = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(&mut *conn)
            .await
            .expect("check");
        assert_eq!(integrity, "ok");
        let seqs: Vec<i64> = sqlx::query_scalar("SELECT seq FROM movements ORDER BY seq")
            .fetch_all(&mut *conn)
            .await
            .expect("seqs");
        assert!(
            seqs.iter().enumerate().all(|(i, s)| *s == i as i64 + 1),
            "seq has gaps: {seqs:?}"
        );
        drop(conn);
        pool.close().await;
    }
}

/// Asserts a problem+json answer with `status`, returns its body.
pub async fn expect_problem(response: Response, status: u16) -> Value {
    assert_eq!(response.status(), status, "status");
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap_or("").to_owned());
    assert_eq!(
        content_type.as_deref(),
        Some("application/problem+json"),
        "content type"
    );
    let body: Value = response.json().await.expect("problem json");
    assert_eq!(body["status"], status);
    assert!(body["type"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(body["title"].as_str().is_some());
    assert!(body["detail"].as_str().is_some());
    body
}
