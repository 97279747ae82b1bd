//! Parsing what a user typed or sent into façade input, once for every
//! adapter: the JSON API, the pages' forms, the scan page and imports all
//! hand over the same drafts and get the same field errors.
//!
//! Pure: no I/O. The article and location drafts live with their domain
//! values (`domain::article::ArticleDraft`, `domain::location::LocationDraft`);
//! a booking draft needs EPC resolution (`crate::epc`), so it lives here.

use super::{BookingInput, EpcRef};
use crate::domain::article::Sku;
use crate::domain::booking::{BookingRequest, MovementKind, Stocktake};
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

/// What a scanned or typed code names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanCode {
    /// One serialised item: an EPC in any notation, or a GS1 element string
    /// or Digital Link with a GTIN and a serial.
    Item(String),
    /// A trade item without a serial: a GS1 element string or Digital Link
    /// with a GTIN (as GTIN-14) and no serial, perhaps with a lot (AI 10):
    /// an amount of the article that has this GTIN.
    Gtin { gtin14: String, lot: Option<String> },
    /// Anything else is taken for a SKU.
    Sku(String),
}

impl ScanCode {
    /// Reads a code as a scanner or a person typed it.
    pub fn of(code: &str) -> Self {
        let code = code.trim();
        if epc::parse(code).is_ok() {
            return Self::Item(code.to_owned());
        }
        if let Ok(data) = rfid_driver::gs1::parse_scan(code) {
            if let (Some(gtin), None) = (data.gtin, data.serial) {
                return Self::Gtin {
                    gtin14: gtin.to_string(),
                    lot: data.lot.map(|lot| lot.as_str().to_owned()),
                };
            }
        }
        Self::Sku(code.to_owned())
    }
}

/// One scan as the scan page or a handheld sends it: a code as the scanner
/// read it, what to do, and where. `location` is where the scan happens:
/// the target of a receipt or move, the source of an issue, the place of a
/// count; a move also names `from`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanDraft {
    /// `receive`, `move`, `issue`, or `count`: the amount found at
    /// `location`, which books the difference to the stock there.
    pub kind: String,
    /// See [`ScanCode`].
    pub code: String,
    /// For an amount: how many (default 1; a count must say, 0 included).
    /// An item is always one.
    pub quantity: Option<i64>,
    pub location: Option<String>,
    pub from: Option<String>,
}

impl ScanDraft {
    /// The booking this scan asks for, every bad field reported at once.
    /// `gtin_article` is the article a [`ScanCode::Gtin`] names, as the
    /// caller may see it (`None`: no such article).
    pub fn parse(self, gtin_article: Option<&Sku>) -> Result<BookingInput, Vec<FieldError>> {
        let given =
            |text: Option<String>| text.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty());
        let location = given(self.location);
        let from = given(self.from);
        let (item, sku, lot) = match ScanCode::of(&self.code) {
            ScanCode::Item(epc) => (Some(epc), None, None),
            ScanCode::Gtin { gtin14, lot } => match gtin_article {
                Some(sku) => (None, Some(sku.as_str().to_owned()), lot),
                None => {
                    return Err(vec![FieldError::new(
                        "code",
                        format!("no article has GTIN {gtin14}"),
                    )])
                }
            },
            ScanCode::Sku(sku) => (None, Some(sku), None),
        };
        if self.kind == "count" {
            return count(item, sku, lot, self.quantity, location);
        }
        let (from, to) = match self.kind.as_str() {
            "issue" => (location.or(from), None),
            "receive" => (None, location),
            _ => (from, location),
        };
        BookingDraft {
            kind: self.kind,
            quantity: sku.is_some().then(|| self.quantity.unwrap_or(1)),
            sku,
            epcs: item.map(|epc| vec![epc]),
            from,
            to,
            lot,
            reason: None,
        }
        .parse()
    }
}

