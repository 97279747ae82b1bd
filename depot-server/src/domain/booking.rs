//! Bookings: the rules that decide whether a movement may enter the ledger.
//!
//! The façade loads the facts (article, stock at the source, usage at the
//! target, items' states) and asks [`decide`]; a refusal carries the figures a
//! user needs (how much is available, how much room is left).

use super::article::{Article, Sku, Unit};
use super::location::{Location, LocationCode};
use super::named_enum;
use super::quantity::{Lot, Quantity};
use super::utilization::{check_fits, Usage};

named_enum! {
    /// The kind of a ledger movement.
    MovementKind, "kind" {
        /// Goods arrive at a location.
        Receive = "receive",
        /// Goods move between two locations of this depot.
        Move = "move",
        /// Goods leave the depot from a location.
        Issue = "issue",
        /// A count correction: into (`to`) or out of (`from`) a location, with a reason.
        Adjust = "adjust",
        /// Goods leave for another depot (inter-depot transfers; not bookable by hand).
        TransferOut = "transfer_out",
        /// Goods arrive from another depot (inter-depot transfers; not bookable by hand).
        TransferIn = "transfer_in",
    }
}

named_enum! {
    /// Where a booking came from.
    Source, "source" {
        Handheld = "handheld",
        Gate = "gate",
        Web = "web",
        Import = "import",
        Api = "api",
    }
}

named_enum! {
    /// Where a serialised item is.
    ItemState, "state" {
        Stored = "stored",
        Issued = "issued",
        InTransit = "in_transit",
    }
}

/// One booking of one article: what the caller asked for, validated for syntax.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookingRequest {
    pub kind: MovementKind,
    pub sku: Sku,
    pub quantity: Quantity,
    pub from: Option<LocationCode>,
    pub to: Option<LocationCode>,
    pub lot: Lot,
    /// The items moved (pure-identity URIs), one base unit each; empty for a count booking.
    pub epcs: Vec<String>,
    pub reason: Option<String>,
}

/// The source side of a booking: the location and the stock of (article, lot) there.
#[derive(Debug, Clone, Copy)]
pub struct SourceFacts<'a> {
    pub location: &'a Location,
    pub available: i64,
    /// How many of the available units are serialised items lying there.
    pub serialised: i64,
}

/// The target side of a booking: the location, the stock of (article, lot) there,
/// and what all stock lying there occupies.
#[derive(Debug, Clone, Copy)]
pub struct TargetFacts<'a> {
    pub location: &'a Location,
    pub level: i64,
    pub used: Usage,
}

/// Everything [`decide`] needs to know, loaded by the façade in the booking transaction.
#[derive(Debug, Clone, Copy)]
pub struct BookingFacts<'a> {
    pub article: &'a Article,
    pub from: Option<SourceFacts<'a>>,
    pub to: Option<TargetFacts<'a>>,
}

/// The current state of one serialised item, if the depot has seen it before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemFacts {
    pub epc: String,
    pub state: ItemState,
    pub location: Option<LocationCode>,
}

