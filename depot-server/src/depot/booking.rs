//! Booking assembly, inside the writer's transaction: look up the
//! idempotency record, load the facts, let the domain decide, append the
//! movements, and record the outcome for replays.
//!
//! Runs only on the booking writer's connection (`writer.rs`); never
//! commits, and never renders: the outcome is typed and each adapter renders it.

use std::collections::HashSet;

use sqlx::SqliteConnection;
use time::OffsetDateTime;

use super::DepotError;
use crate::domain::access::Caller;
use crate::domain::article::Sku;
use crate::domain::booking::{
    self, BookingFacts, BookingRequest, MovementKind, Refusal, Source, SourceFacts, Stocktake,
    TargetFacts,
};
use crate::domain::ledger::Movement;
use crate::domain::location::LocationCode;
use crate::domain::quantity::{Lot, Quantity};
use crate::store;
use crate::store::idempotency::{StoredOutcome, StoredRecord};

/// An EPC as the adapters hand it in: its pure-identity URI, and the GTIN-14 it
/// names if it is an SGTIN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpcRef {
    pub id: String,
    pub gtin14: Option<String>,
}

/// What one booking asks for: an amount of one article, or a set of items.
#[derive(Debug, Clone)]
pub enum BookingInput {
    /// An amount of one article (`sku` + `quantity`).
    Count(BookingRequest),
    /// A set of items by EPC: each item is one base unit of its article.
    Items {
        kind: MovementKind,
        epcs: Vec<EpcRef>,
        from: Option<LocationCode>,
        to: Option<LocationCode>,
        lot: Lot,
        reason: Option<String>,
    },
    /// A count of one article at one location: the difference to the books
    /// is booked as an adjustment, decided against the stock inside the
    /// transaction (no movement when they agree).
    Stocktake(Stocktake),
}

/// What a booking did: the movements it wrote, or why it was refused.
pub type BookingOutcome = Result<Vec<Movement>, Refusal>;

/// One booking handed to the writer.
#[derive(Debug, Clone)]
pub struct Submission {
    pub caller: Caller,
    pub source: Source,
    /// `(Idempotency-Key, SHA-256 of the canonical request)`.
    pub idempotency: Option<(String, String)>,
    pub input: BookingInput,
}

/// The answer to a submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookingAnswer {
    pub outcome: BookingOutcome,
    /// True when this is the recorded outcome of an earlier request with the
    /// same key: nothing was booked now.
    pub replayed: bool,
}

/// Books one submission inside the writer's open transaction and its
/// per-command savepoint (which a refusal rolls back before its record is
/// written). The outer `Err` is a storage error; the inner one a failure of
/// this submission alone (a key reused with another request).
pub(super) async fn book(
    conn: &mut SqliteConnection,
    submission: &Submission,
    now: OffsetDateTime,
) -> Result<Result<BookingAnswer, DepotError>, sqlx::Error> {
    let actor = submission.caller.name.as_str();
    if let Some((key, hash)) = &submission.idempotency {
        if let Some(record) = store::idempotency::get(conn, actor, key).await? {
            if &record.request_hash != hash {
                return Ok(Err(DepotError::IdempotencyKeyReused(key.clone())));
            }
            let outcome = match record.outcome {
                StoredOutcome::Booked(seqs) => {
                    Ok(store::ledger::movements_by_seq(conn, &seqs).await?)
                }
                StoredOutcome::Refused(refusal) => Err(refusal),
            };
            return Ok(Ok(BookingAnswer {
                outcome,
                replayed: true,
            }));
        }
    }
    let outcome = apply(conn, submission, now).await?;
    if outcome.is_err() {
        // A refusal keeps nothing it wrote, only its idempotency record.
        super::writer::roll_back_command(conn).await?;
    }
    if let Some((key, hash)) = &submission.idempotency {
        let record = StoredRecord {
            request_hash: hash.clone(),
            outcome: match &outcome {
                Ok(movements) => StoredOutcome::Booked(movements.iter().map(|m| m.seq).collect()),
                Err(refusal) => StoredOutcome::Refused(refusal.clone()),
            },
        };
        store::idempotency::put(conn, actor, key, &record, now).await?;
    }
    Ok(Ok(BookingAnswer {
        outcome,
        replayed: false,
    }))
}

