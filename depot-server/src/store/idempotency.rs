//! The `idempotency_records` table: the outcome of the first booking sent
//! with each (actor, Idempotency-Key), so a retry gets the same outcome.
//!
//! The outcome is stored as versioned JSON, not as any adapter's answer, so a
//! handheld, the scan page and a gate replay the same outcome and each
//! renders it its own way:
//! - `{"v":1,"booked":[12,13]}`: the seqs of the movements the booking wrote;
//!   a replay reads them back from the ledger, which never changes.
//! - `{"v":1,"refused":{"rule":"insufficient_stock","sku":"X","location":"A-01",
//!   "available":3,"requested":5}}`: the refusal with its figures; `rule` names
//!   the refusal, the other fields are its figures (see [`RefusalRecord`]).
//! - `{"v":0,"status":409,"body":"…"}`: a refusal recorded by schema 1 as an
//!   HTTP problem (migration 0002); replayed verbatim. Such records vanish
//!   with the retention period.
//!
//! Records older than the retention period are deleted by the writer
//! ([`purge_older_than`]); a retry after that is a new booking.

use serde::{Deserialize, Serialize};
use sqlx::SqliteConnection;
use time::OffsetDateTime;

use super::timestamp;
use crate::domain::article::{Sku, Unit};
use crate::domain::booking::{BookingError, MovementKind, Refusal};
use crate::domain::location::LocationCode;
use crate::domain::FieldError;

/// A stored outcome, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredOutcome {
    /// The booking wrote these movements (seqs in booking order).
    Booked(Vec<i64>),
    /// The booking was refused.
    Refused(Refusal),
}

/// A stored record: the request it answered and its outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    /// SHA-256 (hex) of the canonical request it answered.
    pub request_hash: String,
    pub outcome: StoredOutcome,
}

/// The JSON form of an outcome (see the module docs).
#[derive(Debug, Serialize, Deserialize)]
struct OutcomeJson {
    v: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    booked: Option<Vec<i64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refused: Option<RefusalRecord>,
    /// v0 only: the HTTP status and problem body recorded by schema 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    body: Option<String>,
}

/// A refusal as stored: `rule` names it, the other fields are its figures.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "rule", rename_all = "snake_case", deny_unknown_fields)]
pub enum RefusalRecord {
    MissingLocation {
        field: String,
        kind: String,
    },
    UnexpectedLocation {
        field: String,
        kind: String,
    },
    SameLocation,
    ReasonRequired,
    KindNotBookable {
        kind: String,
    },
    LotRequired {
        sku: String,
    },
    LotNotTracked {
        sku: String,
    },
    NotSerialisable {
        sku: String,
        unit: String,
    },
    InsufficientStock {
        sku: String,
        location: String,
        available: i64,
        requested: i64,
    },
    SerialisedItems {
        sku: String,
        location: String,
        items: i64,
        available: i64,
        requested: i64,
    },
    CapacityExceeded {
        location: String,
        dimension: String,
        capacity: i64,
        used: i64,
        requested: i64,
    },
    QuantityOverflow {
        location: String,
    },
    ItemAlreadyInStock {
        epc: String,
        location: String,
    },
    ItemNotInStock {
        epc: String,
    },
    ItemElsewhere {
        epc: String,
        location: String,
    },
    UnknownArticle {
        sku: String,
    },
    UnknownLocation {
        field: String,
        code: String,
    },
    UnknownEpc {
        epc: String,
    },
    DuplicateEpc {
        epc: String,
    },
}