/// Why a booking was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BookingError {
    /// A location field that this kind needs is missing.
    MissingLocation {
        field: &'static str,
        kind: MovementKind,
    },
    /// A location field that this kind must not have is present.
    UnexpectedLocation {
        field: &'static str,
        kind: MovementKind,
    },
    /// `from` and `to` of a move are the same place.
    SameLocation,
    /// Adjustments must say why.
    ReasonRequired,
    /// Transfers between depots are booked by the transfer process, not by hand.
    KindNotBookable(MovementKind),
    /// The article is lot-tracked and the booking names no lot.
    LotRequired { sku: Sku },
    /// The article is not lot-tracked and the booking names a lot.
    LotNotTracked { sku: Sku },
    /// Items (EPCs) are single units; articles counted in kg, l or m cannot be booked by EPC.
    NotSerialisable { sku: Sku, unit: Unit },
    /// Not enough stock of (article, lot) at the source.
    InsufficientStock {
        sku: Sku,
        location: LocationCode,
        available: i64,
        requested: i64,
    },
    /// A count booking would take units that are serialised items: those move by EPC.
    SerialisedItems {
        sku: Sku,
        location: LocationCode,
        items: i64,
        available: i64,
        requested: i64,
    },
    /// The target cannot hold the goods.
    CapacityExceeded {
        location: LocationCode,
        dimension: &'static str,
        capacity: i64,
        used: i64,
        requested: i64,
    },
    /// The target's stock would exceed the largest representable quantity.
    QuantityOverflow { location: LocationCode },
    /// A received item is already in stock.
    ItemAlreadyInStock { epc: String, location: LocationCode },
    /// An item to move, issue or adjust out is not in stock.
    ItemNotInStock { epc: String },
    /// An item is in stock, but not at the `from` the booking names.
    ItemElsewhere { epc: String, location: LocationCode },
}

impl BookingError {
    /// Whether the refusal is a conflict with the current state (HTTP 409)
    /// rather than a request that can never succeed (HTTP 422).
    pub fn is_conflict(&self) -> bool {
        matches!(
            self,
            BookingError::InsufficientStock { .. }
                | BookingError::SerialisedItems { .. }
                | BookingError::CapacityExceeded { .. }
                | BookingError::QuantityOverflow { .. }
                | BookingError::ItemAlreadyInStock { .. }
                | BookingError::ItemNotInStock { .. }
                | BookingError::ItemElsewhere { .. }
        )
    }
}

impl std::fmt::Display for BookingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use BookingError::*;
        match self {
            MissingLocation { field, kind } => write!(f, "a {kind} needs '{field}'"),
            UnexpectedLocation { field, kind } => write!(f, "a {kind} must not have '{field}'"),
            SameLocation => write!(f, "'from' and 'to' are the same location"),
            ReasonRequired => write!(f, "an adjust needs a 'reason'"),
            KindNotBookable(kind) => {
                write!(f, "{kind} is booked by the transfer process, not by hand")
            }
            LotRequired { sku } => write!(f, "article {sku} is lot-tracked: give a 'lot'"),
            LotNotTracked { sku } => write!(f, "article {sku} is not lot-tracked: give no 'lot'"),
            NotSerialisable { sku, unit } => {
                write!(
                    f,
                    "article {sku} is counted in {unit} and cannot be booked by EPC"
                )
            }
            InsufficientStock {
                sku,
                location,
                available,
                requested,
            } => write!(
                f,
                "only {available} of {sku} available at {location}, {requested} requested"
            ),
            SerialisedItems {
                sku,
                location,
                items,
                ..
            } => write!(
                f,
                "{items} of the {sku} at {location} are serialised items: book them by EPC"
            ),
            CapacityExceeded {
                location,
                dimension,
                capacity,
                used,
                requested,
            } => write!(
                f,
                "{location} cannot take {requested} more {dimension}: {used} of {capacity} used"
            ),
            QuantityOverflow { location } => write!(f, "the stock at {location} would overflow"),
            ItemAlreadyInStock { epc, location } => {
                write!(f, "item {epc} is already in stock at {location}")
            }
            ItemNotInStock { epc } => write!(f, "item {epc} is not in stock"),
            ItemElsewhere { epc, location } => write!(f, "item {epc} lies at {location}"),
        }
    }
}

