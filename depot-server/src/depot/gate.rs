//! Gate ingest inside the writer's transaction: one poll's events of one
//! gateway become pass records, their bookings (source `gate`) and the
//! gateway's new cursor, all in the command's savepoint of one group commit.
//!
//! The domain decides which events are new (`domain::gate::fresh`, the
//! boot/replay rule, against the cursor loaded here) and what each books
//! (`plan`, `refused`); this module loads, books through the same assembly as
//! a handheld (`booking::apply`) and writes. It never talks to a gateway: the
//! poller acknowledges the returned cursor only after COMMIT.

use sqlx::SqliteConnection;
use time::OffsetDateTime;

use super::booking::{self, BookingInput, EpcRef, Submission};
use super::writer::Committed;
use crate::domain::access::{Caller, Role};
use crate::domain::booking::{MovementKind, Source};
use crate::domain::gate::{self, Cursor, Direction, GatePass, PassOutcome, PassPlan};
use crate::domain::location::LocationCode;
use crate::domain::quantity::Lot;
use crate::store;

/// One event as the poller read it, its gate mapped to a dock and its EPC
/// decoded (or the reason it names no item).
#[derive(Debug, Clone)]
pub struct GateEvent {
    pub seq: u32,
    pub gate: u16,
    pub dock: Option<LocationCode>,
    pub direction: Direction,
    pub epc_hex: String,
    pub epc: Result<EpcRef, String>,
    pub rssi_dbm: i16,
    pub antenna: u16,
    pub gateway_ms: u32,
}

/// One read of one gateway's event window, for the writer.
#[derive(Debug, Clone)]
pub struct GateRead {
    pub gateway: String,
    /// The boot the events belong to (nonzero: the poller names a boot first).
    pub boot_id: u32,
    /// The scale's reading in the same read, if valid.
    pub weight_grams: Option<i32>,
    /// Oldest first.
    pub events: Vec<GateEvent>,
}

/// What storing a read did; `cursor` is what the poller acknowledges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateIngest {
    pub cursor: Cursor,
    /// The passes stored now, oldest first.
    pub stored: Vec<(u32, PassOutcome)>,
    /// Events read again that were stored before (a lost acknowledgement).
    pub repeated: usize,
    /// Seqs of this boot that were freed before the server stored them.
    pub skipped: u32,
}

/// Stores the new events of `read` and moves the cursor. Inside the writer's
/// transaction and the command's savepoint; each booking runs in a nested
/// savepoint, so a refused pass keeps its record and nothing else.
pub(super) async fn ingest(
    conn: &mut SqliteConnection,
    read: &GateRead,
    now: OffsetDateTime,
    changes: &mut Committed,
) -> Result<GateIngest, sqlx::Error> {
    let stored = store::gates::cursor(conn, &read.gateway).await?;
    let seqs: Vec<u32> = read.events.iter().map(|e| e.seq).collect();
    let fresh = gate::fresh(stored, read.boot_id, &seqs);
    let caller = Caller {
        name: format!("gateway:{}", read.gateway),
        role: Role::Staff,
        restricted: true,
    };
    let mut passes = Vec::with_capacity(fresh.new.len());
    for &index in &fresh.new {
        let event = &read.events[index];
        let plan = gate::plan(
            event.direction,
            event.dock.as_ref(),
            event.epc.as_ref().map(drop).map_err(String::as_str),
        );
        let (outcome, detail, movement_seqs) = match (plan, &event.epc) {
            (PassPlan::Record { outcome, detail }, _) => (outcome, Some(detail), Vec::new()),
            (PassPlan::Receive { dock }, Ok(epc)) => {
                let side = (event.direction, Some(dock));
                book(conn, &caller, side, epc, now, changes).await?
            }
            (PassPlan::Issue, Ok(epc)) => {
                book(conn, &caller, (event.direction, None), epc, now, changes).await?
            }
            // `plan` records every pass whose EPC names no item.
            (_, Err(reason)) => (PassOutcome::Unidentified, Some(reason.clone()), Vec::new()),
        };
        let pass = GatePass {
            id: 0,
            gateway: read.gateway.clone(),
            boot_id: read.boot_id,
            seq: event.seq,
            gate: event.gate,
            dock: event.dock.clone(),
            direction: event.direction,
            epc_hex: event.epc_hex.clone(),
            epc: event.epc.as_ref().ok().map(|e| e.id.clone()),
            rssi_dbm: event.rssi_dbm,
            antenna: event.antenna,
            gateway_ms: event.gateway_ms,
            weight_grams: read.weight_grams,
            outcome,
            detail,
            movement_seqs,
            recorded_at: now,
        };
        store::gates::insert_pass(conn, &pass).await?;
        passes.push((event.seq, outcome));
    }
    if stored != Some(fresh.cursor) {
        store::gates::set_cursor(conn, &read.gateway, fresh.cursor, now).await?;
    }
    Ok(GateIngest {
        cursor: fresh.cursor,
        stored: passes,
        repeated: fresh.repeated,
        skipped: fresh.skipped,
    })
}

/// Books one item in its own savepoint, a receipt to the dock if there is
/// one, else an issue; a refusal rolls back to it and becomes the pass's
/// outcome.
async fn book(
    conn: &mut SqliteConnection,
    caller: &Caller,
    (direction, dock): (Direction, Option<LocationCode>),
    epc: &EpcRef,
    now: OffsetDateTime,
    changes: &mut Committed,
) -> Result<(PassOutcome, Option<String>, Vec<i64>), sqlx::Error> {
    let submission = Submission {
        caller: caller.clone(),
        source: Source::Gate,
        idempotency: None,
        input: BookingInput::Items {
            kind: match dock {
                Some(_) => MovementKind::Receive,
                None => MovementKind::Issue,
            },
            epcs: vec![epc.clone()],
            from: None,
            to: dock,
            lot: Lot::none(),
            reason: None,
        },
    };
    sqlx::query("SAVEPOINT pass").execute(&mut *conn).await?;
    let outcome = booking::apply(conn, &submission, now).await?;
    let result = match outcome {
        Ok(movements) => {
            let seqs = movements.iter().map(|m| m.seq).collect();
            changes.movements.extend(movements);
            (PassOutcome::Booked, None, seqs)
        }
        Err(refusal) => {
            sqlx::query("ROLLBACK TO pass").execute(&mut *conn).await?;
            let (outcome, detail) = gate::refused(direction, &refusal);
            (outcome, Some(detail), Vec::new())
        }
    };
    sqlx::query("RELEASE pass").execute(&mut *conn).await?;
    Ok(result)
}
