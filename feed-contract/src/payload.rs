//! The JSON payload of each topic, version 2. Every payload has `v` (always
//! 2), `depot`, `epoch`, `seq` and `time` (RFC 3339); unknown fields are
//! refused, so a change of shape is a new version, never a silent one.
//! (Version 1 had no `epoch`, no chain hashes and no `restored`; since
//! version 1 readers refuse unknown fields, adding them is version 2.)
//!
//! `seq` is a ledger seq: a movement's own; for a stock snapshot the seq of
//! the article's newest movement (0 if none); for utilisation and status the
//! ledger's newest seq when it was taken.
//!
//! **Epochs.** A depot's history is numbered by `seq`, and a restore from
//! a backup rewinds it: the movements booked after the backup are lost and
//! new ones take their seqs. So a seq alone does not name a movement; the
//! pair (`epoch.id`, `seq`) does. A depot's first database has an epoch of
//! generation 0 and base 0; every restore starts a new epoch (a fresh random
//! id, a higher generation, `base` = the seq the backup ended at). Within
//! one epoch a seq is never published with other content, and each movement
//! carries its hash chain link (`hash`, `prev`), so a reader can also catch
//! a history rewritten without a restore.
//!
//! A consumer applies a movement once per (depot, epoch, seq), the movements
//! of an older epoch above the newer epoch's `base` being lost, and keeps
//! the snapshot of the newest epoch with the highest (seq, time).
//! An empty retained message on a `stock/{sku}` topic is not a payload: it
//! clears the broker's retained snapshot (an article moved to the other
//! audience).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;

/// The payload version, serialised as the number 2; any other number is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct V2;

impl Serialize for V2 {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u8(2)
    }
}

impl<'de> Deserialize<'de> for V2 {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match u8::deserialize(deserializer)? {
            2 => Ok(V2),
            other => Err(serde::de::Error::custom(format!(
                "payload version {other}; this reader knows version 2"
            ))),
        }
    }
}

/// Lowercase hex of exactly `N` digits, checked when read.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hex<const N: usize>(String);

impl<const N: usize> Hex<N> {
    /// `text` if it is `N` lowercase hex digits.
    pub fn parse(text: &str) -> Option<Self> {
        let digits = text.len() == N
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        digits.then(|| Self(text.to_owned()))
    }

    /// The digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<const N: usize> std::fmt::Display for Hex<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl<const N: usize> Serialize for Hex<N> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de, const N: usize> Deserialize<'de> for Hex<N> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Hex::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!("expected {N} lowercase hex digits, got {text:?}"))
        })
    }
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Hex<64> {
    /// The hex of 32 bytes (a SHA-256).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(hex_of(&bytes))
    }
}

impl Hex<32> {
    /// The hex of 16 bytes (an epoch id).
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(hex_of(&bytes))
    }
}

/// A link of the depot's ledger hash chain: SHA-256, 64 hex digits. The
/// hash "before" seq 1 is 64 zeros.
pub type ChainHash = Hex<64>;

/// An epoch's random id: 128 bits, 32 hex digits.
pub type EpochId = Hex<32>;

/// Which history of the depot a payload belongs to (see the module doc).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Epoch {
    /// Random, fresh at every restore.
    pub id: EpochId,
    /// 0 for a depot's first database; each restore takes one more than
    /// the highest the depot knew. A higher generation is a newer epoch.
    pub generation: u64,
    /// The seq this epoch's history continues from: the backup's last seq
    /// (0 for generation 0). Seqs up to it are shared with the epoch before.
    pub base: u64,
}

/// What a restore put back: the backup's chain head, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Restored {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The backup's last seq (the epoch's `base`).
    pub head_seq: u64,
    /// Its chain hash; `null` for a backup from before the hash chain.
    pub head_hash: Option<ChainHash>,
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
/// the depot connects, so its `seq`, `hash` and `time` are those of the connect).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Status {
    pub v: V2,
    pub depot: String,
    pub epoch: Epoch,
    /// The ledger's newest seq when this was sent: the chain head.
    pub seq: u64,
    /// The chain hash of the movement at `seq` (64 zeros for seq 0).
    pub hash: ChainHash,
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    pub state: LinkState,
    /// Set when this epoch began with a restore; `null` for generation 0.
    pub restored: Option<Restored>,
}

/// `depot/v1/{depot}/movements` and `…/restricted/movements`: one ledger
/// movement (not retained). Quantities are in the article's base unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MovementMessage {
    pub v: V2,
    pub depot: String,
    pub epoch: Epoch,
    pub seq: u64,
    /// This movement's chain hash: SHA-256 over `prev` and its stored content.
    pub hash: ChainHash,
    /// The chain hash of the movement at `seq - 1` (64 zeros at seq 1).
    pub prev: ChainHash,
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
    pub v: V2,
    pub depot: String,
    pub epoch: Epoch,
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
    pub v: V2,
    pub depot: String,
    pub epoch: Epoch,
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

/// The most movements one resend request asks for; the hub asks again for
/// what is still missing.
pub const MAX_RESEND: u64 = 1_000;

/// `hub/v1/{depot}/resend` (not retained, QoS 1): the hub asks a depot to
/// publish its movements `from..=to` of epoch `epoch` again, because the
/// hub misses them: a broker that lost messages it had acknowledged (killed
/// between two saves of its state) leaves a gap no one else would fill.
/// A depot answers only for its current epoch and only for seqs the broker
/// has acknowledged (the others it sends anyway), at most [`MAX_RESEND`] of
/// them, with the same payloads as the first time and fresh stock and
/// utilisation snapshots of what they touched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResendRequest {
    pub v: V2,
    /// The depot asked.
    pub depot: String,
    /// The epoch whose seqs are meant.
    pub epoch: EpochId,
    /// The first seq missing (at least 1).
    pub from: u64,
    /// The last seq missing, at least `from`.
    pub to: u64,
    /// When the hub asked.
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
}