/// Why a booking was refused, with what a user needs to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A domain rule refused it.
    Rule(BookingError),
    /// No visible article has this SKU.
    UnknownArticle { sku: String },
    /// No location has this code.
    UnknownLocation { field: &'static str, code: String },
    /// The EPC is neither a known item nor an SGTIN of a known article.
    UnknownEpc { epc: String },
    /// The same EPC appears twice in one booking.
    DuplicateEpc { epc: String },
    /// A refusal recorded by schema 1 as an HTTP problem (status and body),
    /// replayed as it was; only a retry of a booking made before the upgrade
    /// and within the retention period meets one.
    Recorded { status: u16, body: String },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Rule(e) => e.fmt(f),
            Refusal::UnknownArticle { sku } => write!(f, "no article '{sku}'"),
            Refusal::UnknownLocation { field, code } => write!(f, "{field}: no location '{code}'"),
            Refusal::DuplicateEpc { epc } => write!(f, "EPC {epc} appears more than once"),
            Refusal::UnknownEpc { epc } => {
                write!(
                    f,
                    "EPC {epc} is neither a known item nor an SGTIN of a known article"
                )
            }
            Refusal::Recorded { status, .. } => {
                write!(f, "refused before the upgrade (HTTP status {status})")
            }
        }
    }
}

/// Checks which locations and fields a kind needs, before any facts are loaded.
pub fn check_shape(request: &BookingRequest) -> Result<(), BookingError> {
    use MovementKind::*;
    let kind = request.kind;
    let (needs_from, needs_to) = match kind {
        Receive => (Some(false), Some(true)),
        Issue => (Some(true), Some(false)),
        Move => (Some(true), Some(true)),
        Adjust => (None, None),
        TransferOut | TransferIn => return Err(BookingError::KindNotBookable(kind)),
    };
    let sides = [
        ("from", needs_from, request.from.is_some()),
        ("to", needs_to, request.to.is_some()),
    ];
    for (field, needed, present) in sides {
        match (needed, present) {
            (Some(true), false) => return Err(BookingError::MissingLocation { field, kind }),
            (Some(false), true) => return Err(BookingError::UnexpectedLocation { field, kind }),
            _ => {}
        }
    }
    if kind == Adjust {
        match (&request.from, &request.to) {
            (None, None) => return Err(BookingError::MissingLocation { field: "to", kind }),
            (Some(_), Some(_)) => {
                return Err(BookingError::UnexpectedLocation {
                    field: "from",
                    kind,
                })
            }
            _ => {}
        }
        if request
            .reason
            .as_deref()
            .is_none_or(|r| r.trim().is_empty())
        {
            return Err(BookingError::ReasonRequired);
        }
    }
    if request.from.is_some() && request.from == request.to {
        return Err(BookingError::SameLocation);
    }
    Ok(())
}

/// A count of one article at one location (a stocktake): how much was
/// found there, which may be none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stocktake {
    pub sku: Sku,
    pub location: LocationCode,
    pub lot: Lot,
    /// 0 ..= [`Quantity::MAX`].
    pub counted: i64,
}

/// The adjustment that makes the books agree with a count, given what is
/// `booked` there now: into the location when more was found, out of it
/// when less, `None` when the books already agree. Its reason names both
/// figures; [`decide`] still judges it like any adjustment. One movement
/// carries at most [`Quantity::MAX`]: a larger shortfall is corrected that
/// far, and a recount corrects the rest.
pub fn correct_to_count(take: &Stocktake, booked: i64) -> Option<BookingRequest> {
    let difference = take.counted.saturating_sub(booked);
    let size = i64::try_from(difference.unsigned_abs()).unwrap_or(Quantity::MAX);
    let quantity = Quantity::new(size.min(Quantity::MAX)).ok()?;
    let place = Some(take.location.clone());
    let (from, to) = if difference > 0 {
        (None, place)
    } else {
        (place, None)
    };
    Some(BookingRequest {
        kind: MovementKind::Adjust,
        sku: take.sku.clone(),
        quantity,
        from,
        to,
        lot: take.lot.clone(),
        epcs: Vec::new(),
        reason: Some(format!("count: {} counted, {booked} booked", take.counted)),
    })
}

