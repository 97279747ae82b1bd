//! Expected deliveries (advance shipping notices) and their reconciliation
//! at the dock's gate: which expected line an item received at the dock
//! fulfils (and so which lot it carries), and what of a delivery is
//! received, missing or unexpected.
//!
//! Decides from values only: the writer loads a dock's open deliveries and
//! their receipts, asks [`match_at_dock`] for each item an `in` pass brings,
//! and records what it decided; the façade asks [`reconcile`] for the view.

use super::article::{is_key, Article, Sku};
use super::location::LocationCode;
use super::quantity::{Lot, Quantity};
use super::FieldError;

/// A delivery's reference, e.g. the shipping notice's number:
/// `[A-Za-z0-9._-]{1,64}` (it is a path segment of the API).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DeliveryRef(String);

impl DeliveryRef {
    /// Validates the syntax.
    pub fn parse(text: &str) -> Result<Self, FieldError> {
        if is_key(text) {
            Ok(Self(text.to_owned()))
        } else {
            Err(FieldError::new(
                "reference",
                "must be 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' or '-'",
            ))
        }
    }

    /// The reference text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for DeliveryRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What one line of a delivery expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expected {
    /// One item, by its EPC (pure-identity URI).
    Item { epc: String },
    /// A number of units of an article, whichever items they are.
    Count { sku: Sku, quantity: Quantity },
}

/// One expected line, with the lot its goods carry (none for an article
/// that is not lot-tracked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedLine {
    /// 1, 2, … in the order the notice listed them.
    pub line: u32,
    pub expected: Expected,
    pub lot: Lot,
}

impl ExpectedLine {
    /// How many units the line expects.
    pub fn quantity(&self) -> i64 {
        match &self.expected {
            Expected::Item { .. } => 1,
            Expected::Count { quantity, .. } => quantity.get(),
        }
    }
}

/// An expected delivery to one dock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub reference: DeliveryRef,
    pub dock: LocationCode,
    pub lines: Vec<ExpectedLine>,
}

/// Why a notice cannot be registered as it is.
pub fn check_lines(lines: &[ExpectedLine]) -> Result<(), FieldError> {
    if lines.is_empty() || lines.len() > MAX_LINES {
        return Err(FieldError::new(
            "expected",
            format!("must list 1 to {MAX_LINES} entries"),
        ));
    }
    let mut epcs = std::collections::HashSet::new();
    for line in lines {
        if let Expected::Item { epc } = &line.expected {
            if !epcs.insert(epc.as_str()) {
                return Err(FieldError::new(
                    "expected",
                    format!("entry {}: EPC {epc} is listed twice", line.line),
                ));
            }
        }
    }
    Ok(())
}

/// The most lines one notice may list.
pub const MAX_LINES: usize = 10_000;

/// Checks a count line against its article (`None`: no article the caller
/// may see has the SKU): the lot is required for a lot-tracked article and
/// refused for any other. An EPC line is checked when its item arrives.
pub fn check_line_article(
    line: &ExpectedLine,
    article: Option<&Article>,
) -> Result<(), FieldError> {
    let Expected::Count { sku, .. } = &line.expected else {
        return Ok(());
    };
    let entry = line.line;
    let reason = match article {
        None => format!("entry {entry}: no article '{sku}'"),
        Some(a) if a.lot_tracked && line.lot.is_none() => {
            format!("entry {entry}: article {sku} is lot-tracked: give its 'lot'")
        }
        Some(a) if !a.lot_tracked && !line.lot.is_none() => {
            format!("entry {entry}: article {sku} is not lot-tracked: give no 'lot'")
        }
        Some(_) => return Ok(()),
    };
    Err(FieldError::new("expected", reason))
}

/// An item received at a delivery's dock while the delivery was open,
/// booked by the gate pass `pass_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub pass_id: i64,
    pub epc: String,
    pub sku: Sku,
    pub lot: Lot,
    /// The line it fulfils; `None`: the delivery did not expect it.
    pub line: Option<u32>,
}

/// Which line an item fulfils and the lot that gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineMatch {
    pub line: u32,
    pub lot: Lot,
}

/// How many units of `line` the receipts already fulfil.
fn received_of(line: u32, receipts: &[Receipt]) -> i64 {
    let count = receipts.iter().filter(|r| r.line == Some(line)).count();
    i64::try_from(count).unwrap_or(i64::MAX)
}

/// The line of `delivery` an item (EPC `epc` of article `sku`) fulfils: the
/// line expecting that EPC if it is not received yet, else the first count
/// line of the article with units left. `None`: the delivery does not
/// expect it.
pub fn match_item(
    delivery: &Delivery,
    receipts: &[Receipt],
    epc: &str,
    sku: &Sku,
) -> Option<LineMatch> {
    let open = |line: &&ExpectedLine| received_of(line.line, receipts) < line.quantity();
    let by_epc = delivery
        .lines
        .iter()
        .filter(open)
        .find(|l| matches!(&l.expected, Expected::Item { epc: e } if e == epc));
    let by_count = || {
        delivery
            .lines
            .iter()
            .filter(open)
            .find(|l| matches!(&l.expected, Expected::Count { sku: s, .. } if s == sku))
    };
    by_epc.or_else(by_count).map(|l| LineMatch {
        line: l.line,
        lot: l.lot.clone(),
    })
}

