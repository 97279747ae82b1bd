//! Gate passes: what a pass through a dock door's RFID gate books, and which
//! events of a gateway's ring are new (brief §3 gate event, REGISTERS.md
//! "Boots").
//!
//! Decides from values only: the poller reads the gateway and the writer
//! loads the stored cursor; this module says which events are new, what each
//! pass books, and what a refused pass is recorded as. It knows no register
//! layout and no transport.

use time::OffsetDateTime;

use super::booking::{BookingError, Refusal};
use super::location::LocationCode;
use super::named_enum;

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
}

impl GatewayState {
    /// Moves to `link` (keeping `since` if it already held) for `reason`.
    pub fn set_link(&mut self, link: LinkState, reason: Option<String>, at: OffsetDateTime) {
        if self.link != link {
            self.link = link;
            self.since = at;
        }
        self.reason = reason;
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
    fn a_link_state_keeps_its_since_until_it_changes() {
        let start = OffsetDateTime::UNIX_EPOCH;
        let later = start + time::Duration::seconds(5);
        let mut state = GatewayState {
            id: "g".into(),
            transport: "tcp:h:1".into(),
            unit_id: 1,
            link: LinkState::Starting,
            since: start,
            reason: None,
            last_poll: None,
            map_version: None,
            boot_id: None,
            events_lost: 0,
            scale: None,
            docks: Vec::new(),
        };
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

    proptest! {
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
    }
}