/// Decides a booking from the facts: `Ok` means the movement may be written as asked.
pub fn decide(request: &BookingRequest, facts: &BookingFacts<'_>) -> Result<(), BookingError> {
    check_shape(request)?;
    let article = facts.article;
    let sku = &article.sku;
    if article.lot_tracked && request.lot.is_none() {
        return Err(BookingError::LotRequired { sku: sku.clone() });
    }
    if !article.lot_tracked && !request.lot.is_none() {
        return Err(BookingError::LotNotTracked { sku: sku.clone() });
    }
    if !request.epcs.is_empty() && !matches!(article.unit, Unit::Piece | Unit::Box | Unit::Pallet) {
        return Err(BookingError::NotSerialisable {
            sku: sku.clone(),
            unit: article.unit,
        });
    }
    let requested = request.quantity.get();
    if let Some(from) = facts.from {
        if from.available < requested {
            return Err(BookingError::InsufficientStock {
                sku: sku.clone(),
                location: from.location.code.clone(),
                available: from.available,
                requested,
            });
        }
        let uncounted = from.available.saturating_sub(from.serialised);
        if request.epcs.is_empty() && requested > uncounted {
            return Err(BookingError::SerialisedItems {
                sku: sku.clone(),
                location: from.location.code.clone(),
                items: from.serialised,
                available: from.available,
                requested,
            });
        }
    }
    if let Some(to) = facts.to {
        let code = &to.location.code;
        if to.level.checked_add(requested).is_none() {
            return Err(BookingError::QuantityOverflow {
                location: code.clone(),
            });
        }
        check_fits(to.location.capacity, to.used, Usage::of(article, requested)).map_err(|o| {
            BookingError::CapacityExceeded {
                location: code.clone(),
                dimension: o.dimension,
                capacity: o.capacity,
                used: o.used,
                requested: o.requested,
            }
        })?;
    }
    Ok(())
}

/// Checks one item of an EPC booking against its current state.
/// `item` is `None` for an EPC the depot has never seen.
pub fn check_item(
    kind: MovementKind,
    epc: &str,
    item: Option<&ItemFacts>,
    from: Option<&LocationCode>,
) -> Result<(), BookingError> {
    let stored_at = item.and_then(|i| {
        (i.state == ItemState::Stored)
            .then_some(i.location.as_ref())
            .flatten()
    });
    match (item_arrives(kind, from), stored_at) {
        (true, Some(location)) => Err(BookingError::ItemAlreadyInStock {
            epc: epc.to_owned(),
            location: location.clone(),
        }),
        (true, None) => Ok(()),
        (false, None) => Err(BookingError::ItemNotInStock {
            epc: epc.to_owned(),
        }),
        (false, Some(location)) => match from {
            Some(from) if from != location => Err(BookingError::ItemElsewhere {
                epc: epc.to_owned(),
                location: location.clone(),
            }),
            _ => Ok(()),
        },
    }
}

/// Whether a movement of `kind` brings items into the depot (rather than
/// moving or taking away items that lie somewhere).
pub fn item_arrives(kind: MovementKind, from: Option<&LocationCode>) -> bool {
    matches!(kind, MovementKind::Receive | MovementKind::TransferIn)
        || (kind == MovementKind::Adjust && from.is_none())
}

