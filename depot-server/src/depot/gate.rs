//! Gate ingest inside the writer's transaction: one poll's events of one
//! gateway become pass records, their bookings (source `gate`) and the
//! gateway's new cursor, all in the command's savepoint of one group commit.
//!
//! An `in` pass at a dock with open expected deliveries is matched against
//! them (`delivery.rs`): the matching line gives a lot-tracked item its lot,
//! and the receipt is recorded with the pass.
//!
//! The domain decides which events are new (`domain::gate::fresh`, the
//! boot/replay rule, against the cursor loaded here) and what each books
//! (`plan`, `refused`); this module loads, books through the same assembly as
//! a handheld (`booking::apply`) and writes. It never talks to a gateway: the
//! poller acknowledges the returned cursor only after COMMIT.

use std::collections::{HashMap, VecDeque};

use sqlx::SqliteConnection;
use time::OffsetDateTime;

use super::booking::{self, BookingInput, EpcRef, Submission};
use super::delivery::OpenDeliveries;
use super::writer::Committed;
use super::{BookingAnswer, DepotError};
use crate::domain::access::{Caller, Role};
use crate::domain::article::Sku;
use crate::domain::booking::{self as rules, BookingError, MovementKind, Refusal, Source};
use crate::domain::gate::{
    self, Cursor, Direction, GatePass, PassOutcome, PassPlan, PassResolution, ResolutionRequest,
    Resolve, ResolveError, WeightCheck, WeightRule,
};
use crate::domain::location::LocationCode;
use crate::domain::quantity::Lot;
use crate::domain::FieldError;
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
    /// How the gateway's passes are weighed.
    pub weight_rule: WeightRule,
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
    /// Passes stored now whose weight the scale contradicts.
    pub implausible: usize,
}

/// Stores the new events of `read` and moves the cursor. Inside the writer's
/// transaction and the command's savepoint; each booking runs in a nested
/// savepoint, so a refused pass keeps its record and nothing else.
pub(super) async fn ingest(
    conn: &mut SqliteConnection,
    windows: &mut GateWindows,
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
    let mut deliveries = OpenDeliveries::default();
    let mut implausible = 0;
    for &index in &fresh.new {
        let event = &read.events[index];
        let plan = gate::plan(
            event.direction,
            event.dock.as_ref(),
            event.epc.as_ref().map(drop).map_err(String::as_str),
        );
        let mut receipt = None;
        let (outcome, detail, movement_seqs, sku) = match (plan, &event.epc) {
            (PassPlan::Record { outcome, detail }, _) => (outcome, Some(detail), Vec::new(), None),
            (PassPlan::Receive { dock }, Ok(epc)) => {
                // An open delivery at the dock gives the lot, and takes the item.
                let expected = deliveries.expect(conn, &dock, epc).await?;
                let lot = expected.as_ref().map_or_else(Lot::none, |e| e.lot.clone());
                let side = (event.direction, Some(dock.clone()));
                let booked = book(conn, &caller, side, (epc, lot), now, changes).await?;
                if booked.0 == PassOutcome::Booked {
                    receipt = expected.map(|e| (dock, e, epc.id.as_str()));
                }
                booked
            }
            (PassPlan::Issue, Ok(epc)) => {
                let side = (event.direction, None);
                book(conn, &caller, side, (epc, Lot::none()), now, changes).await?
            }
            // `plan` records every pass whose EPC names no item.
            (_, Err(reason)) => (
                PassOutcome::Unidentified,
                Some(reason.clone()),
                Vec::new(),
                None,
            ),
        };
        let weight_check = weigh(conn, windows, read, event, sku.as_ref()).await?;
        if matches!(weight_check, Some((WeightCheck::Implausible, _))) {
            implausible += 1;
        }
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
            sku,
            resolution: None,
            weight_check,
        };
        let pass_id = store::gates::insert_pass(conn, &pass).await?;
        if let Some((dock, expected, epc)) = receipt {
            deliveries
                .record(conn, &dock, expected, pass_id, epc, now)
                .await?;
        }
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
        implausible,
    })
}

