//! Gate passes: what a pass through a dock door's RFID gate books, and which
//! events of a gateway's ring are new (brief §3 gate event, REGISTERS.md
//! "Boots").
//!
//! Decides from values only: the poller reads the gateway and the writer
//! loads the stored cursor; this module says which events are new, what each
//! pass books, and what a refused pass is recorded as. It knows no register
//! layout and no transport.

use std::collections::VecDeque;

use gateway_registers::GatewayStatus;
use time::OffsetDateTime;

use super::article::Sku;
use super::booking::{BookingError, BookingRequest, MovementKind, Refusal};
use super::location::LocationCode;
use super::named_enum;
use super::quantity::{Lot, Quantity};

named_enum! {
    /// Direction of travel through a gate, as the gateway decided it.
    Direction, "direction" {
        /// Outside antenna first, then inside: the goods came in.
        In = "in",
        /// Inside antenna first, then outside: the goods went out.
        Out = "out",
        /// The antennas' order told nothing.
        Unknown = "unknown",
    }
}

named_enum! {
    /// What became of a pass. Every pass is kept with its outcome.
    PassOutcome, "outcome" {
        /// Booked: a receipt to the dock (`in`) or an issue (`out`).
        Booked = "booked",
        /// Recorded and not booked: the direction is unknown.
        NotBooked = "not_booked",
        /// The EPC names no article the depot knows (or was cut short):
        /// waits for a manager to name the article.
        Unidentified = "unidentified",
        /// Recorded and not booked because it contradicts the ledger (an
        /// `out` of an item the depot does not hold, an `in` of one it
        /// holds) or the gate has no dock; the detail says which.
        Flagged = "flagged",
        /// The article is lot-tracked and a tag carries no lot: waits for a
        /// manager to name the lot.
        AwaitingLot = "awaiting_lot",
    }
}

/// One pass as recorded: what the gateway reported and what became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatePass {
    /// Record id, increasing in the order passes were stored.
    pub id: i64,
    pub gateway: String,
    pub boot_id: u32,
    pub seq: u32,
    pub gate: u16,
    /// The gate's dock location, if the gate is mapped to one.
    pub dock: Option<LocationCode>,
    pub direction: Direction,
    /// The EPC words the gateway reported, as hex.
    pub epc_hex: String,
    /// The EPC's pure-identity URI, when it names an item.
    pub epc: Option<String>,
    pub rssi_dbm: i16,
    pub antenna: u16,
    /// Gateway uptime at the pass's last read, ms.
    pub gateway_ms: u32,
    /// The scale's reading in the poll that read the pass, if valid.
    pub weight_grams: Option<i32>,
    pub outcome: PassOutcome,
    /// Why it was not booked, in words.
    pub detail: Option<String>,
    /// The ledger movements it booked.
    pub movement_seqs: Vec<i64>,
    pub recorded_at: OffsetDateTime,
    /// The article the pass is of, when known: the booked item's, or the
    /// article of a pass that waits for its lot.
    pub sku: Option<Sku>,
    /// How a manager resolved the pass, if it waited and was resolved.
    pub resolution: Option<PassResolution>,
    /// What the scale's weight says of the pass, and the weight the passes
    /// in the window should have had; `None` when it could not be judged.
    pub weight_check: Option<(WeightCheck, i64)>,
}

named_enum! {
    /// What the scale's weight says of a pass.
    WeightCheck, "weight_check" {
        /// Within the tolerance of the passes' unit weights.
        Plausible = "plausible",
        /// Off by more than the tolerance: flagged.
        Implausible = "implausible",
    }
}

/// How passes are weighed: the window of gateway time whose passes through
/// a gate count toward the weight on its scale, and how far the weight may
/// be off (the larger of an absolute and a relative tolerance).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WeightRule {
    pub window_ms: u32,
    pub tolerance_grams: i64,
    pub tolerance_pct: u32,
}

impl WeightRule {
    /// Gateway time from which passes count toward a pass at `at_ms`.
    pub fn since_ms(&self, at_ms: u32) -> u32 {
        at_ms.saturating_sub(self.window_ms)
    }
}

