//! Depot Edge's depot server: the inventory ledger, the handheld and
//! management API, gate ingest from the dock doors' gateways (`gates`), and
//! the feed to regional hubs (`replication`); HTTPS (`tls`) and systemd's
//! service protocol (`service`).
//! See ARCHITECTURE.md at the repository root for the map.

pub mod app;
pub mod backups;
pub mod config;
pub mod connections;
pub mod demo;
pub mod depot;
pub mod domain;
pub mod epc;
pub mod gates;
pub mod http;
pub mod import;
pub mod metrics;
pub mod passwords;
pub mod repeat_log;
pub mod replication;
pub mod rpi;
pub mod service;
pub mod store;
pub mod tls;
pub mod tokens;
pub mod users;
pub mod web;
