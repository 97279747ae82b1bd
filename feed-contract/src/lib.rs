//! The depot feed's contract (brief §6): MQTT topics, the versioned JSON
//! payload of each and the broker address, shared by the depot's publisher and the regional hub so
//! both sides compile against one definition.
//!
//! It knows nothing of either side's internals (no database, no broker
//! client, no domain types): only names, shapes and the rules of the wire.
//! Every payload carries `"v":2`, the depot id, its epoch, a ledger `seq`
//! and an RFC 3339 time; `schemas/` holds one JSON Schema per topic, checked
//! against these types by `tests/schemas.rs`. One topic runs the other way:
//! the hub's requests to resend movements it misses (`hub/v1/{depot}/resend`).

pub mod broker;
pub mod payload;
pub mod topic;

pub use broker::{Broker, Tls};
pub use payload::{
    ArticleFacts, ChainHash, DepotUtilization, Epoch, EpochId, Fill, Hex, LinkState, MovementKind,
    MovementMessage, ResendRequest, Restored, Source, Status, StockSnapshot, Unit,
    UtilizationSnapshot, ZoneStock, ZoneUtilization, MAX_RESEND, V2,
};
pub use topic::{resend_topic, Audience, DepotId, Topic};
