//! Parsing what a user typed or sent into façade input, once for every
//! adapter: the JSON API, the pages' forms, the scan page and imports all
//! hand over the same drafts and get the same field errors.
//!
//! Pure: no I/O. The article and location drafts live with their domain
//! values (`domain::article::ArticleDraft`, `domain::location::LocationDraft`);
//! a booking draft needs EPC resolution (`crate::epc`), so it lives here.

use super::{BookingInput, EpcRef};
use crate::domain::article::Sku;
use crate::domain::booking::{BookingRequest, MovementKind};
use crate::domain::location::LocationCode;
use crate::domain::quantity::{Lot, Quantity};
use crate::domain::FieldError;
use crate::epc;

/// The most EPCs one booking may carry.
pub const MAX_EPCS: usize = 10_000;

/// The longest `reason`, in characters.
pub const MAX_REASON_CHARS: usize = 500;

/// A booking as typed or sent, before any check.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BookingDraft {
    pub kind: String,
    pub sku: Option<String>,
    pub quantity: Option<i64>,
    /// EPCs as hex, tag URI, pure-identity URI or GS1 Digital Link; instead of `sku`/`quantity`.
    pub epcs: Option<Vec<String>>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub lot: Option<String>,
    pub reason: Option<String>,
}

impl BookingDraft {
    /// Checks every field, reporting every failure at once.
    pub fn parse(self) -> Result<BookingInput, Vec<FieldError>> {
        let mut errors: Vec<FieldError> = Vec::new();
        let kind = MovementKind::parse(&self.kind)
            .map_err(|e| errors.push(e))
            .ok();
        let mut location = |field: &'static str, text: Option<&str>| {
            text.map(|c| LocationCode::parse_field(field, c))
                .transpose()
                .map_err(|e| errors.push(e))
                .ok()
                .flatten()
        };
        let from = location("from", self.from.as_deref());
        let to = location("to", self.to.as_deref());
        let lot = match self.lot.as_deref() {
            Some(text) => Lot::parse(text)
                .map_err(|e| errors.push(e))
                .unwrap_or_default(),
            None => Lot::none(),
        };
        if let Some(reason) = &self.reason {
            if reason.chars().count() > MAX_REASON_CHARS {
                errors.push(FieldError::new(
                    "reason",
                    format!("must be at most {MAX_REASON_CHARS} characters"),
                ));
            }
        }
        let input = match (self.epcs, self.sku, self.quantity) {
            (Some(epcs), None, None) => {
                let refs = parse_epcs(&epcs, &mut errors);
                kind.map(|kind| BookingInput::Items {
                    kind,
                    epcs: refs,
                    from,
                    to,
                    lot,
                    reason: self.reason,
                })
            }
            (None, Some(sku), Some(quantity)) => {
                let sku = Sku::parse(&sku).map_err(|e| errors.push(e)).ok();
                let quantity = Quantity::new(quantity).map_err(|e| errors.push(e)).ok();
                match (kind, sku, quantity) {
                    (Some(kind), Some(sku), Some(quantity)) => {
                        Some(BookingInput::Count(BookingRequest {
                            kind,
                            sku,
                            quantity,
                            from,
                            to,
                            lot,
                            epcs: Vec::new(),
                            reason: self.reason,
                        }))
                    }
                    _ => None,
                }
            }
            (Some(_), _, _) => {
                errors.push(FieldError::new(
                    "epcs",
                    "give either 'epcs' or 'sku' with 'quantity', not both",
                ));
                None
            }
            (None, None, _) => {
                errors.push(FieldError::new("sku", "is required (or give 'epcs')"));
                None
            }
            (None, Some(_), None) => {
                errors.push(FieldError::new("quantity", "is required with 'sku'"));
                None
            }
        };
        match input {
            Some(input) if errors.is_empty() => Ok(input),
            _ => Err(errors),
        }
    }
}

/// One scan as the scan page or a handheld sends it: a code as the scanner
/// read it, what to do, and where. `location` is where the scan happens:
/// the target of a receipt or move, the source of an issue; a move also
/// names `from`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanDraft {
    pub kind: String,
    /// An EPC (hex, tag or pure-identity URI), a GS1 element string or
    /// Digital Link with a serial (an item), or else a SKU.
    pub code: String,
    /// For a SKU: how many (default 1). An item is always one.
    pub quantity: Option<i64>,
    pub location: Option<String>,
    pub from: Option<String>,
}