/// Judges the scale's `reported` weight of a pass at gateway time `at_ms`
/// against the sum of the unit weights of `passes` (gateway time, unit
/// weight if known) through its gate, the pass itself included; those
/// outside the rule's window do not count. `None` when it cannot be judged:
/// no valid reading, or a pass in the window of no known unit weight.
pub fn check_weight(
    rule: WeightRule,
    reported: Option<i32>,
    at_ms: u32,
    passes: &[(u32, Option<i64>)],
) -> Option<(WeightCheck, i64)> {
    let reported = i64::from(reported?);
    let since = rule.since_ms(at_ms);
    let mut expected: i64 = 0;
    for &(ms, grams) in passes {
        if (since..=at_ms).contains(&ms) {
            expected = expected.saturating_add(grams?);
        }
    }
    let relative = expected.saturating_mul(i64::from(rule.tolerance_pct)) / 100;
    let allowed = rule.tolerance_grams.max(relative);
    let check = if (reported - expected).abs() <= allowed {
        WeightCheck::Plausible
    } else {
        WeightCheck::Implausible
    };
    Some((check, expected))
}

/// A manager's resolution of a waiting pass: what was named and booked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassResolution {
    pub sku: Sku,
    pub lot: Lot,
    /// Who named it.
    pub actor: String,
    /// The ledger movements the resolution booked.
    pub movement_seqs: Vec<i64>,
    pub resolved_at: OffsetDateTime,
}

named_enum! {
    /// What a pass waits for before a manager's word books it.
    Waiting, "waiting_for" {
        /// The EPC names no article the depot knows: name the article.
        Article = "article",
        /// The article is lot-tracked and no delivery gave the lot: name the lot.
        Lot = "lot",
    }
}

impl GatePass {
    /// What the pass waits for, if a manager can book it by naming it: an
    /// unresolved `in` pass at a dock that is unidentified or awaits its lot.
    /// Other passes are records only (an unreadable EPC going out has no
    /// item to issue, a pass of unknown direction books nothing).
    pub fn waiting(&self) -> Option<Waiting> {
        if self.resolution.is_some() || self.direction != Direction::In || self.dock.is_none() {
            return None;
        }
        match self.outcome {
            PassOutcome::Unidentified => Some(Waiting::Article),
            PassOutcome::AwaitingLot => Some(Waiting::Lot),
            _ => None,
        }
    }
}

/// What a manager names to book a waiting pass: the article (required for an
/// unidentified pass; for one awaiting its lot, if given, it must be the
/// pass's) and the lot (required for one awaiting its lot, and for a
/// lot-tracked article named for an unidentified pass).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolutionRequest {
    pub sku: Option<Sku>,
    pub lot: Lot,
}

/// Why a resolution is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolveError {
    /// The pass waits for nothing a manager could name (booked, flagged, not
    /// an arrival at a dock).
    NotWaiting { id: i64, outcome: PassOutcome },
    /// The pass was resolved before, with another article or lot.
    AlreadyResolved { id: i64, sku: Sku, lot: Lot },
    /// An unidentified pass needs the article.
    ArticleRequired,
    /// A pass awaiting its lot needs the lot.
    LotRequired { sku: Sku },
    /// The article named is not the one the pass's EPC names.
    OtherArticle { pass: Sku, named: Sku },
    /// The depot knows the EPC as an item of another article by now.
    ItemOfOtherArticle { epc: String, sku: Sku },
}

impl std::fmt::Display for ResolveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ResolveError::NotWaiting { id, outcome } => write!(
                f,
                "gate pass {id} ({outcome}) waits for nothing a manager can name"
            ),
            ResolveError::AlreadyResolved { id, sku, lot } if lot.is_none() => {
                write!(f, "gate pass {id} was already resolved as article {sku}")
            }
            ResolveError::AlreadyResolved { id, sku, lot } => write!(
                f,
                "gate pass {id} was already resolved as article {sku}, lot {}",
                lot.as_str()
            ),
            ResolveError::ArticleRequired => {
                write!(f, "the pass's EPC names no known article: name the 'sku'")
            }
            ResolveError::LotRequired { sku } => {
                write!(f, "article {sku} is lot-tracked: name the 'lot'")
            }
            ResolveError::OtherArticle { pass, named } => {
                write!(f, "the pass's EPC names article {pass}, not {named}")
            }
            ResolveError::ItemOfOtherArticle { epc, sku } => {
                write!(f, "item {epc} is known as article {sku}")
            }
        }
    }
}

/// What a resolution does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolve {
    /// Book this receipt (one unit to the pass's dock, the item if the EPC
    /// names one), then record the resolution.
    Book(BookingRequest),
    /// The same resolution came again: answer these movements, book nothing.
    Replay(Vec<i64>),
}