/// The passes through each gate within the weight window (gateway time,
/// unit weight if known), kept by the writer between reads so that a pass
/// is judged without reading its gate's window from the database again.
/// Only the writer stores passes, so the copy stays true; the writer drops
/// it whenever a command or a batch is rolled back or a resolution names a
/// pass's article, and it is then read again from the database.
#[derive(Debug, Default)]
pub(crate) struct GateWindows {
    gates: HashMap<(String, u32, u16), GateWindow>,
}

/// One gate's passes from `from_ms` on, oldest first.
#[derive(Debug)]
struct GateWindow {
    from_ms: u32,
    passes: VecDeque<(u32, Option<i64>)>,
}

/// Gates kept at most; past it the copy starts again (old boots pile up).
const MAX_GATE_WINDOWS: usize = 1_024;

impl GateWindows {
    /// Drops the copy: the next pass reads its gate's window again.
    pub(crate) fn forget(&mut self) {
        self.gates.clear();
    }
}

/// Judges the scale's weight of one pass (`domain::gate::check_weight`)
/// against the passes through its gate in the rule's window, stored before
/// it (those of this read too), and its own article's unit weight; records
/// the pass in the gate's kept window.
async fn weigh(
    conn: &mut SqliteConnection,
    windows: &mut GateWindows,
    read: &GateRead,
    event: &GateEvent,
    sku: Option<&Sku>,
) -> Result<Option<(WeightCheck, i64)>, sqlx::Error> {
    let rule = read.weight_rule;
    let at = event.gateway_ms;
    let since = rule.since_ms(at);
    let key = (read.gateway.clone(), read.boot_id, event.gate);
    let kept = windows.gates.get(&key).is_some_and(|w| w.from_ms <= since);
    if read.weight_grams.is_none() && !kept {
        // Nothing to judge, and no copy to keep true (a stale one goes).
        windows.gates.remove(&key);
        return Ok(None);
    }
    let own = match sku {
        Some(sku) => store::articles::get(conn, sku.as_str())
            .await?
            .and_then(|a| a.unit_weight_g),
        None => None,
    };
    if !kept {
        let through = (read.gateway.as_str(), read.boot_id, event.gate);
        let mut passes = store::gates::weights_through_gate(conn, through, since, at).await?;
        passes.sort_by_key(|&(ms, _)| ms);
        if windows.gates.len() >= MAX_GATE_WINDOWS {
            windows.forget();
        }
        let window = GateWindow {
            from_ms: since,
            passes: passes.into(),
        };
        windows.gates.insert(key.clone(), window);
    }
    let Some(window) = windows.gates.get_mut(&key) else {
        return Ok(None);
    };
    while window.passes.front().is_some_and(|&(ms, _)| ms < since) {
        window.passes.pop_front();
    }
    window.from_ms = since;
    window.passes.push_back((at, own));
    Ok(gate::check_weight(
        rule,
        read.weight_grams,
        at,
        window.passes.make_contiguous(),
    ))
}

/// What became of one pass: its outcome, why, the seqs it booked and its
/// article when known.
type Booked = (PassOutcome, Option<String>, Vec<i64>, Option<Sku>);

/// Books one item in its own savepoint, a receipt to the dock (with `lot`)
/// if there is one, else an issue; a refusal rolls back to it and becomes
/// the pass's outcome.
async fn book(
    conn: &mut SqliteConnection,
    caller: &Caller,
    (direction, dock): (Direction, Option<LocationCode>),
    (epc, lot): (&EpcRef, Lot),
    now: OffsetDateTime,
    changes: &mut Committed,
) -> Result<Booked, sqlx::Error> {
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
            lot,
            reason: None,
        },
    };
    sqlx::query("SAVEPOINT pass").execute(&mut *conn).await?;
    let outcome = booking::apply(conn, &submission, now).await?;
    let result = match outcome {
        Ok(movements) => {
            let seqs = movements.iter().map(|m| m.seq).collect();
            let sku = movements.first().map(|m| m.sku.clone());
            changes.movements.extend(movements);
            (PassOutcome::Booked, None, seqs, sku)
        }
        Err(refusal) => {
            sqlx::query("ROLLBACK TO pass").execute(&mut *conn).await?;
            let (outcome, detail) = gate::refused(direction, &refusal);
            // A pass that waits for its lot keeps its article for the manager.
            let sku = match refusal {
                Refusal::Rule(BookingError::LotRequired { sku }) => Some(sku),
                _ => None,
            };
            (outcome, Some(detail), Vec::new(), sku)
        }
    };
    sqlx::query("RELEASE pass").execute(&mut *conn).await?;
    Ok(result)
}