impl ScanDraft {
    /// The booking this scan asks for; checked by [`BookingDraft::parse`].
    pub fn into_booking(self) -> BookingDraft {
        let given =
            |text: Option<String>| text.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty());
        let code = self.code.trim().to_owned();
        let location = given(self.location);
        let from = given(self.from);
        let (from, to) = match self.kind.as_str() {
            "issue" => (location.or(from), None),
            "receive" => (None, location),
            _ => (from, location),
        };
        let item = epc::parse(&code).is_ok();
        BookingDraft {
            kind: self.kind,
            sku: (!item).then(|| code.clone()),
            quantity: (!item).then(|| self.quantity.unwrap_or(1)),
            epcs: item.then(|| vec![code]),
            from,
            to,
            lot: None,
            reason: None,
        }
    }
}

/// Resolves each EPC, noting every bad or repeated one.
fn parse_epcs(epcs: &[String], errors: &mut Vec<FieldError>) -> Vec<EpcRef> {
    if epcs.is_empty() || epcs.len() > MAX_EPCS {
        errors.push(FieldError::new(
            "epcs",
            format!("must hold 1 to {MAX_EPCS} EPCs"),
        ));
    }
    let mut refs: Vec<EpcRef> = Vec::with_capacity(epcs.len());
    for text in epcs {
        match epc::parse(text) {
            Ok(r) if refs.iter().any(|seen| seen.id == r.id) => {
                errors.push(FieldError::new(
                    "epcs",
                    format!("EPC {} appears more than once", r.id),
                ));
            }
            Ok(r) => refs.push(r),
            Err(reason) => errors.push(FieldError::new("epcs", format!("'{text}': {reason}"))),
        }
    }
    refs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(kind: &str) -> BookingDraft {
        BookingDraft {
            kind: kind.into(),
            ..BookingDraft::default()
        }
    }

    #[test]
    fn a_count_booking_parses() {
        let input = BookingDraft {
            sku: Some("WATER-1L5".into()),
            quantity: Some(5),
            from: Some("A-01-03".into()),
            ..draft("issue")
        }
        .parse()
        .expect("valid");
        let BookingInput::Count(request) = input else {
            panic!("a count booking");
        };
        assert_eq!(request.quantity.get(), 5);
        assert_eq!(request.kind, MovementKind::Issue);
    }

    #[test]
    fn every_bad_field_is_reported_at_once() {
        let errors = BookingDraft {
            sku: Some("bad sku!".into()),
            quantity: Some(0),
            from: Some(String::new()),
            reason: Some("x".repeat(501)),
            ..draft("steal")
        }
        .parse()
        .expect_err("invalid");
        let fields: Vec<&str> = errors.iter().map(|e| e.field).collect();
        for field in ["kind", "from", "reason", "sku", "quantity"] {
            assert!(fields.contains(&field), "{field} missing in {fields:?}");
        }
    }

    #[test]
    fn epcs_and_sku_together_are_refused() {
        let errors = BookingDraft {
            sku: Some("S".into()),
            quantity: Some(1),
            epcs: Some(vec!["3074257BF7194E4000001A85".into()]),
            to: Some("DOCK-1".into()),
            ..draft("receive")
        }
        .parse()
        .expect_err("both");
        assert_eq!(errors[0].field, "epcs");
    }

    #[test]
    fn a_scan_is_an_item_or_an_amount_of_a_sku() {
        let scan = |kind: &str, code: &str| ScanDraft {
            kind: kind.into(),
            code: code.into(),
            location: Some("A-01-01".into()),
            from: Some(" ".into()),
            ..ScanDraft::default()
        };
        let item = scan("receive", "(01)80614141123458(21)6789").into_booking();
        assert_eq!(
            item.epcs.as_deref(),
            Some(&["(01)80614141123458(21)6789".to_owned()][..])
        );
        assert_eq!((item.sku, item.quantity), (None, None));
        assert_eq!(item.to.as_deref(), Some("A-01-01"));
        let sku = scan("issue", " WATER-1L5 ").into_booking();
        assert_eq!(
            (sku.sku.as_deref(), sku.quantity),
            (Some("WATER-1L5"), Some(1))
        );
        assert_eq!(
            (sku.from.as_deref(), sku.to.as_deref()),
            (Some("A-01-01"), None)
        );
        assert!(sku.parse().is_ok());
    }

    #[test]
    fn a_repeated_epc_is_named() {
        let epc = "3074257BF7194E4000001A85".to_owned();
        let errors = BookingDraft {
            epcs: Some(vec![epc.clone(), epc]),
            to: Some("DOCK-1".into()),
            ..draft("receive")
        }
        .parse()
        .expect_err("repeated");
        assert!(errors[0].reason.contains("more than once"), "{errors:?}");
    }
}