/// Where an item received at a dock belongs among the dock's open
/// deliveries (oldest first): the first that expects it, with its line;
/// if none does, the oldest, as unexpected (`None` line). `None` when the
/// dock expects no delivery.
pub fn match_at_dock(
    open: &[(Delivery, Vec<Receipt>)],
    epc: &str,
    sku: &Sku,
) -> Option<(usize, Option<LineMatch>)> {
    open.iter()
        .enumerate()
        .find_map(|(index, (delivery, receipts))| {
            match_item(delivery, receipts, epc, sku).map(|m| (index, Some(m)))
        })
        .or_else(|| (!open.is_empty()).then_some((0, None)))
}

/// One line and how much of it arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineState {
    pub line: ExpectedLine,
    pub received: i64,
}

impl LineState {
    /// Units still missing.
    pub fn missing(&self) -> i64 {
        (self.line.quantity() - self.received).max(0)
    }
}

/// A delivery reconciled against what its dock's gate received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reconciliation {
    /// Every line with what arrived of it.
    pub lines: Vec<LineState>,
    /// Receipts that fulfil a line.
    pub received: Vec<Receipt>,
    /// Receipts the delivery did not expect.
    pub unexpected: Vec<Receipt>,
}

impl Reconciliation {
    /// Whether every line is fully received.
    pub fn complete(&self) -> bool {
        self.lines.iter().all(|l| l.missing() == 0)
    }
}