impl RefusalRecord {
    /// The stored form of a refusal; `None` for a v0 record, which is stored as it came.
    fn of(refusal: &Refusal) -> Option<Self> {
        use BookingError as E;
        let code = |c: &LocationCode| c.as_str().to_owned();
        let sku = |s: &Sku| s.as_str().to_owned();
        Some(match refusal {
            Refusal::Rule(rule) => match rule {
                E::MissingLocation { field, kind } => RefusalRecord::MissingLocation {
                    field: (*field).to_owned(),
                    kind: kind.as_str().to_owned(),
                },
                E::UnexpectedLocation { field, kind } => RefusalRecord::UnexpectedLocation {
                    field: (*field).to_owned(),
                    kind: kind.as_str().to_owned(),
                },
                E::SameLocation => RefusalRecord::SameLocation,
                E::ReasonRequired => RefusalRecord::ReasonRequired,
                E::KindNotBookable(kind) => RefusalRecord::KindNotBookable {
                    kind: kind.as_str().to_owned(),
                },
                E::LotRequired { sku: s } => RefusalRecord::LotRequired { sku: sku(s) },
                E::LotNotTracked { sku: s } => RefusalRecord::LotNotTracked { sku: sku(s) },
                E::NotSerialisable { sku: s, unit } => RefusalRecord::NotSerialisable {
                    sku: sku(s),
                    unit: unit.as_str().to_owned(),
                },
                E::InsufficientStock {
                    sku: s,
                    location,
                    available,
                    requested,
                } => RefusalRecord::InsufficientStock {
                    sku: sku(s),
                    location: code(location),
                    available: *available,
                    requested: *requested,
                },
                E::SerialisedItems {
                    sku: s,
                    location,
                    items,
                    available,
                    requested,
                } => RefusalRecord::SerialisedItems {
                    sku: sku(s),
                    location: code(location),
                    items: *items,
                    available: *available,
                    requested: *requested,
                },
                E::CapacityExceeded {
                    location,
                    dimension,
                    capacity,
                    used,
                    requested,
                } => RefusalRecord::CapacityExceeded {
                    location: code(location),
                    dimension: (*dimension).to_owned(),
                    capacity: *capacity,
                    used: *used,
                    requested: *requested,
                },
                E::QuantityOverflow { location } => RefusalRecord::QuantityOverflow {
                    location: code(location),
                },
                E::ItemAlreadyInStock { epc, location } => RefusalRecord::ItemAlreadyInStock {
                    epc: epc.clone(),
                    location: code(location),
                },
                E::ItemNotInStock { epc } => RefusalRecord::ItemNotInStock { epc: epc.clone() },
                E::ItemElsewhere { epc, location } => RefusalRecord::ItemElsewhere {
                    epc: epc.clone(),
                    location: code(location),
                },
            },
            Refusal::UnknownArticle { sku } => RefusalRecord::UnknownArticle { sku: sku.clone() },
            Refusal::UnknownLocation { field, code } => RefusalRecord::UnknownLocation {
                field: (*field).to_owned(),
                code: code.clone(),
            },
            Refusal::UnknownEpc { epc } => RefusalRecord::UnknownEpc { epc: epc.clone() },
            Refusal::DuplicateEpc { epc } => RefusalRecord::DuplicateEpc { epc: epc.clone() },
            Refusal::Recorded { .. } => return None,
        })
    }

    /// The refusal this record stores.
    fn into_refusal(self) -> Result<Refusal, FieldError> {
        use BookingError as E;
        let code = |c: &str| LocationCode::parse(c);
        let kind = |k: &str| MovementKind::parse(k);
        Ok(match self {
            RefusalRecord::MissingLocation { field, kind: k } => {
                Refusal::Rule(E::MissingLocation {
                    field: side(&field)?,
                    kind: kind(&k)?,
                })
            }
            RefusalRecord::UnexpectedLocation { field, kind: k } => {
                Refusal::Rule(E::UnexpectedLocation {
                    field: side(&field)?,
                    kind: kind(&k)?,
                })
            }
            RefusalRecord::SameLocation => Refusal::Rule(E::SameLocation),
            RefusalRecord::ReasonRequired => Refusal::Rule(E::ReasonRequired),
            RefusalRecord::KindNotBookable { kind: k } => {
                Refusal::Rule(E::KindNotBookable(kind(&k)?))
            }
            RefusalRecord::LotRequired { sku } => Refusal::Rule(E::LotRequired {
                sku: Sku::parse(&sku)?,
            }),
            RefusalRecord::LotNotTracked { sku } => Refusal::Rule(E::LotNotTracked {
                sku: Sku::parse(&sku)?,
            }),
            RefusalRecord::NotSerialisable { sku, unit } => Refusal::Rule(E::NotSerialisable {
                sku: Sku::parse(&sku)?,
                unit: Unit::parse(&unit)?,
            }),
            RefusalRecord::InsufficientStock {
                sku,
                location,
                available,
                requested,
            } => Refusal::Rule(E::InsufficientStock {
                sku: Sku::parse(&sku)?,
                location: code(&location)?,
                available,
                requested,
            }),
            RefusalRecord::SerialisedItems {
                sku,
                location,
                items,
                available,
                requested,
            } => Refusal::Rule(E::SerialisedItems {
                sku: Sku::parse(&sku)?,
                location: code(&location)?,
                items,
                available,
                requested,
            }),
            RefusalRecord::CapacityExceeded {
                location,
                dimension,
                capacity,
                used,
                requested,
            } => Refusal::Rule(E::CapacityExceeded {
                location: code(&location)?,
                dimension: match dimension.as_str() {
                    "volume_ml" => "volume_ml",
                    "weight_g" => "weight_g",
                    "pallets" => "pallets",
                    _ => return Err(FieldError::new("dimension", dimension)),
                },
                capacity,
                used,
                requested,
            }),
            RefusalRecord::QuantityOverflow { location } => Refusal::Rule(E::QuantityOverflow {
                location: code(&location)?,
            }),
            RefusalRecord::ItemAlreadyInStock { epc, location } => {
                Refusal::Rule(E::ItemAlreadyInStock {
                    epc,
                    location: code(&location)?,
                })
            }
            RefusalRecord::ItemNotInStock { epc } => Refusal::Rule(E::ItemNotInStock { epc }),
            RefusalRecord::ItemElsewhere { epc, location } => Refusal::Rule(E::ItemElsewhere {
                epc,
                location: code(&location)?,
            }),
            RefusalRecord::UnknownArticle { sku } => Refusal::UnknownArticle { sku },
            RefusalRecord::UnknownLocation { field, code } => Refusal::UnknownLocation {
                field: side(&field)?,
                code,
            },
            RefusalRecord::UnknownEpc { epc } => Refusal::UnknownEpc { epc },
            RefusalRecord::DuplicateEpc { epc } => Refusal::DuplicateEpc { epc },
        })
    }
}

