//! The shipped broker configuration (`deploy/mosquitto/`) against the real
//! thing: Mosquitto with TLS client certificates from `scripts/test-ca.sh`,
//! the ACL matrix of depots, cells and the hub, the depot-server and
//! regional-hub binaries over `mqtts://`, and a real network partition
//! between depot and broker. One test binary; each test starts its own broker.

#![allow(clippy::unwrap_used)]

mod acl;
mod harness;
mod partition;
#[path = "../support/mod.rs"]
mod support;