/// Reconciles `delivery` against its receipts.
pub fn reconcile(delivery: &Delivery, receipts: &[Receipt]) -> Reconciliation {
    let (received, unexpected): (Vec<Receipt>, Vec<Receipt>) =
        receipts.iter().cloned().partition(|r| {
            r.line
                .is_some_and(|n| delivery.lines.iter().any(|l| l.line == n))
        });
    Reconciliation {
        lines: delivery
            .lines
            .iter()
            .map(|line| LineState {
                line: line.clone(),
                received: received_of(line.line, receipts),
            })
            .collect(),
        received,
        unexpected,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn sku(text: &str) -> Sku {
        Sku::parse(text).expect("sku")
    }

    fn lot(text: &str) -> Lot {
        Lot::parse(text).expect("lot")
    }

    fn delivery(lines: Vec<(Expected, Lot)>) -> Delivery {
        Delivery {
            reference: DeliveryRef::parse("ASN-1").expect("ref"),
            dock: LocationCode::parse("DOCK-1").expect("dock"),
            lines: lines
                .into_iter()
                .enumerate()
                .map(|(i, (expected, lot))| ExpectedLine {
                    line: u32::try_from(i + 1).expect("line"),
                    expected,
                    lot,
                })
                .collect(),
        }
    }

    fn count(s: &str, n: i64) -> Expected {
        Expected::Count {
            sku: sku(s),
            quantity: Quantity::new(n).expect("qty"),
        }
    }

    fn item(epc: &str) -> Expected {
        Expected::Item { epc: epc.into() }
    }

    fn receipt(pass_id: i64, epc: &str, s: &str, m: Option<&LineMatch>) -> Receipt {
        Receipt {
            pass_id,
            epc: epc.into(),
            sku: sku(s),
            lot: m.map_or_else(Lot::none, |m| m.lot.clone()),
            line: m.map(|m| m.line),
        }
    }

    #[test]
    fn an_expected_epc_comes_before_a_count_of_its_article() {
        let asn = delivery(vec![
            (count("WATER", 2), lot("L-COUNT")),
            (item("urn:e:1"), lot("L-ITEM")),
        ]);
        let first = match_item(&asn, &[], "urn:e:1", &sku("WATER")).expect("matched");
        assert_eq!(
            first,
            LineMatch {
                line: 2,
                lot: lot("L-ITEM")
            }
        );
        let receipts = vec![receipt(1, "urn:e:1", "WATER", Some(&first))];
        // The same EPC again (received before) counts against the count line.
        let again = match_item(&asn, &receipts, "urn:e:1", &sku("WATER")).expect("matched");
        assert_eq!(again.line, 1);
        assert_eq!(match_item(&asn, &receipts, "urn:e:9", &sku("OTHER")), None);
    }

    #[test]
    fn a_count_line_takes_no_more_than_it_expects() {
        let asn = delivery(vec![(count("WATER", 2), Lot::none())]);
        let mut receipts = Vec::new();
        for n in 1..=3 {
            let epc = format!("urn:e:{n}");
            let m = match_item(&asn, &receipts, &epc, &sku("WATER"));
            assert_eq!(m.is_some(), n <= 2, "item {n}");
            receipts.push(receipt(n, &epc, "WATER", m.as_ref()));
        }
        let view = reconcile(&asn, &receipts);
        assert_eq!(view.lines[0].received, 2);
        assert_eq!(view.lines[0].missing(), 0);
        assert!(view.complete());
        assert_eq!(view.received.len(), 2);
        assert_eq!(view.unexpected.len(), 1);
    }

    #[test]
    fn the_oldest_open_delivery_that_expects_an_item_takes_it() {
        let older = delivery(vec![(count("WATER", 1), lot("OLD"))]);
        let newer = delivery(vec![(count("RICE", 1), lot("NEW"))]);
        let open = vec![(older, Vec::new()), (newer, Vec::new())];
        let (index, m) = match_at_dock(&open, "urn:e:1", &sku("RICE")).expect("a delivery");
        assert_eq!((index, m.map(|m| m.lot)), (1, Some(lot("NEW"))));
        // Expected by none: unexpected in the oldest.
        assert_eq!(
            match_at_dock(&open, "urn:e:2", &sku("SALT")),
            Some((0, None))
        );
        assert_eq!(match_at_dock(&[], "urn:e:2", &sku("SALT")), None);
    }

    #[test]
    fn missing_is_what_is_expected_and_not_received() {
        let asn = delivery(vec![
            (item("urn:e:1"), Lot::none()),
            (item("urn:e:2"), Lot::none()),
            (count("WATER", 5), Lot::none()),
        ]);
        let m = match_item(&asn, &[], "urn:e:2", &sku("X")).expect("matched");
        let receipts = vec![receipt(1, "urn:e:2", "X", Some(&m))];
        let view = reconcile(&asn, &receipts);
        let missing: Vec<i64> = view.lines.iter().map(LineState::missing).collect();
        assert_eq!(missing, [1, 0, 5]);
        assert!(!view.complete());
    }

    #[test]
    fn a_notice_lists_each_epc_once_and_something() {
        assert!(check_lines(&[]).is_err());
        let twice = delivery(vec![
            (item("urn:e:1"), Lot::none()),
            (item("urn:e:1"), Lot::none()),
        ]);
        let error = check_lines(&twice.lines).expect_err("twice");
        assert!(error.reason.contains("entry 2"), "{error}");
        let fine = delivery(vec![
            (item("urn:e:1"), Lot::none()),
            (count("A", 3), Lot::none()),
        ]);
        assert_eq!(check_lines(&fine.lines), Ok(()));
        assert!(DeliveryRef::parse("ASN 1").is_err());
    }

    proptest! {
        /// Whatever arrives, in whatever order: every receipt is received or
        /// unexpected, never both; no line receives more than it expects;
        /// an expected EPC is matched to its own line while that line is
        /// open; and what is received plus what is missing is what was expected.
        #[test]
        fn receipts_reconcile_with_the_notice(
            lines in proptest::collection::vec((proptest::bool::ANY, 0usize..4, 1i64..4), 1..6),
            arrivals in proptest::collection::vec((0usize..8, 0usize..4), 0..30),
        ) {
            let skus = ["A", "B", "C", "D"];
            let asn = delivery(lines.iter().enumerate().map(|(i, (by_epc, s, n))| {
                if *by_epc { (item(&format!("urn:e:{i}")), Lot::none()) } else { (count(skus[*s], *n), Lot::none()) }
            }).collect());
            prop_assume!(check_lines(&asn.lines).is_ok());
            let mut receipts: Vec<Receipt> = Vec::new();
            for (pass, (e, s)) in arrivals.into_iter().enumerate() {
                let epc = format!("urn:e:{e}");
                let m = match_item(&asn, &receipts, &epc, &sku(skus[s]));
                if let Some(m) = &m {
                    let line = asn.lines.iter().find(|l| l.line == m.line).expect("a line of the notice");
                    match &line.expected {
                        Expected::Item { epc: want } => prop_assert_eq!(want, &epc),
                        Expected::Count { sku: want, .. } => prop_assert_eq!(want.as_str(), skus[s]),
                    }
                }
                let own_line_open = asn.lines.iter().any(|l| {
                    matches!(&l.expected, Expected::Item { epc: want } if *want == epc)
                        && !receipts.iter().any(|r| r.line == Some(l.line))
                });
                if own_line_open {
                    let line = m.as_ref().map(|m| m.line);
                    let own = asn.lines.iter().find(|l| matches!(&l.expected, Expected::Item { epc: want } if *want == epc)).map(|l| l.line);
                    prop_assert_eq!(line, own);
                }
                receipts.push(receipt(i64::try_from(pass).expect("id"), &epc, skus[s], m.as_ref()));
            }
            let view = reconcile(&asn, &receipts);
            prop_assert_eq!(view.received.len() + view.unexpected.len(), receipts.len());
            let mut expected_total = 0;
            for state in &view.lines {
                prop_assert!(state.received <= state.line.quantity());
                prop_assert_eq!(state.received + state.missing(), state.line.quantity());
                expected_total += state.line.quantity();
            }
            let missing: i64 = view.lines.iter().map(LineState::missing).sum();
            prop_assert_eq!(i64::try_from(view.received.len()).expect("len") + missing, expected_total);
            prop_assert_eq!(view.complete(), missing == 0);
        }
    }
}