/// The item state after a movement of `kind` with target `to`.
pub fn item_state_after(kind: MovementKind, to: Option<&LocationCode>) -> ItemState {
    match (kind, to) {
        (_, Some(_)) => ItemState::Stored,
        (MovementKind::TransferOut, None) => ItemState::InTransit,
        _ => ItemState::Issued,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;
    use crate::domain::article::Classification;
    use crate::domain::location::{Capacity, LocationKind};

    fn article(sku: &str) -> Article {
        Article {
            sku: Sku::parse(sku).unwrap(),
            name: sku.into(),
            unit: Unit::Piece,
            gtin: None,
            nsn: None,
            supply_class: None,
            classification: Classification::Open,
            unit_weight_g: Some(1000),
            unit_volume_ml: Some(500),
            lot_tracked: false,
            expiry_tracked: false,
        }
    }

    fn location(code: &str, volume_l: Option<i64>) -> Location {
        Location {
            code: LocationCode::parse(code).unwrap(),
            zone: "A".into(),
            kind: LocationKind::Bin,
            capacity: Capacity {
                volume_l,
                weight_kg: None,
                pallets: None,
            },
        }
    }

    fn request(
        kind: MovementKind,
        quantity: i64,
        from: Option<&str>,
        to: Option<&str>,
    ) -> BookingRequest {
        BookingRequest {
            kind,
            sku: Sku::parse("S1").unwrap(),
            quantity: Quantity::new(quantity).unwrap(),
            from: from.map(|c| LocationCode::parse(c).unwrap()),
            to: to.map(|c| LocationCode::parse(c).unwrap()),
            lot: Lot::none(),
            epcs: vec![],
            reason: None,
        }
    }

    #[test]
    fn a_count_books_the_difference_as_an_adjustment_or_nothing() {
        let take = |counted| Stocktake {
            sku: Sku::parse("S1").unwrap(),
            location: LocationCode::parse("A").unwrap(),
            lot: Lot::none(),
            counted,
        };
        let more = correct_to_count(&take(7), 5).expect("an adjustment in");
        assert_eq!(
            (
                more.kind,
                more.quantity.get(),
                more.from.as_ref().map(|c| c.as_str()),
                more.to.as_ref().map(|c| c.as_str())
            ),
            (MovementKind::Adjust, 2, None, Some("A"))
        );
        assert_eq!(more.reason.as_deref(), Some("count: 7 counted, 5 booked"));
        assert!(check_shape(&more).is_ok());
        let less = correct_to_count(&take(0), 3).expect("an adjustment out");
        assert_eq!(
            (
                less.quantity.get(),
                less.from.as_ref().map(|c| c.as_str()),
                less.to.as_ref()
            ),
            (3, Some("A"), None)
        );
        assert!(check_shape(&less).is_ok());
        assert_eq!(correct_to_count(&take(4), 4), None, "the books agree");
        assert_eq!(correct_to_count(&take(0), 0), None);
        let huge = correct_to_count(&take(0), i64::MAX).expect("as far as one movement goes");
        assert_eq!(huge.quantity.get(), Quantity::MAX);
    }

    #[test]
    fn shape_of_each_kind() {
        use MovementKind::*;
        assert!(check_shape(&request(Receive, 1, None, Some("A"))).is_ok());
        assert_eq!(
            check_shape(&request(Receive, 1, Some("B"), Some("A"))),
            Err(BookingError::UnexpectedLocation {
                field: "from",
                kind: Receive
            })
        );
        assert_eq!(
            check_shape(&request(Issue, 1, None, None)),
            Err(BookingError::MissingLocation {
                field: "from",
                kind: Issue
            })
        );
        assert_eq!(
            check_shape(&request(Move, 1, Some("A"), Some("A"))),
            Err(BookingError::SameLocation)
        );
        assert_eq!(
            check_shape(&request(Adjust, 1, None, Some("A"))),
            Err(BookingError::ReasonRequired)
        );
        let mut adjust = request(Adjust, 1, Some("A"), None);
        adjust.reason = Some("count".into());
        assert!(check_shape(&adjust).is_ok());
        assert_eq!(
            check_shape(&request(TransferIn, 1, None, Some("A"))),
            Err(BookingError::KindNotBookable(TransferIn))
        );
    }

    #[test]
    fn refuses_more_than_available_with_the_figures() {
        let a = article("S1");
        let bin = location("A", None);
        let facts = BookingFacts {
            article: &a,
            from: Some(SourceFacts {
                location: &bin,
                available: 3,
                serialised: 0,
            }),
            to: None,
        };
        let err = decide(&request(MovementKind::Issue, 4, Some("A"), None), &facts).unwrap_err();
        assert_eq!(
            err,
            BookingError::InsufficientStock {
                sku: a.sku.clone(),
                location: bin.code.clone(),
                available: 3,
                requested: 4
            }
        );
        assert!(err.is_conflict());
        assert!(decide(&request(MovementKind::Issue, 3, Some("A"), None), &facts).is_ok());
    }

    #[test]
    fn serialised_items_leave_only_by_epc() {
        let a = article("S1");
        let bin = location("A", None);
        let facts = BookingFacts {
            article: &a,
            from: Some(SourceFacts {
                location: &bin,
                available: 5,
                serialised: 3,
            }),
            to: None,
        };
        assert!(decide(&request(MovementKind::Issue, 2, Some("A"), None), &facts).is_ok());
        let err = decide(&request(MovementKind::Issue, 3, Some("A"), None), &facts).unwrap_err();
        assert!(
            matches!(err, BookingError::SerialisedItems { items: 3, .. }),
            "{err:?}"
        );
        let mut by_epc = request(MovementKind::Issue, 3, Some("A"), None);
        by_epc.epcs = vec!["urn:epc:id:sgtin:0614141.812345.1".into(); 3];
        assert!(decide(&by_epc, &facts).is_ok());
    }

    #[test]
    fn refuses_what_does_not_fit() {
        let a = article("S1");
        let bin = location("A", Some(1));
        let used = Usage {
            volume_ml: 500,
            ..Usage::default()
        };
        let facts = BookingFacts {
            article: &a,
            from: None,
            to: Some(TargetFacts {
                location: &bin,
                level: 1,
                used,
            }),
        };
        assert!(decide(&request(MovementKind::Receive, 1, None, Some("A")), &facts).is_ok());
        let err = decide(&request(MovementKind::Receive, 2, None, Some("A")), &facts).unwrap_err();
        assert!(matches!(
            err,
            BookingError::CapacityExceeded {
                dimension: "volume_ml",
                capacity: 1000,
                used: 500,
                requested: 1000,
                ..
            }
        ));
    }

    #[test]
    fn refuses_overflow_past_i64() {
        let a = Article {
            unit_volume_ml: None,
            unit_weight_g: None,
            ..article("S1")
        };
        let bin = location("A", None);
        let facts = BookingFacts {
            article: &a,
            from: None,
            to: Some(TargetFacts {
                location: &bin,
                level: i64::MAX,
                used: Usage::default(),
            }),
        };
        assert!(matches!(
            decide(&request(MovementKind::Receive, 1, None, Some("A")), &facts),
            Err(BookingError::QuantityOverflow { .. })
        ));
    }

    #[test]
    fn lots_must_match_tracking() {
        let tracked = Article {
            lot_tracked: true,
            ..article("S1")
        };
        let bin = location("A", None);
        let to = Some(TargetFacts {
            location: &bin,
            level: 0,
            used: Usage::default(),
        });
        let facts = BookingFacts {
            article: &tracked,
            from: None,
            to,
        };
        let mut req = request(MovementKind::Receive, 1, None, Some("A"));
        assert!(matches!(
            decide(&req, &facts),
            Err(BookingError::LotRequired { .. })
        ));
        req.lot = Lot::parse("L1").unwrap();
        assert!(decide(&req, &facts).is_ok());
        let untracked = article("S1");
        let facts = BookingFacts {
            article: &untracked,
            from: None,
            to,
        };
        assert!(matches!(
            decide(&req, &facts),
            Err(BookingError::LotNotTracked { .. })
        ));
    }

    #[test]
    fn items_follow_their_state() {
        let a = LocationCode::parse("A").unwrap();
        let b = LocationCode::parse("B").unwrap();
        let stored = ItemFacts {
            epc: "E".into(),
            state: ItemState::Stored,
            location: Some(a.clone()),
        };
        let issued = ItemFacts {
            epc: "E".into(),
            state: ItemState::Issued,
            location: None,
        };
        use MovementKind::*;
        assert!(check_item(Receive, "E", None, None).is_ok());
        assert!(check_item(Receive, "E", Some(&issued), None).is_ok());
        assert!(matches!(
            check_item(Receive, "E", Some(&stored), None),
            Err(BookingError::ItemAlreadyInStock { .. })
        ));
        assert!(check_item(Issue, "E", Some(&stored), None).is_ok());
        assert!(check_item(Issue, "E", Some(&stored), Some(&a)).is_ok());
        assert!(matches!(
            check_item(Issue, "E", Some(&stored), Some(&b)),
            Err(BookingError::ItemElsewhere { .. })
        ));
        assert!(matches!(
            check_item(Move, "E", Some(&issued), None),
            Err(BookingError::ItemNotInStock { .. })
        ));
        assert!(matches!(
            check_item(Issue, "E", None, None),
            Err(BookingError::ItemNotInStock { .. })
        ));
        assert_eq!(item_state_after(Issue, None), ItemState::Issued);
        assert_eq!(item_state_after(Move, Some(&b)), ItemState::Stored);
    }

    /// A booking attempt in the property test: kind, quantity, and which of
    /// three locations are source and target.
    fn attempt() -> impl Strategy<Value = (u8, i64, usize, usize)> {
        (0u8..4, 1i64..20, 0usize..3, 0usize..3)
    }

    proptest! {
        /// Random booking sequences, applied only where `decide` allows them,
        /// keep every stock level non-negative and equal to the sum of the ledger.
        #[test]
        fn random_bookings_keep_stock_non_negative_and_equal_to_the_ledger(
            attempts in proptest::collection::vec(attempt(), 1..200)
        ) {
            let a = article("S1");
            let locations: Vec<Location> = ["A", "B", "C"].iter().map(|c| location(c, Some(20))).collect();
            let mut levels: BTreeMap<usize, i64> = BTreeMap::new();
            let mut ledger: Vec<(Option<usize>, Option<usize>, i64)> = Vec::new();
            for (kind, quantity, x, y) in attempts {
                let (kind, from, to) = match kind {
                    0 => (MovementKind::Receive, None, Some(y)),
                    1 => (MovementKind::Issue, Some(x), None),
                    2 => (MovementKind::Move, Some(x), Some(y)),
                    _ => (MovementKind::Adjust, Some(x), None),
                };
                let mut req = request(
                    kind,
                    quantity,
                    from.map(|i| locations[i].code.as_str()),
                    to.map(|i| locations[i].code.as_str()),
                );
                req.reason = Some("count".into());
                let facts = BookingFacts {
                    article: &a,
                    from: from.map(|i| SourceFacts { location: &locations[i], available: levels.get(&i).copied().unwrap_or(0), serialised: 0 }),
                    to: to.map(|i| {
                        let level = levels.get(&i).copied().unwrap_or(0);
                        TargetFacts { location: &locations[i], level, used: Usage::of(&a, level) }
                    }),
                };
                if decide(&req, &facts).is_ok() {
                    if let Some(i) = from { *levels.entry(i).or_default() -= quantity; }
                    if let Some(i) = to { *levels.entry(i).or_default() += quantity; }
                    ledger.push((from, to, quantity));
                }
            }
            for (&i, &level) in &levels {
                prop_assert!(level >= 0, "negative stock at {}", i);
                prop_assert!(Usage::of(&a, level).volume_ml <= 20_000, "over capacity at {}", i);
                let sum: i64 = ledger.iter().map(|&(f, t, q)| {
                    (if t == Some(i) { q } else { 0 }) - (if f == Some(i) { q } else { 0 })
                }).sum();
                prop_assert_eq!(level, sum);
            }
        }
    }
}