/// Decides a manager's resolution of `pass`. `item_sku` is the article of
/// the item the depot knows under the pass's EPC by now, if any.
pub fn resolve(
    pass: &GatePass,
    request: &ResolutionRequest,
    item_sku: Option<&Sku>,
) -> Result<Resolve, ResolveError> {
    let named = request.sku.as_ref().or(pass.sku.as_ref());
    if let Some(done) = &pass.resolution {
        return if named == Some(&done.sku) && request.lot == done.lot {
            Ok(Resolve::Replay(done.movement_seqs.clone()))
        } else {
            Err(ResolveError::AlreadyResolved {
                id: pass.id,
                sku: done.sku.clone(),
                lot: done.lot.clone(),
            })
        };
    }
    let (Some(waiting), Some(dock)) = (pass.waiting(), pass.dock.as_ref()) else {
        return Err(ResolveError::NotWaiting {
            id: pass.id,
            outcome: pass.outcome,
        });
    };
    let sku = match (waiting, &pass.sku, &request.sku) {
        (Waiting::Lot, Some(pass_sku), Some(named)) if named != pass_sku => {
            return Err(ResolveError::OtherArticle {
                pass: pass_sku.clone(),
                named: named.clone(),
            })
        }
        (Waiting::Lot, Some(pass_sku), _) if request.lot.is_none() => {
            return Err(ResolveError::LotRequired {
                sku: pass_sku.clone(),
            })
        }
        (_, _, Some(named)) => named.clone(),
        (_, Some(pass_sku), None) => pass_sku.clone(),
        (_, None, None) => return Err(ResolveError::ArticleRequired),
    };
    if let (Some(epc), Some(known)) = (&pass.epc, item_sku) {
        if *known != sku {
            return Err(ResolveError::ItemOfOtherArticle {
                epc: epc.clone(),
                sku: known.clone(),
            });
        }
    }
    Ok(Resolve::Book(BookingRequest {
        kind: MovementKind::Receive,
        sku,
        // One pass is one item: one base unit.
        quantity: Quantity::ONE,
        from: None,
        to: Some(dock.clone()),
        lot: request.lot.clone(),
        epcs: pass.epc.iter().cloned().collect(),
        reason: Some(format!("gate pass {} resolved", pass.id)),
    }))
}

named_enum! {
    /// How a gateway's link looks to the poller.
    LinkState, "state" {
        /// Not yet answered since the server started.
        Starting = "starting",
        /// Its last poll was answered.
        Online = "online",
        /// Its last poll timed out or its transport failed; retried with backoff.
        Offline = "offline",
        /// It answers, but with exceptions, answers that do not decode, or
        /// a register map older than the poller needs.
        Degraded = "degraded",
    }
}

/// One gateway as the poller last saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayState {
    pub id: String,
    /// `tcp:HOST:PORT` or `rtu:PATH?baud=N`.
    pub transport: String,
    pub unit_id: u8,
    pub link: LinkState,
    /// Since when `link` holds.
    pub since: OffsetDateTime,
    /// Why it is offline or degraded.
    pub reason: Option<String>,
    pub last_poll: Option<OffsetDateTime>,
    pub map_version: Option<u16>,
    pub boot_id: Option<u32>,
    /// Events the gateway lost (ring overflow) since the server started.
    pub events_lost: u64,
    /// The scale's state and weight in the last poll.
    pub scale: Option<(String, Option<i32>)>,
    /// Gate index → dock location.
    pub docks: Vec<Option<LocationCode>>,
    /// The gateway's own status block (firmware, uptime, its counters of
    /// bad frames and exceptions), as last read, and when.
    pub status: Option<(GatewayStatus, OffsetDateTime)>,
    /// Passes stored in the last minute.
    pub passes_last_minute: u32,
    /// Since the server started: polls that timed out or whose transport
    /// failed, exception answers, answers that did not decode.
    pub link_errors: u64,
    pub exceptions: u64,
    pub malformed: u64,
}

impl GatewayState {
    /// A gateway the poller has not reached yet.
    pub fn starting(
        id: String,
        transport: String,
        unit_id: u8,
        docks: Vec<Option<LocationCode>>,
        at: OffsetDateTime,
    ) -> Self {
        Self {
            id,
            transport,
            unit_id,
            link: LinkState::Starting,
            since: at,
            reason: None,
            last_poll: None,
            map_version: None,
            boot_id: None,
            events_lost: 0,
            scale: None,
            docks,
            status: None,
            passes_last_minute: 0,
            link_errors: 0,
            exceptions: 0,
            malformed: 0,
        }
    }

    /// Moves to `link` (keeping `since` if it already held) for `reason`.
    pub fn set_link(&mut self, link: LinkState, reason: Option<String>, at: OffsetDateTime) {
        if self.link != link {
            self.link = link;
            self.since = at;
        }
        self.reason = reason;
    }
}

