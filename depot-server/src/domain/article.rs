//! Articles: what the depot stocks, and the identifiers that name them.

use rfid_driver::gs1;

use super::quantity::MAX_UNIT_MEASURE;
use super::{named_enum, FieldError};

/// The depot-wide key of an article: `[A-Za-z0-9._-]{1,64}`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Sku(String);

impl Sku {
    /// Validates the brief's SKU syntax.
    pub fn parse(text: &str) -> Result<Self, FieldError> {
        if is_key(text) {
            Ok(Self(text.to_owned()))
        } else {
            Err(FieldError::new(
                "sku",
                "must be 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' or '-'",
            ))
        }
    }

    /// The SKU text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Sku {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// `[A-Za-z0-9._-]{1,64}`: the syntax shared by SKUs and location codes.
pub(crate) fn is_key(text: &str) -> bool {
    (1..=64).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

named_enum! {
    /// The base unit an article is counted in.
    Unit, "unit" {
        Piece = "piece",
        Kilogram = "kg",
        Litre = "l",
        Metre = "m",
        Box = "box",
        Pallet = "pallet",
    }
}

named_enum! {
    /// Who may see an article: `restricted` stock is visible only with clearance.
    Classification, "classification" {
        Open = "open",
        Restricted = "restricted",
    }
}

/// A GS1 Global Trade Item Number: 8, 12, 13 or 14 digits with a valid check digit.
/// Stored as given; [`Gtin::to_gtin14`] gives the zero-padded GTIN-14.
/// The rule and the check digit are `rfid_driver::gs1`'s, the one
/// implementation the gateway and scanners use too.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Gtin(String);

impl Gtin {
    /// Checks length, digits and the GS1 mod-10 check digit.
    pub fn parse(text: &str) -> Result<Self, FieldError> {
        match gs1::Gtin::parse(text) {
            Ok(_) => Ok(Self(text.to_owned())),
            Err(gs1::Gs1Error::CheckDigit {
                expected, found, ..
            }) => Err(FieldError::new(
                "gtin",
                format!("check digit is {found}, expected {expected}"),
            )),
            Err(_) => Err(FieldError::new("gtin", "must be 8, 12, 13 or 14 digits")),
        }
    }

    /// The GTIN as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The GTIN-14 form (left-padded with zeros), as EPCs carry it.
    pub fn to_gtin14(&self) -> String {
        format!("{:0>14}", self.0)
    }
}

/// A NATO stock number: 13 digits, shown `NNNN-NN-NNN-NNNN`. Parsed by
/// `rfid_driver::gs1::Nsn`'s rule: 13 digits, or exactly the shown form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Nsn(gs1::Nsn);

impl Nsn {
    /// Accepts 13 digits, or exactly `NNNN-NN-NNN-NNNN` (all three dashes or none).
    pub fn parse(text: &str) -> Result<Self, FieldError> {
        gs1::Nsn::parse(text).map(Self).map_err(|_| {
            FieldError::new(
                "nsn",
                "must be 13 digits, without dashes or as NNNN-NN-NNN-NNNN",
            )
        })
    }

    /// The 13 digits.
    pub fn digits(&self) -> &str {
        self.0.digits()
    }

    /// The NATO codification bureau (country) code, digits 5–6; `12` is Germany.
    pub fn country_code(&self) -> &str {
        self.0.ncb()
    }

    /// The GS1 element string form, AI (7001).
    pub fn element_string(&self) -> String {
        self.0.element_string().to_string()
    }
}

impl std::fmt::Display for Nsn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.0, f)
    }
}

/// A NATO (I–V) or US (I–X) supply class, as a Roman numeral.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SupplyClass(&'static str);

impl SupplyClass {
    const NAMES: [&'static str; 10] = ["I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X"];

    /// Accepts `I` … `X`.
    pub fn parse(text: &str) -> Result<Self, FieldError> {
        Self::NAMES
            .iter()
            .find(|name| **name == text)
            .map(|name| Self(name))
            .ok_or_else(|| FieldError::new("supply_class", "must be a Roman numeral I to X"))
    }

    /// The numeral.
    pub fn as_str(&self) -> &'static str {
        self.0
    }
}

/// An article as the depot keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Article {
    pub sku: Sku,
    pub name: String,
    pub unit: Unit,
    pub gtin: Option<Gtin>,
    pub nsn: Option<Nsn>,
    pub supply_class: Option<SupplyClass>,
    pub classification: Classification,
    pub unit_weight_g: Option<i64>,
    pub unit_volume_ml: Option<i64>,
    pub lot_tracked: bool,
    pub expiry_tracked: bool,
}

/// Checks an article's free-text name: 1–200 characters, no control characters.
pub fn check_name(name: &str) -> Result<(), FieldError> {
    let len = name.chars().count();
    if (1..=200).contains(&len) && !name.chars().any(char::is_control) {
        Ok(())
    } else {
        Err(FieldError::new(
            "name",
            "must be 1 to 200 characters without control characters",
        ))
    }
}

/// Checks an optional unit measure such as `unit_weight_g`: 0 ..= [`MAX_UNIT_MEASURE`].
pub fn check_unit_measure(field: &'static str, value: Option<i64>) -> Result<(), FieldError> {
    match value {
        Some(v) if !(0..=MAX_UNIT_MEASURE).contains(&v) => Err(FieldError::new(
            field,
            format!("must be from 0 to {MAX_UNIT_MEASURE}, got {v}"),
        )),
        _ => Ok(()),
    }
}

