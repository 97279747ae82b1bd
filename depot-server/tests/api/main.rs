//! The depot server through its real HTTP listener (127.0.0.1:0) on a real
//! SQLite file, and its command line as a child process. One test binary.

#![allow(clippy::unwrap_used)]

mod abuse;
mod bookings;
mod chain;
mod cli;
mod clock;
mod contract;
mod crash;
mod feed;
mod gates;
mod helpers;
mod http_errors;
mod master_data;
mod restore;
mod rpi;
mod service;
mod tidy;
mod tls;
mod web;
