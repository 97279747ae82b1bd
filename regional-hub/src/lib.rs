//! `regional-hub`: applies the depots' MQTT feeds (brief §6, `feed-contract`)
//! once per (depot, seq) and serves the region's stock, free capacity and
//! each depot's freshness (brief §7).
//!
//! - `core/`: pure decisions (cursor and gaps, snapshot order, link, freshness).
//! - `store`: sqlx; one transaction per feed message.
//! - `feed`: the rumqttc adapter (subscribe, parse, apply, then acknowledge).
//! - `http/`: the axum API with bearer tokens and the clearance rule, and
//!   the web page (`http/pages/`).
//! - `metrics`: the Prometheus figures.
//! - `config`, `app`, `tokens`: settings, wiring, API tokens.
//! - `demo` (feature `demo`): a live region of simulated depots.

pub mod app;
pub mod config;
pub mod core;
#[cfg(feature = "demo")]
pub mod demo;
pub mod feed;
pub mod http;
pub mod metrics;
pub mod store;
pub mod tokens;