/// A location field's name as the refusals carry it: a booking's `from` or
/// `to`, or a count's `location`.
fn side(field: &str) -> Result<&'static str, FieldError> {
    match field {
        "from" => Ok("from"),
        "to" => Ok("to"),
        "location" => Ok("location"),
        other => Err(FieldError::new(
            "field",
            format!("'{other}' is not from, to or location"),
        )),
    }
}

/// The JSON text stored for an outcome.
pub fn encode(outcome: &StoredOutcome) -> String {
    let json = match outcome {
        StoredOutcome::Booked(seqs) => OutcomeJson {
            v: 1,
            booked: Some(seqs.clone()),
            refused: None,
            status: None,
            body: None,
        },
        StoredOutcome::Refused(refusal) => match (RefusalRecord::of(refusal), refusal) {
            (Some(record), _) => OutcomeJson {
                v: 1,
                booked: None,
                refused: Some(record),
                status: None,
                body: None,
            },
            (None, Refusal::Recorded { status, body }) => OutcomeJson {
                v: 0,
                booked: None,
                refused: None,
                status: Some(*status),
                body: Some(body.clone()),
            },
            // `of` is None only for `Recorded`.
            (None, _) => OutcomeJson {
                v: 0,
                booked: None,
                refused: None,
                status: Some(500),
                body: Some(String::new()),
            },
        },
    };
    serde_json::to_string(&json).unwrap_or_else(|_| String::from("{}"))
}

/// Decodes a stored outcome; an error names what does not parse.
pub fn decode(text: &str) -> Result<StoredOutcome, FieldError> {
    let json: OutcomeJson =
        serde_json::from_str(text).map_err(|e| FieldError::new("outcome", e.to_string()))?;
    match json {
        OutcomeJson {
            v: 1,
            booked: Some(seqs),
            refused: None,
            ..
        } => Ok(StoredOutcome::Booked(seqs)),
        OutcomeJson {
            v: 1,
            booked: None,
            refused: Some(record),
            ..
        } => Ok(StoredOutcome::Refused(record.into_refusal()?)),
        OutcomeJson {
            v: 0,
            status: Some(status),
            body: Some(body),
            ..
        } => Ok(StoredOutcome::Refused(Refusal::Recorded {
            status: status.clamp(100, 599),
            body,
        })),
        _ => Err(FieldError::new(
            "outcome",
            format!("not a known outcome record: {text}"),
        )),
    }
}

/// The stored record for (actor, key), if any.
pub async fn get(
    conn: &mut SqliteConnection,
    actor: &str,
    key: &str,
) -> Result<Option<StoredRecord>, sqlx::Error> {
    let Some(row) = sqlx::query!(
        "SELECT request_hash, outcome FROM idempotency_records WHERE actor = ? AND key = ?",
        actor,
        key,
    )
    .fetch_optional(conn)
    .await?
    else {
        return Ok(None);
    };
    Ok(Some(StoredRecord {
        request_hash: row.request_hash,
        outcome: decode(&row.outcome).map_err(|e| super::corrupt("idempotency_records", e))?,
    }))
}