/// Passes stored per second of a monotonic clock, kept for the last minute:
/// the gateway's events/s as `GET /api/v1/gates` shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PassRate {
    /// (second, passes stored in it), oldest first, none older than a minute.
    seconds: VecDeque<(u64, u32)>,
}

impl PassRate {
    /// The window, seconds.
    pub const WINDOW_S: u64 = 60;

    /// Counts `passes` stored in `second`.
    pub fn record(&mut self, second: u64, passes: u32) {
        self.forget_before(second);
        match self.seconds.back_mut() {
            Some((last, count)) if *last == second => *count = count.saturating_add(passes),
            _ => self.seconds.push_back((second, passes)),
        }
    }

    /// Passes stored in the minute up to and including `second`.
    pub fn last_minute(&mut self, second: u64) -> u32 {
        self.forget_before(second);
        self.seconds
            .iter()
            .fold(0u32, |sum, (_, count)| sum.saturating_add(*count))
    }

    fn forget_before(&mut self, second: u64) {
        let oldest = second.saturating_sub(Self::WINDOW_S - 1);
        while self.seconds.front().is_some_and(|(s, _)| *s < oldest) {
            self.seconds.pop_front();
        }
    }
}

/// Where the server stands with one gateway: the boot it last stored events
/// of, and the newest `seq` of that boot it stored (and may acknowledge).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub boot_id: u32,
    pub acked_seq: u32,
}

/// Which events of one read are new, by the boot/replay rule: events are
/// known by (boot id, seq); a boot id other than the stored one is a new
/// boot, whose events are all new whatever their seq.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fresh {
    /// Indexes (into the read's events) of the events to store, in order.
    pub new: Vec<usize>,
    /// Events of the stored boot at or below its stored seq: read again
    /// after a lost acknowledgement, booked nothing.
    pub repeated: usize,
    /// Seqs that were skipped between the stored one and the first new
    /// event of the same boot: freed before the server stored them (another
    /// master acknowledged them), i.e. lost to the ledger.
    pub skipped: u32,
    /// The cursor after storing the new events.
    pub cursor: Cursor,
}

/// Applies the boot/replay rule to the seqs of one read of boot `boot_id`
/// (nonzero: a read of an unnamed boot stores nothing). `seqs` come oldest
/// first, as the gateway's window holds them.
pub fn fresh(stored: Option<Cursor>, boot_id: u32, seqs: &[u32]) -> Fresh {
    let same_boot = stored.filter(|c| c.boot_id == boot_id);
    let floor = same_boot.map_or(0, |c| c.acked_seq);
    let mut result = Fresh {
        new: Vec::new(),
        repeated: 0,
        skipped: 0,
        cursor: Cursor {
            boot_id,
            acked_seq: floor,
        },
    };
    for (index, &seq) in seqs.iter().enumerate() {
        if seq <= result.cursor.acked_seq {
            result.repeated += 1;
            continue;
        }
        if result.new.is_empty() && same_boot.is_some() {
            result.skipped = seq - floor - 1;
        }
        result.new.push(index);
        result.cursor.acked_seq = seq;
    }
    result
}

/// What the writer does with one new pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PassPlan {
    /// Book a receipt of the item to the gate's dock.
    Receive { dock: LocationCode },
    /// Book an issue of the item from wherever it lies.
    Issue,
    /// Record the pass with this outcome and book nothing.
    Record {
        outcome: PassOutcome,
        detail: String,
    },
}

/// Decides what a pass books from its direction, its gate's dock (if the
/// gate is mapped to one) and whether its EPC names an item (`Err` with the
/// reason when it cannot: cut short, or of no scheme the codec knows).
pub fn plan(direction: Direction, dock: Option<&LocationCode>, epc: Result<(), &str>) -> PassPlan {
    if let Err(reason) = epc {
        return PassPlan::Record {
            outcome: PassOutcome::Unidentified,
            detail: reason.to_owned(),
        };
    }
    match (direction, dock) {
        (Direction::Unknown, _) => PassPlan::Record {
            outcome: PassOutcome::NotBooked,
            detail: "direction unknown".to_owned(),
        },
        (Direction::In, Some(dock)) => PassPlan::Receive { dock: dock.clone() },
        (Direction::In, None) => PassPlan::Record {
            outcome: PassOutcome::Flagged,
            detail: "the gate has no dock location".to_owned(),
        },
        (Direction::Out, _) => PassPlan::Issue,
    }
}