/// Loads the facts, lets the domain decide, and appends the movements. On a
/// refusal the caller rolls back what was written.
pub(super) async fn apply(
    conn: &mut SqliteConnection,
    submission: &Submission,
    now: OffsetDateTime,
) -> Result<BookingOutcome, sqlx::Error> {
    let requests = match &submission.input {
        BookingInput::Count(request) => vec![request.clone()],
        BookingInput::Items {
            kind,
            epcs,
            from,
            to,
            lot,
            reason,
        } => {
            let sides = (from.as_ref(), to.as_ref());
            match group_items(conn, &submission.caller, *kind, epcs, sides, lot, reason).await? {
                Ok(requests) => requests,
                Err(refusal) => return Ok(Err(refusal)),
            }
        }
        BookingInput::Stocktake(take) => match count_facts(conn, &submission.caller, take).await? {
            Ok(booked) => booking::correct_to_count(take, booked)
                .into_iter()
                .collect(),
            Err(refusal) => return Ok(Err(refusal)),
        },
    };
    let mut movements = Vec::with_capacity(requests.len());
    for request in requests {
        match decide_and_append(conn, submission, &request, now).await? {
            Ok(movement) => movements.push(movement),
            Err(refusal) => return Ok(Err(refusal)),
        }
    }
    Ok(Ok(movements))
}

/// The outcome of one article's part of a booking.
type PartOutcome = Result<Movement, Refusal>;

async fn decide_and_append(
    conn: &mut SqliteConnection,
    submission: &Submission,
    request: &BookingRequest,
    now: OffsetDateTime,
) -> Result<PartOutcome, sqlx::Error> {
    if let Err(rule) = booking::check_shape(request) {
        return Ok(Err(Refusal::Rule(rule)));
    }
    let caller = &submission.caller;
    let Some(article) = store::articles::get(conn, request.sku.as_str())
        .await?
        .filter(|a| caller.sees(a.classification))
    else {
        return Ok(Err(Refusal::UnknownArticle {
            sku: request.sku.to_string(),
        }));
    };
    let from = match &request.from {
        Some(code) => match store::locations::get(conn, code.as_str()).await? {
            Some(location) => Some(location),
            None => {
                return Ok(Err(Refusal::UnknownLocation {
                    field: "from",
                    code: code.to_string(),
                }))
            }
        },
        None => None,
    };
    let to = match &request.to {
        Some(code) => match store::locations::get(conn, code.as_str()).await? {
            Some(location) => Some(location),
            None => {
                return Ok(Err(Refusal::UnknownLocation {
                    field: "to",
                    code: code.to_string(),
                }))
            }
        },
        None => None,
    };
    let (sku, lot) = (request.sku.as_str(), request.lot.as_str());
    let source = match &from {
        Some(location) => Some(SourceFacts {
            location,
            available: store::ledger::level(conn, sku, location.code.as_str(), lot).await?,
            serialised: store::ledger::stored_items(conn, sku, location.code.as_str(), lot).await?,
        }),
        None => None,
    };
    let target = match &to {
        Some(location) => Some(TargetFacts {
            location,
            level: store::ledger::level(conn, sku, location.code.as_str(), lot).await?,
            used: store::ledger::usage_at(conn, location.code.as_str()).await?,
        }),
        None => None,
    };
    let facts = BookingFacts {
        article: &article,
        from: source,
        to: target,
    };
    if let Err(rule) = booking::decide(request, &facts) {
        return Ok(Err(Refusal::Rule(rule)));
    }
    let mut movement = Movement {
        // Given by the INSERT: the next seq of the ledger.
        seq: 0,
        kind: request.kind,
        sku: request.sku.clone(),
        quantity: request.quantity.get(),
        from: request.from.clone(),
        to: request.to.clone(),
        lot: request.lot.clone(),
        epcs: request.epcs.clone(),
        actor: caller.name.clone(),
        source: submission.source,
        idempotency_key: submission.idempotency.as_ref().map(|(key, _)| key.clone()),
        reason: request.reason.clone(),
        recorded_at: now,
    };
    store::ledger::append_next(conn, &mut movement).await?;
    Ok(Ok(movement))
}