/// An article as typed or sent, before any check: what the JSON API, the
/// pages' forms and the CSV import all hand over.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArticleDraft {
    pub sku: Option<String>,
    pub name: String,
    pub unit: String,
    pub gtin: Option<String>,
    pub nsn: Option<String>,
    pub supply_class: Option<String>,
    /// `open` when absent.
    pub classification: Option<String>,
    pub unit_weight_g: Option<i64>,
    pub unit_volume_ml: Option<i64>,
    pub lot_tracked: Option<bool>,
    pub expiry_tracked: Option<bool>,
}

impl ArticleDraft {
    /// Checks every field, reporting every failure at once. `path_sku` is the
    /// SKU a request's address names, if any: the draft's own must match it.
    pub fn parse(self, path_sku: Option<&str>) -> Result<Article, Vec<FieldError>> {
        let mut errors = Vec::new();
        let sku_text = match (path_sku, self.sku.as_deref()) {
            (Some(path), Some(body)) if path != body => {
                errors.push(FieldError::new("sku", "differs from the SKU in the path"));
                path
            }
            (Some(path), _) => path,
            (None, Some(body)) => body,
            (None, None) => {
                errors.push(FieldError::new("sku", "is required"));
                ""
            }
        };
        let sku = Sku::parse(sku_text);
        let unit = Unit::parse(&self.unit);
        let gtin = self.gtin.as_deref().map(Gtin::parse).transpose();
        let nsn = self.nsn.as_deref().map(Nsn::parse).transpose();
        let supply_class = self
            .supply_class
            .as_deref()
            .map(SupplyClass::parse)
            .transpose();
        let classification =
            Classification::parse(self.classification.as_deref().unwrap_or("open"));
        errors.extend(check_name(&self.name).err());
        errors.extend(check_unit_measure("unit_weight_g", self.unit_weight_g).err());
        errors.extend(check_unit_measure("unit_volume_ml", self.unit_volume_ml).err());
        match (sku, unit, gtin, nsn, supply_class, classification) {
            (Ok(sku), Ok(unit), Ok(gtin), Ok(nsn), Ok(supply_class), Ok(classification))
                if errors.is_empty() =>
            {
                Ok(Article {
                    sku,
                    name: self.name,
                    unit,
                    gtin,
                    nsn,
                    supply_class,
                    classification,
                    unit_weight_g: self.unit_weight_g,
                    unit_volume_ml: self.unit_volume_ml,
                    lot_tracked: self.lot_tracked.unwrap_or(false),
                    expiry_tracked: self.expiry_tracked.unwrap_or(false),
                })
            }
            (sku, unit, gtin, nsn, supply_class, classification) => {
                errors.extend(sku.err());
                errors.extend(unit.err());
                errors.extend(gtin.err());
                errors.extend(nsn.err());
                errors.extend(supply_class.err());
                errors.extend(classification.err());
                Err(errors)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gtin_check_digit_is_verified() {
        assert!(Gtin::parse("80614141123458").is_ok());
        assert!(Gtin::parse("4006381333931").is_ok());
        assert!(Gtin::parse("96385074").is_ok());
        let err = Gtin::parse("4006381333932").unwrap_err();
        assert_eq!(err.reason, "check digit is 2, expected 1");
        assert!(Gtin::parse("123").is_err());
        assert!(Gtin::parse("40063813339a1").is_err());
        assert_eq!(
            Gtin::parse("96385074").map(|g| g.to_gtin14()),
            Ok("00000096385074".into())
        );
    }

    #[test]
    fn nsn_display_and_element_string() {
        let nsn = Nsn::parse("2510-01-028-8573").unwrap();
        assert_eq!(nsn.to_string(), "2510-01-028-8573");
        assert_eq!(nsn.element_string(), "(7001)2510010288573");
        assert_eq!(nsn.country_code(), "01");
        assert_eq!(Nsn::parse("2510010288573"), Ok(nsn));
        assert!(Nsn::parse("2510-010-28-8573").is_err());
        assert!(Nsn::parse("251001028857").is_err());
        assert!(Nsn::parse("25100102885a3").is_err());
    }

    /// One rule with rfid-driver's: 13 digits or exactly the shown form;
    /// a partly dashed NSN (accepted by one of the two parsers before) is
    /// refused, with the field named.
    #[test]
    fn nsn_partly_dashed_is_refused() {
        for text in ["2510-010288573", "2510-01-0288573", " 2510010288573", ""] {
            let err = Nsn::parse(text).expect_err(text);
            assert_eq!(err.field, "nsn");
            assert_eq!(
                err.reason,
                "must be 13 digits, without dashes or as NNNN-NN-NNN-NNNN"
            );
        }
    }

    #[test]
    fn gtin_errors_name_the_field() {
        for text in ["", "123", " 96385074", "9638507a", "963850744"] {
            let err = Gtin::parse(text).expect_err(text);
            assert_eq!(
                (err.field, err.reason.as_str()),
                ("gtin", "must be 8, 12, 13 or 14 digits")
            );
        }
        let err = Gtin::parse("96385075").expect_err("check digit");
        assert_eq!(err.reason, "check digit is 5, expected 4");
    }

    #[test]
    fn sku_syntax() {
        assert!(Sku::parse("BAT-AA.4_x").is_ok());
        assert!(Sku::parse("").is_err());
        assert!(Sku::parse("a b").is_err());
        assert!(Sku::parse(&"a".repeat(65)).is_err());
        assert!(Sku::parse("ä").is_err());
    }

    #[test]
    fn unit_and_supply_class_parse() {
        assert_eq!(Unit::parse("kg"), Ok(Unit::Kilogram));
        assert!(Unit::parse("KG").is_err());
        assert_eq!(SupplyClass::parse("VIII").map(|c| c.as_str()), Ok("VIII"));
        assert!(SupplyClass::parse("XI").is_err());
    }
}
