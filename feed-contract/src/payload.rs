//! The JSON payload of each topic, version 1. Every payload has `v` (always
//! 1), `depot`, `seq` and `time` (RFC 3339); unknown fields are refused, so a
//! change of shape is a new version, never a silent one.
//!
//! `seq` is a ledger seq: a movement's own; for a stock snapshot the seq of
//! the article's newest movement (0 if none); for utilisation and status the
//! ledger's newest seq when it was taken. A consumer applies a movement once
//! per (depot, seq) and keeps the snapshot with the highest (seq, time).
//! An empty retained message on a `stock/{sku}` topic is not a payload: it
//! clears the broker's retained snapshot (an article moved to the other
//! audience).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;

/// The payload version, serialised as the number 1; any other number is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct V1;

impl Serialize for V1 {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u8(1)
    }
}

impl<'de> Deserialize<'de> for V1 {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match u8::deserialize(deserializer)? {
            1 => Ok(V1),
            other => Err(serde::de::Error::custom(format!(
                "payload version {other}; this reader knows version 1"
            ))),
        }
    }
}

/// What a movement did (brief §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MovementKind {
    Receive,
    Move,
    Issue,
    Adjust,
    TransferOut,
    TransferIn,
}

/// Where a booking came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Handheld,
    Gate,
    Web,
    Import,
    Api,
}

/// The base unit an article is counted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    Piece,
    Kg,
    L,
    M,
    Box,
    Pallet,
}

/// Whether the depot's feed is connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkState {
    Online,
    Offline,
}

/// `depot/v1/{depot}/status` (retained; `offline` is the Last Will, set when
/// the depot connects, so its `seq` and `time` are those of the connect).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Status {
    pub v: V1,
    pub depot: String,
    /// The ledger's newest seq when this was sent.
    pub seq: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    pub state: LinkState,
}

/// `depot/v1/{depot}/movements` and `…/restricted/movements`: one ledger
/// movement (not retained). Quantities are in the article's base unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MovementMessage {
    pub v: V1,
    pub depot: String,
    pub seq: u64,
    /// When the movement was recorded.
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    pub kind: MovementKind,
    pub sku: String,
    pub quantity: u64,
    pub from: Option<String>,
    pub to: Option<String>,
    /// `null` when the article is not lot-tracked.
    pub lot: Option<String>,
    /// Pure-identity EPC URIs of the items moved; empty for a count booking.
    pub epcs: Vec<String>,
    pub source: Source,
}

/// What the hub shows of an article besides its stock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArticleFacts {
    pub sku: String,
    pub name: String,
    pub unit: Unit,
    pub gtin: Option<String>,
    /// 13 digits.
    pub nsn: Option<String>,
    pub supply_class: Option<String>,
}

/// An article's stock in one zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneStock {
    pub zone: String,
    pub quantity: u64,
}

/// `depot/v1/{depot}/stock/{sku}` and `…/restricted/stock/{sku}` (retained):
/// an article's current stock, in total and per zone (zones without stock
/// are left out).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StockSnapshot {
    pub v: V1,
    pub depot: String,
    /// The seq of the article's newest movement; 0 if it has none.
    pub seq: u64,
    /// When the snapshot was taken.
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    pub article: ArticleFacts,
    pub total: u64,
    pub zones: Vec<ZoneStock>,
}

/// Used and capacity in one dimension; capacity and free are `null` where
/// not every location counted has a capacity in this dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fill {
    pub used: u64,
    pub capacity: Option<u64>,
    pub free: Option<u64>,
}

/// Utilisation of one zone, or of the whole depot (`zone` absent there).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneUtilization {
    pub zone: String,
    pub volume_ml: Fill,
    pub weight_g: Fill,
    pub pallets: Fill,
}

/// The depot's total utilisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DepotUtilization {
    pub volume_ml: Fill,
    pub weight_g: Fill,
    pub pallets: Fill,
}

/// `depot/v1/{depot}/utilization` (retained): capacity used and free per
/// zone and for the depot, counting all stock (free capacity is what a
/// depot shares; which articles fill it is not said).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UtilizationSnapshot {
    pub v: V1,
    pub depot: String,
    pub seq: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    pub total: DepotUtilization,
    pub zones: Vec<ZoneUtilization>,
}

/// Serialises a payload; the types hold only strings, numbers and lists, so
/// this cannot fail.
pub fn to_bytes<T: Serialize>(payload: &T) -> Vec<u8> {
    serde_json::to_vec(payload).unwrap_or_default()
}