/// What the books say lies at a count's place, once the article (as the
/// caller may see it) and the location are known to exist: a count that
/// agrees books nothing, so nothing else would check them.
async fn count_facts(
    conn: &mut SqliteConnection,
    caller: &Caller,
    take: &Stocktake,
) -> Result<Result<i64, Refusal>, sqlx::Error> {
    let (sku, location) = (take.sku.as_str(), take.location.as_str());
    let visible = store::articles::get(conn, sku)
        .await?
        .is_some_and(|a| caller.sees(a.classification));
    if !visible {
        return Ok(Err(Refusal::UnknownArticle {
            sku: sku.to_owned(),
        }));
    }
    if store::locations::get(conn, location).await?.is_none() {
        return Ok(Err(Refusal::UnknownLocation {
            field: "location",
            code: location.to_owned(),
        }));
    }
    Ok(Ok(store::ledger::level(
        conn,
        sku,
        location,
        take.lot.as_str(),
    )
    .await?))
}

/// Resolves each EPC to its article (a known item, or SGTIN → GTIN → article),
/// checks the item's state, and groups the items into one request per
/// (article, lot, source location), in the order first seen.
async fn group_items(
    conn: &mut SqliteConnection,
    caller: &Caller,
    kind: MovementKind,
    epcs: &[EpcRef],
    sides: (Option<&LocationCode>, Option<&LocationCode>),
    lot: &Lot,
    reason: &Option<String>,
) -> Result<Result<Vec<BookingRequest>, Refusal>, sqlx::Error> {
    let (from, to) = sides;
    let arrives = booking::item_arrives(kind, from);
    let mut groups: Vec<(Sku, Lot, Option<LocationCode>, Vec<String>)> = Vec::new();
    let mut seen = HashSet::with_capacity(epcs.len());
    for epc in epcs {
        if !seen.insert(epc.id.as_str()) {
            return Ok(Err(Refusal::DuplicateEpc {
                epc: epc.id.clone(),
            }));
        }
        let item = store::ledger::item(conn, &epc.id).await?;
        let article = match (&item, &epc.gtin14) {
            (Some(row), _) => store::articles::get(conn, row.sku.as_str()).await?,
            (None, Some(gtin14)) if arrives => store::articles::by_gtin14(conn, gtin14).await?,
            (None, _) => None,
        };
        let Some(article) = article.filter(|a| caller.sees(a.classification)) else {
            return Ok(Err(Refusal::UnknownEpc {
                epc: epc.id.clone(),
            }));
        };
        if let Err(rule) = booking::check_item(kind, &epc.id, item.as_ref().map(|i| &i.facts), from)
        {
            return Ok(Err(Refusal::Rule(rule)));
        }
        // Arrivals take the request's lot; departures leave with the item's lot
        // from where the item lies (check_item made sure it lies somewhere).
        let (item_lot, source) = match item {
            Some(row) if !arrives => (row.lot, row.facts.location),
            _ => (lot.clone(), None),
        };
        match groups
            .iter_mut()
            .find(|g| g.0 == article.sku && g.1 == item_lot && g.2 == source)
        {
            Some(group) => group.3.push(epc.id.clone()),
            None => groups.push((article.sku, item_lot, source, vec![epc.id.clone()])),
        }
    }
    let mut requests = Vec::with_capacity(groups.len());
    for (sku, lot, source, ids) in groups {
        // A group holds at least one EPC, so the count is a valid quantity.
        let Ok(quantity) = Quantity::new(i64::try_from(ids.len()).unwrap_or(i64::MAX)) else {
            continue;
        };
        requests.push(BookingRequest {
            kind,
            sku,
            quantity,
            from: source.or_else(|| from.cloned()),
            to: to.cloned(),
            lot,
            epcs: ids,
            reason: reason.clone(),
        });
    }
    Ok(Ok(requests))
}