/// A count scan: an amount of an article (never an item) found at a location.
fn count(
    item: Option<String>,
    sku: Option<String>,
    lot: Option<String>,
    counted: Option<i64>,
    location: Option<String>,
) -> Result<BookingInput, Vec<FieldError>> {
    let mut errors = Vec::new();
    if item.is_some() {
        errors.push(FieldError::new(
            "code",
            "a count takes a SKU or a GTIN without serial; items are booked one by one",
        ));
    }
    let sku = sku.and_then(|s| Sku::parse(&s).map_err(|e| errors.push(e)).ok());
    let lot = match lot {
        Some(text) => Lot::parse(&text).map_err(|e| errors.push(e)).ok(),
        None => Some(Lot::none()),
    };
    let counted = match counted {
        Some(n) if (0..=Quantity::MAX).contains(&n) => Some(n),
        _ => {
            errors.push(FieldError::new(
                "quantity",
                format!("a count needs the amount found, 0 to {}", Quantity::MAX),
            ));
            None
        }
    };
    let location = match location {
        Some(code) => LocationCode::parse_field("location", &code)
            .map_err(|e| errors.push(e))
            .ok(),
        None => {
            errors.push(FieldError::new("location", "is required for a count"));
            None
        }
    };
    match (sku, lot, counted, location) {
        (Some(sku), Some(lot), Some(counted), Some(location)) if errors.is_empty() => {
            Ok(BookingInput::Stocktake(Stocktake {
                sku,
                location,
                lot,
                counted,
            }))
        }
        _ => Err(errors),
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

    fn scan(kind: &str, code: &str) -> ScanDraft {
        ScanDraft {
            kind: kind.into(),
            code: code.into(),
            location: Some("A-01-01".into()),
            from: Some(" ".into()),
            ..ScanDraft::default()
        }
    }

    #[test]
    fn a_scan_is_an_item_or_an_amount_of_a_sku() {
        let BookingInput::Items { epcs, to, .. } = scan("receive", "(01)80614141123458(21)6789")
            .parse(None)
            .expect("an item")
        else {
            panic!("an item booking");
        };
        assert_eq!(epcs[0].id, "urn:epc:id:sgtin:0614141.812345.6789");
        assert_eq!(to.map(|c| c.to_string()).as_deref(), Some("A-01-01"));
        let BookingInput::Count(request) =
            scan("issue", " WATER-1L5 ").parse(None).expect("an amount")
        else {
            panic!("an amount of a SKU");
        };
        assert_eq!(
            (request.sku.as_str(), request.quantity.get()),
            ("WATER-1L5", 1)
        );
        assert_eq!(
            (request.from.map(|c| c.to_string()).as_deref(), request.to),
            (Some("A-01-01"), None)
        );
    }

    #[test]
    fn a_gtin_without_serial_is_an_amount_of_its_article() {
        for code in [
            "(01)80614141123458",
            "(01)80614141123458(10)L7",
            "https://id.gs1.org/01/80614141123458",
            "https://id.gs1.org/01/80614141123458/10/L7",
        ] {
            let ScanCode::Gtin { gtin14, .. } = ScanCode::of(code) else {
                panic!("{code}: a GTIN without serial");
            };
            assert_eq!(gtin14, "80614141123458", "{code}");
        }
        assert_eq!(
            ScanCode::of("(01)80614141123458(10)L7"),
            ScanCode::Gtin {
                gtin14: "80614141123458".into(),
                lot: Some("L7".into())
            }
        );
        // A GTIN with a wrong check digit is no GTIN; a serial makes an item.
        assert_eq!(
            ScanCode::of("(01)80614141123459"),
            ScanCode::Sku("(01)80614141123459".into())
        );
        assert!(matches!(
            ScanCode::of("https://id.gs1.org/01/80614141123458/21/6789"),
            ScanCode::Item(_)
        ));
        assert_eq!(ScanCode::of("WATER-1L5"), ScanCode::Sku("WATER-1L5".into()));

        let sku = Sku::parse("TAGGED").expect("sku");
        let mut draft = scan("receive", "(01)80614141123458(10)L7");
        draft.quantity = Some(3);
        let BookingInput::Count(request) = draft.clone().parse(Some(&sku)).expect("an amount")
        else {
            panic!("an amount of its article");
        };
        assert_eq!(
            (
                request.sku.as_str(),
                request.quantity.get(),
                request.lot.as_str()
            ),
            ("TAGGED", 3, "L7")
        );
        assert!(request.epcs.is_empty());
        let errors = draft.parse(None).expect_err("no article has it");
        assert_eq!(errors[0].field, "code");
        assert!(errors[0].reason.contains("80614141123458"), "{errors:?}");
    }

    #[test]
    fn a_count_is_the_amount_found_at_a_location() {
        let mut draft = scan("count", "WATER-1L5");
        draft.quantity = Some(0);
        let BookingInput::Stocktake(take) = draft.clone().parse(None).expect("a count") else {
            panic!("a stocktake");
        };
        assert_eq!(
            (take.sku.as_str(), take.location.as_str(), take.counted),
            ("WATER-1L5", "A-01-01", 0)
        );
        let sku = Sku::parse("TAGGED").expect("sku");
        let mut by_gtin = scan("count", "(01)80614141123458");
        by_gtin.quantity = Some(12);
        let BookingInput::Stocktake(take) = by_gtin.parse(Some(&sku)).expect("a count by GTIN")
        else {
            panic!("a stocktake");
        };
        assert_eq!((take.sku.as_str(), take.counted), ("TAGGED", 12));

        // No amount, no place, an item, a negative amount: each named.
        let errors = ScanDraft {
            kind: "count".into(),
            code: "3074257BF7194E4000001A85".into(),
            ..ScanDraft::default()
        }
        .parse(None)
        .expect_err("nothing to count");
        let fields: Vec<&str> = errors.iter().map(|e| e.field).collect();
        assert_eq!(fields, ["code", "quantity", "location"], "{errors:?}");
        draft.quantity = Some(-1);
        let errors = draft.parse(None).expect_err("negative");
        assert_eq!(errors[0].field, "quantity");
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