/// Stores the first outcome for (actor, key).
pub async fn put(
    conn: &mut SqliteConnection,
    actor: &str,
    key: &str,
    record: &StoredRecord,
    at: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    let outcome = encode(&record.outcome);
    let created_at = timestamp(at);
    sqlx::query!(
        "INSERT INTO idempotency_records (actor, key, request_hash, outcome, created_at) VALUES (?, ?, ?, ?, ?)",
        actor,
        key,
        record.request_hash,
        outcome,
        created_at,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Deletes at most `limit` records created before `cutoff`, oldest first;
/// returns how many went.
pub async fn purge_older_than(
    conn: &mut SqliteConnection,
    cutoff: OffsetDateTime,
    limit: i64,
) -> Result<u64, sqlx::Error> {
    let cutoff = timestamp(cutoff);
    let done = sqlx::query!(
        "DELETE FROM idempotency_records WHERE (actor, key) IN (
             SELECT actor, key FROM idempotency_records WHERE created_at < ? ORDER BY created_at LIMIT ?)",
        cutoff,
        limit,
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(outcome: StoredOutcome) {
        let text = encode(&outcome);
        assert_eq!(decode(&text).expect(&text), outcome, "{text}");
    }

    #[test]
    fn every_refusal_survives_the_record() {
        let sku = Sku::parse("S-1").expect("sku");
        let at = LocationCode::parse("A-01").expect("code");
        let refusals = vec![
            Refusal::Rule(BookingError::MissingLocation {
                field: "to",
                kind: MovementKind::Receive,
            }),
            Refusal::Rule(BookingError::UnexpectedLocation {
                field: "from",
                kind: MovementKind::Receive,
            }),
            Refusal::Rule(BookingError::SameLocation),
            Refusal::Rule(BookingError::ReasonRequired),
            Refusal::Rule(BookingError::KindNotBookable(MovementKind::TransferIn)),
            Refusal::Rule(BookingError::LotRequired { sku: sku.clone() }),
            Refusal::Rule(BookingError::LotNotTracked { sku: sku.clone() }),
            Refusal::Rule(BookingError::NotSerialisable {
                sku: sku.clone(),
                unit: Unit::Litre,
            }),
            Refusal::Rule(BookingError::InsufficientStock {
                sku: sku.clone(),
                location: at.clone(),
                available: 3,
                requested: 5,
            }),
            Refusal::Rule(BookingError::SerialisedItems {
                sku: sku.clone(),
                location: at.clone(),
                items: 2,
                available: 3,
                requested: 3,
            }),
            Refusal::Rule(BookingError::CapacityExceeded {
                location: at.clone(),
                dimension: "weight_g",
                capacity: 10,
                used: 8,
                requested: 4,
            }),
            Refusal::Rule(BookingError::QuantityOverflow {
                location: at.clone(),
            }),
            Refusal::Rule(BookingError::ItemAlreadyInStock {
                epc: "urn:epc:id:sgtin:1.2.3".into(),
                location: at.clone(),
            }),
            Refusal::Rule(BookingError::ItemNotInStock {
                epc: "urn:epc:id:sgtin:1.2.3".into(),
            }),
            Refusal::Rule(BookingError::ItemElsewhere {
                epc: "urn:epc:id:sgtin:1.2.3".into(),
                location: at,
            }),
            Refusal::UnknownArticle { sku: "NOPE".into() },
            Refusal::UnknownLocation {
                field: "to",
                code: "Z-9".into(),
            },
            Refusal::UnknownEpc { epc: "x".into() },
            Refusal::DuplicateEpc { epc: "y".into() },
            Refusal::Recorded {
                status: 409,
                body: "{\"status\":409}".into(),
            },
        ];
        for refusal in refusals {
            roundtrip(StoredOutcome::Refused(refusal));
        }
        roundtrip(StoredOutcome::Booked(vec![7, 8, 9]));
        // A count that agreed with the books booked nothing.
        roundtrip(StoredOutcome::Booked(Vec::new()));
        roundtrip(StoredOutcome::Refused(Refusal::UnknownLocation {
            field: "location",
            code: "NOPE".into(),
        }));
    }

    #[test]
    fn the_encoding_is_stable() {
        assert_eq!(
            encode(&StoredOutcome::Booked(vec![12, 13])),
            r#"{"v":1,"booked":[12,13]}"#
        );
        let refusal = Refusal::Rule(BookingError::InsufficientStock {
            sku: Sku::parse("X").expect("sku"),
            location: LocationCode::parse("A-01").expect("code"),
            available: 3,
            requested: 5,
        });
        assert_eq!(
            encode(&StoredOutcome::Refused(refusal)),
            r#"{"v":1,"refused":{"rule":"insufficient_stock","sku":"X","location":"A-01","available":3,"requested":5}}"#
        );
    }

    #[test]
    fn unknown_records_are_errors_not_panics() {
        for text in [
            "",
            "{}",
            r#"{"v":2,"booked":[1]}"#,
            r#"{"v":1}"#,
            r#"{"v":1,"refused":{"rule":"nope"}}"#,
            r#"{"v":1,"refused":{"rule":"capacity_exceeded","location":"A","dimension":"x","capacity":1,"used":1,"requested":1}}"#,
            r#"{"v":0,"status":409}"#,
        ] {
            assert!(decode(text).is_err(), "{text}");
        }
    }
}
