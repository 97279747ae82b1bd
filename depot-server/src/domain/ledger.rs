//! The movement ledger's lines: append-only, numbered by a gapless `seq`.

use time::OffsetDateTime;

use super::article::Sku;
use super::booking::{MovementKind, Source};
use super::location::LocationCode;
use super::quantity::Lot;

/// One line of the ledger as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Movement {
    /// Per-depot, gapless, starting at 1.
    pub seq: i64,
    pub kind: MovementKind,
    pub sku: Sku,
    pub quantity: i64,
    pub from: Option<LocationCode>,
    pub to: Option<LocationCode>,
    pub lot: Lot,
    /// Pure-identity URIs of the items moved; empty for a count booking.
    pub epcs: Vec<String>,
    /// The user who booked it.
    pub actor: String,
    pub source: Source,
    pub idempotency_key: Option<String>,
    pub reason: Option<String>,
    pub recorded_at: OffsetDateTime,
}