/// What a pass in `direction` whose booking was refused is recorded as. An
/// EPC the depot knows no item of is unidentified when it comes in (no
/// article has its GTIN) and flagged when it goes out (the depot does not
/// hold it).
pub fn refused(direction: Direction, refusal: &Refusal) -> (PassOutcome, String) {
    match (direction, refusal) {
        (Direction::Out, Refusal::UnknownEpc { epc }) => (
            PassOutcome::Flagged,
            format!("item {epc} is not held by the depot"),
        ),
        (_, Refusal::UnknownEpc { .. } | Refusal::UnknownArticle { .. }) => {
            (PassOutcome::Unidentified, refusal.to_string())
        }
        (_, Refusal::Rule(BookingError::LotRequired { .. })) => {
            (PassOutcome::AwaitingLot, refusal.to_string())
        }
        _ => (PassOutcome::Flagged, refusal.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::domain::article::Sku;

    fn cursor(boot_id: u32, acked_seq: u32) -> Option<Cursor> {
        Some(Cursor { boot_id, acked_seq })
    }

    #[test]
    fn a_repeated_read_stores_only_what_is_past_the_cursor() {
        let f = fresh(cursor(7, 5), 7, &[4, 5, 6, 7]);
        assert_eq!(f.new, [2, 3]);
        assert_eq!((f.repeated, f.skipped), (2, 0));
        assert_eq!(
            f.cursor,
            Cursor {
                boot_id: 7,
                acked_seq: 7
            }
        );
        let again = fresh(Some(f.cursor), 7, &[4, 5, 6, 7]);
        assert!(again.new.is_empty());
        assert_eq!(again.repeated, 4);
        assert_eq!(again.cursor, f.cursor, "nothing new keeps the cursor");
    }

    #[test]
    fn a_restart_is_not_a_replay() {
        // The gateway restarted: seq 1 again, under a new boot id.
        let f = fresh(cursor(7, 900), 8, &[1, 2]);
        assert_eq!(f.new, [0, 1]);
        assert_eq!((f.repeated, f.skipped), (0, 0));
        assert_eq!(
            f.cursor,
            Cursor {
                boot_id: 8,
                acked_seq: 2
            }
        );
        // The first gateway the server sees.
        assert_eq!(fresh(None, 3, &[10, 11]).new, [0, 1]);
        // An empty read of a new boot moves the cursor to the new boot.
        assert_eq!(
            fresh(cursor(7, 900), 8, &[]).cursor,
            Cursor {
                boot_id: 8,
                acked_seq: 0
            }
        );
    }

    #[test]
    fn seqs_freed_by_someone_else_are_counted_as_skipped() {
        let f = fresh(cursor(7, 5), 7, &[9, 10]);
        assert_eq!(f.new, [0, 1]);
        assert_eq!(f.skipped, 3);
    }

    #[test]
    fn the_pass_rate_counts_the_last_minute_only() {
        let mut rate = PassRate::default();
        assert_eq!(rate.last_minute(0), 0);
        rate.record(10, 3);
        rate.record(10, 2);
        rate.record(40, 4);
        assert_eq!(rate.last_minute(40), 9);
        assert_eq!(rate.last_minute(69), 9, "second 10 is still within 60 s");
        assert_eq!(rate.last_minute(70), 4, "second 10 fell out");
        assert_eq!(rate.last_minute(99), 4);
        assert_eq!(rate.last_minute(100), 0);
        rate.record(100, u32::MAX);
        rate.record(100, 1);
        assert_eq!(rate.last_minute(100), u32::MAX, "saturates");
    }

    proptest! {
        #[test]
        fn the_pass_rate_equals_a_recount(records in proptest::collection::vec((0u64..200, 0u32..50), 0..60), at in 0u64..300) {
            let mut records = records;
            records.sort_by_key(|(second, _)| *second);
            let mut rate = PassRate::default();
            for (second, passes) in &records {
                rate.record(*second, *passes);
            }
            let newest = records.last().map_or(0, |(second, _)| *second);
            let at = at.max(newest);
            let want: u32 = records
                .iter()
                .filter(|(second, _)| *second + PassRate::WINDOW_S > at)
                .map(|(_, passes)| passes)
                .sum();
            prop_assert_eq!(rate.last_minute(at), want);
        }
    }

    #[test]
    fn a_link_state_keeps_its_since_until_it_changes() {
        let start = OffsetDateTime::UNIX_EPOCH;
        let later = start + time::Duration::seconds(5);
        let mut state = GatewayState::starting("g".into(), "tcp:h:1".into(), 1, Vec::new(), start);
        state.set_link(LinkState::Online, None, start);
        state.set_link(LinkState::Online, None, later);
        assert_eq!((state.link, state.since), (LinkState::Online, start));
        state.set_link(LinkState::Offline, Some("timeout".into()), later);
        assert_eq!((state.link, state.since), (LinkState::Offline, later));
        assert_eq!(state.reason.as_deref(), Some("timeout"));
    }

    #[test]
    fn plans_follow_direction_dock_and_epc() {
        let dock = LocationCode::parse("DOCK-1").expect("code");
        assert_eq!(
            plan(Direction::In, Some(&dock), Ok(())),
            PassPlan::Receive { dock: dock.clone() }
        );
        assert_eq!(plan(Direction::Out, None, Ok(())), PassPlan::Issue);
        assert!(matches!(
            plan(Direction::Unknown, Some(&dock), Ok(())),
            PassPlan::Record {
                outcome: PassOutcome::NotBooked,
                ..
            }
        ));
        assert!(matches!(
            plan(Direction::In, None, Ok(())),
            PassPlan::Record {
                outcome: PassOutcome::Flagged,
                ..
            }
        ));
        assert_eq!(
            plan(Direction::Out, Some(&dock), Err("EPC cut short")),
            PassPlan::Record {
                outcome: PassOutcome::Unidentified,
                detail: "EPC cut short".into()
            }
        );
    }

    #[test]
    fn refusals_become_outcomes() {
        let unknown = Refusal::UnknownEpc {
            epc: "urn:x".into(),
        };
        assert_eq!(
            refused(Direction::In, &unknown).0,
            PassOutcome::Unidentified
        );
        assert_eq!(
            refused(Direction::Out, &unknown),
            (
                PassOutcome::Flagged,
                "item urn:x is not held by the depot".into()
            )
        );
        let lot = Refusal::Rule(BookingError::LotRequired {
            sku: Sku::parse("A").expect("sku"),
        });
        assert_eq!(refused(Direction::In, &lot).0, PassOutcome::AwaitingLot);
        let gone = Refusal::Rule(BookingError::ItemNotInStock {
            epc: "urn:x".into(),
        });
        let (outcome, detail) = refused(Direction::Out, &gone);
        assert_eq!(outcome, PassOutcome::Flagged);
        assert_eq!(detail, "item urn:x is not in stock");
    }

    fn waiting_pass(outcome: PassOutcome, sku: Option<&str>) -> GatePass {
        GatePass {
            id: 42,
            gateway: "g".into(),
            boot_id: 1,
            seq: 1,
            gate: 0,
            dock: Some(LocationCode::parse("DOCK-1").expect("code")),
            direction: Direction::In,
            epc_hex: "30".into(),
            epc: Some("urn:epc:id:sgtin:0614141.999999.1".into()),
            rssi_dbm: -60,
            antenna: 1,
            gateway_ms: 0,
            weight_grams: None,
            outcome,
            detail: None,
            movement_seqs: Vec::new(),
            recorded_at: OffsetDateTime::UNIX_EPOCH,
            sku: sku.map(|s| Sku::parse(s).expect("sku")),
            resolution: None,
            weight_check: None,
        }
    }

    fn ask(sku: Option<&str>, lot: Option<&str>) -> ResolutionRequest {
        ResolutionRequest {
            sku: sku.map(|s| Sku::parse(s).expect("sku")),
            lot: lot.map_or_else(Lot::none, |l| Lot::parse(l).expect("lot")),
        }
    }

    #[test]
    fn an_unidentified_pass_is_booked_as_the_article_named() {
        let pass = waiting_pass(PassOutcome::Unidentified, None);
        assert_eq!(pass.waiting(), Some(Waiting::Article));
        assert_eq!(
            resolve(&pass, &ask(None, None), None),
            Err(ResolveError::ArticleRequired)
        );
        let Ok(Resolve::Book(receipt)) = resolve(&pass, &ask(Some("ART"), None), None) else {
            panic!("not booked");
        };
        assert_eq!(receipt.kind, MovementKind::Receive);
        assert_eq!(receipt.sku.as_str(), "ART");
        assert_eq!(receipt.quantity, Quantity::ONE);
        assert_eq!(receipt.to, pass.dock);
        assert_eq!(receipt.from, None);
        assert_eq!(receipt.epcs, [pass.epc.clone().expect("epc")]);
        assert!(receipt.lot.is_none());
        // An EPC that names no item (cut short) books one unit, no item.
        let unreadable = GatePass {
            epc: None,
            ..pass.clone()
        };
        let Ok(Resolve::Book(receipt)) = resolve(&unreadable, &ask(Some("ART"), None), None) else {
            panic!("not booked");
        };
        assert!(receipt.epcs.is_empty());
        // The depot learnt the EPC as another article's item meanwhile.
        let other = Sku::parse("OTHER").expect("sku");
        assert_eq!(
            resolve(&pass, &ask(Some("ART"), None), Some(&other)),
            Err(ResolveError::ItemOfOtherArticle {
                epc: pass.epc.clone().expect("epc"),
                sku: other
            })
        );
    }

    #[test]
    fn a_pass_awaiting_its_lot_is_booked_with_the_lot_named() {
        let pass = waiting_pass(PassOutcome::AwaitingLot, Some("LOTTED"));
        assert_eq!(pass.waiting(), Some(Waiting::Lot));
        assert!(matches!(
            resolve(&pass, &ask(None, None), None),
            Err(ResolveError::LotRequired { .. })
        ));
        assert!(matches!(
            resolve(&pass, &ask(Some("ART"), Some("L1")), None),
            Err(ResolveError::OtherArticle { .. })
        ));
        for request in [ask(None, Some("L1")), ask(Some("LOTTED"), Some("L1"))] {
            let Ok(Resolve::Book(receipt)) = resolve(&pass, &request, None) else {
                panic!("not booked");
            };
            assert_eq!(
                (receipt.sku.as_str(), receipt.lot.as_str()),
                ("LOTTED", "L1")
            );
        }
    }

    #[test]
    fn only_waiting_passes_can_be_resolved() {
        let booked = waiting_pass(PassOutcome::Booked, Some("ART"));
        let out = GatePass {
            direction: Direction::Out,
            ..waiting_pass(PassOutcome::Unidentified, None)
        };
        let dockless = GatePass {
            dock: None,
            ..waiting_pass(PassOutcome::Unidentified, None)
        };
        for pass in [booked, out, dockless] {
            assert_eq!(pass.waiting(), None);
            assert_eq!(
                resolve(&pass, &ask(Some("ART"), None), None),
                Err(ResolveError::NotWaiting {
                    id: 42,
                    outcome: pass.outcome
                })
            );
        }
    }

    #[test]
    fn a_resolved_pass_replays_the_same_resolution_and_refuses_another() {
        let mut pass = waiting_pass(PassOutcome::AwaitingLot, Some("LOTTED"));
        pass.resolution = Some(PassResolution {
            sku: Sku::parse("LOTTED").expect("sku"),
            lot: Lot::parse("L1").expect("lot"),
            actor: "boss".into(),
            movement_seqs: vec![7],
            resolved_at: OffsetDateTime::UNIX_EPOCH,
        });
        assert_eq!(pass.waiting(), None);
        for same in [ask(None, Some("L1")), ask(Some("LOTTED"), Some("L1"))] {
            assert_eq!(resolve(&pass, &same, None), Ok(Resolve::Replay(vec![7])));
        }
        assert!(matches!(
            resolve(&pass, &ask(None, Some("L2")), None),
            Err(ResolveError::AlreadyResolved { id: 42, .. })
        ));
    }

    #[test]
    fn a_weight_is_judged_against_the_passes_in_the_window() {
        let rule = WeightRule {
            window_ms: 1_000,
            tolerance_grams: 100,
            tolerance_pct: 10,
        };
        let passes = [
            (500, Some(10_000)),
            (2_000, Some(10_000)),
            (2_500, Some(5_000)),
        ];
        // At 2,500 ms the window holds the last two: 15 kg, ±1.5 kg.
        assert_eq!(
            check_weight(rule, Some(16_400), 2_500, &passes),
            Some((WeightCheck::Plausible, 15_000))
        );
        assert_eq!(
            check_weight(rule, Some(16_600), 2_500, &passes),
            Some((WeightCheck::Implausible, 15_000))
        );
        // The absolute tolerance covers light loads.
        assert_eq!(
            check_weight(rule, Some(90), 0, &[(0, Some(0))]),
            Some((WeightCheck::Plausible, 0))
        );
        // No reading, or a pass of no known weight in the window: not judged.
        assert_eq!(check_weight(rule, None, 2_500, &passes), None);
        assert_eq!(check_weight(rule, Some(1), 2_500, &[(2_400, None)]), None);
        assert!(check_weight(rule, Some(1), 2_500, &[(1_000, None)]).is_some());
    }

    proptest! {
        /// The judgement is a plain comparison: plausible exactly when the
        /// reading is within the larger tolerance of the sum of the unit
        /// weights in the window, and passes outside the window never count.
        #[test]
        fn weights_are_judged_by_the_window_and_the_tolerance(
            window_ms in 0u32..5_000,
            tolerance_grams in 0i64..2_000,
            tolerance_pct in 0u32..50,
            at_ms in 0u32..20_000,
            reported in -1_000i32..200_000,
            passes in proptest::collection::vec((0u32..20_000, 0i64..50_000), 0..20),
        ) {
            let rule = WeightRule { window_ms, tolerance_grams, tolerance_pct };
            let known: Vec<(u32, Option<i64>)> = passes.iter().map(|&(ms, g)| (ms, Some(g))).collect();
            let (check, expected) = check_weight(rule, Some(reported), at_ms, &known).expect("judged");
            let inside: i64 = passes
                .iter()
                .filter(|(ms, _)| *ms <= at_ms && at_ms - *ms <= window_ms)
                .map(|(_, g)| g)
                .sum();
            prop_assert_eq!(expected, inside);
            let allowed = tolerance_grams.max(inside * i64::from(tolerance_pct) / 100);
            let off = (i64::from(reported) - inside).abs();
            prop_assert_eq!(check == WeightCheck::Plausible, off <= allowed);
            // Passes outside the window with no known weight change nothing.
            let mut more = known.clone();
            more.push((at_ms + 1, None));
            prop_assert_eq!(check_weight(rule, Some(reported), at_ms, &more), Some((check, expected)));
        }

        /// However reads repeat, overlap and restart (a restart gets a boot
        /// id never seen before), each (boot, seq) is stored exactly once,
        /// in order.
        #[test]
        fn each_boot_and_seq_is_stored_once(
            reads in proptest::collection::vec((proptest::bool::weighted(0.1), 1u32..20, 0usize..5), 1..60)
        ) {
            let mut stored: Option<Cursor> = None;
            let mut seen = std::collections::BTreeSet::new();
            let mut boot_id = 1;
            for (restart, start, len) in reads {
                boot_id += u32::from(restart);
                let seqs: Vec<u32> = (start..start + len as u32).collect();
                let f = fresh(stored, boot_id, &seqs);
                let floor = stored.filter(|c| c.boot_id == boot_id).map_or(0, |c| c.acked_seq);
                for &i in &f.new {
                    prop_assert!(seen.insert((boot_id, seqs[i])), "stored twice");
                    prop_assert!(seqs[i] > floor);
                }
                prop_assert!(f.new.windows(2).all(|w| seqs[w[0]] < seqs[w[1]]));
                prop_assert_eq!(f.new.len() + f.repeated, seqs.len());
                prop_assert_eq!(f.cursor.boot_id, boot_id);
                stored = Some(f.cursor);
            }
        }

        /// However often and however a waiting pass is resolved, it is
        /// booked once: the first resolution that the rules accept books,
        /// the same one again replays it, any other is refused.
        #[test]
        fn resolving_again_never_books_twice(
            asks in proptest::collection::vec((0usize..3, 0usize..3), 1..12),
            lot_pass in proptest::bool::ANY,
        ) {
            let skus = [None, Some("ART"), Some("LOTTED")];
            let lots = [None, Some("L1"), Some("L2")];
            let mut pass = if lot_pass {
                waiting_pass(PassOutcome::AwaitingLot, Some("LOTTED"))
            } else {
                waiting_pass(PassOutcome::Unidentified, None)
            };
            let mut booked: Option<ResolutionRequest> = None;
            for (sku, lot) in asks {
                let request = ask(skus[sku], lots[lot]);
                match resolve(&pass, &request, None) {
                    Ok(Resolve::Book(receipt)) => {
                        prop_assert!(booked.is_none(), "booked twice");
                        pass.resolution = Some(PassResolution {
                            sku: receipt.sku.clone(),
                            lot: receipt.lot.clone(),
                            actor: "boss".into(),
                            movement_seqs: vec![1],
                            resolved_at: OffsetDateTime::UNIX_EPOCH,
                        });
                        booked = Some(ResolutionRequest { sku: Some(receipt.sku), lot: receipt.lot });
                    }
                    Ok(Resolve::Replay(seqs)) => {
                        let first = booked.as_ref().expect("a replay follows a booking");
                        prop_assert_eq!(seqs, vec![1]);
                        prop_assert_eq!(&request.lot, &first.lot);
                        prop_assert_eq!(request.sku.as_ref().or(pass.sku.as_ref()), first.sku.as_ref());
                    }
                    Err(ResolveError::AlreadyResolved { .. }) => prop_assert!(booked.is_some()),
                    Err(_) => prop_assert!(booked.is_none()),
                }
            }
        }
    }
}
