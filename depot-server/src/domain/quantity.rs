//! Quantities in an article's base unit: integers, never floats, never negative.

use super::FieldError;

/// A positive amount moved by one booking, in the article's base unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Quantity(i64);

impl Quantity {
    /// The most one booking may move: 10^12 base units. Far above any real
    /// consignment, and low enough that quantity × unit volume or weight
    /// (at most [`MAX_UNIT_MEASURE`]) stays a sane number.
    pub const MAX: i64 = 1_000_000_000_000;

    /// One base unit: what one serialised item is.
    pub const ONE: Quantity = Quantity(1);

    /// Accepts 1 ..= [`Quantity::MAX`].
    pub fn new(value: i64) -> Result<Self, FieldError> {
        if (1..=Self::MAX).contains(&value) {
            Ok(Self(value))
        } else {
            Err(FieldError::new(
                "quantity",
                format!(
                    "must be a whole number from 1 to {}, got {value}",
                    Self::MAX
                ),
            ))
        }
    }

    /// The amount.
    pub fn get(self) -> i64 {
        self.0
    }
}

/// The largest unit weight (g) or unit volume (ml) an article may have: 10^9
/// (1,000 t or 1,000 m³ per unit).
pub const MAX_UNIT_MEASURE: i64 = 1_000_000_000;

/// A lot (batch) number; the empty lot means "not lot-tracked".
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Lot(String);

impl Lot {
    /// No lot.
    pub fn none() -> Self {
        Self(String::new())
    }

    /// 1–64 printable ASCII characters without spaces.
    pub fn parse(text: &str) -> Result<Self, FieldError> {
        let ok = (1..=64).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_graphic());
        if ok {
            Ok(Self(text.to_owned()))
        } else {
            Err(FieldError::new(
                "lot",
                "must be 1 to 64 printable ASCII characters without spaces",
            ))
        }
    }

    /// The lot as stored; empty for none.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is the empty lot.
    pub fn is_none(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantity_rejects_zero_and_negative() {
        assert!(Quantity::new(0).is_err());
        assert!(Quantity::new(-1).is_err());
        assert!(Quantity::new(i64::MIN).is_err());
        assert!(Quantity::new(i64::MAX).is_err());
        assert_eq!(
            Quantity::new(Quantity::MAX).map(Quantity::get),
            Ok(Quantity::MAX)
        );
    }

    #[test]
    fn lot_rejects_spaces_and_overlong() {
        assert!(Lot::parse("L 1").is_err());
        assert!(Lot::parse("").is_err());
        assert!(Lot::parse(&"x".repeat(65)).is_err());
        assert_eq!(
            Lot::parse("L-2026-11").map(|l| l.as_str().to_owned()),
            Ok("L-2026-11".to_owned())
        );
    }
}