/// A manager's resolution of a waiting pass (`Command::ResolvePass`), in the
/// command's savepoint: loads the pass (as the caller may see it) and the
/// item its EPC names, lets `domain::gate::resolve` decide, books the receipt
/// through the same assembly as any booking (source `gate`, the manager as
/// actor) and records the resolution with it (and, when an open delivery
/// at the dock expects the item, its receipt). The same resolution again
/// answers the first booking's movements and books nothing; a refused
/// booking writes nothing and the pass keeps waiting.
pub(super) async fn resolve(
    conn: &mut SqliteConnection,
    caller: &Caller,
    pass_id: i64,
    request: &ResolutionRequest,
    now: OffsetDateTime,
    changes: &mut Committed,
) -> Result<Result<BookingAnswer, DepotError>, sqlx::Error> {
    let Some(pass) = store::gates::pass(conn, pass_id, caller.restricted).await? else {
        return Ok(Err(DepotError::NotFound {
            what: "gate pass",
            key: pass_id.to_string(),
        }));
    };
    let item = match &pass.epc {
        Some(epc) => store::ledger::item(conn, epc).await?,
        None => None,
    };
    let request = match gate::resolve(&pass, request, item.as_ref().map(|i| &i.sku)) {
        Ok(Resolve::Book(booking)) => booking,
        Ok(Resolve::Replay(seqs)) => {
            return Ok(Ok(BookingAnswer {
                outcome: Ok(store::ledger::movements_by_seq(conn, &seqs).await?),
                replayed: true,
            }))
        }
        Err(refusal) => return Ok(Err(resolve_error(refusal))),
    };
    if let Some(epc) = &pass.epc {
        if let Err(rule) = rules::check_item(
            MovementKind::Receive,
            epc,
            item.as_ref().map(|i| &i.facts),
            None,
        ) {
            return Ok(Ok(BookingAnswer {
                outcome: Err(Refusal::Rule(rule)),
                replayed: false,
            }));
        }
    }
    let resolution = PassResolution {
        sku: request.sku.clone(),
        lot: request.lot.clone(),
        actor: caller.name.clone(),
        movement_seqs: Vec::new(),
        resolved_at: now,
    };
    let submission = Submission {
        caller: caller.clone(),
        source: Source::Gate,
        idempotency: None,
        input: BookingInput::Count(request),
    };
    let outcome = booking::apply(conn, &submission, now).await?;
    match &outcome {
        Ok(movements) => {
            let resolution = PassResolution {
                movement_seqs: movements.iter().map(|m| m.seq).collect(),
                ..resolution
            };
            store::gates::insert_resolution(conn, pass.id, &resolution).await?;
            changes.movements.extend(movements.iter().cloned());
            // The item is received now: an open delivery at the dock takes it.
            if let (Some(dock), Some(epc)) = (&pass.dock, &pass.epc) {
                let mut deliveries = OpenDeliveries::default();
                let item = EpcRef {
                    id: epc.clone(),
                    gtin14: None,
                };
                if let Some(mut expected) = deliveries.expect(conn, dock, &item).await? {
                    expected.lot = resolution.lot;
                    deliveries
                        .record(conn, dock, expected, pass.id, epc, now)
                        .await?;
                }
            }
        }
        Err(_) => super::writer::roll_back_command(conn).await?,
    }
    Ok(Ok(BookingAnswer {
        outcome,
        replayed: false,
    }))
}

/// How the façade reports a resolution the domain refused: a conflict with
/// the pass's state (409), or a field to fix (422).
fn resolve_error(error: ResolveError) -> DepotError {
    let text = error.to_string();
    match error {
        ResolveError::NotWaiting { .. }
        | ResolveError::AlreadyResolved { .. }
        | ResolveError::ItemOfOtherArticle { .. } => DepotError::Conflict(text),
        ResolveError::ArticleRequired | ResolveError::OtherArticle { .. } => {
            DepotError::Invalid(vec![FieldError::new("sku", text)])
        }
        ResolveError::LotRequired { .. } => DepotError::Invalid(vec![FieldError::new("lot", text)]),
    }
}
