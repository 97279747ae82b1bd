//! Locations: where stock lies, and how much each may hold.

use super::article::is_key;
use super::{named_enum, FieldError};

/// A location code such as `A-01-03`: `[A-Za-z0-9._-]{1,64}`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LocationCode(String);

impl LocationCode {
    /// Validates the code syntax; `field` names the JSON field for the error.
    pub fn parse_field(field: &'static str, text: &str) -> Result<Self, FieldError> {
        if is_key(text) {
            Ok(Self(text.to_owned()))
        } else {
            Err(FieldError::new(
                field,
                "must be 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' or '-'",
            ))
        }
    }

    /// Validates the code syntax of a `code` field.
    pub fn parse(text: &str) -> Result<Self, FieldError> {
        Self::parse_field("code", text)
    }

    /// The code text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for LocationCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A zone name: the same syntax as a location code, at most 32 characters.
pub fn check_zone(zone: &str) -> Result<(), FieldError> {
    if zone.len() <= 32 && is_key(zone) {
        Ok(())
    } else {
        Err(FieldError::new(
            "zone",
            "must be 1 to 32 characters of A-Z, a-z, 0-9, '.', '_' or '-'",
        ))
    }
}

named_enum! {
    /// What kind of place a location is; each RFID dock door is a `dock`.
    LocationKind, "kind" {
        Bin = "bin",
        Dock = "dock",
        Staging = "staging",
        Yard = "yard",
    }
}

/// What a location may hold; `None` means "not limited in this dimension".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Capacity {
    pub volume_l: Option<i64>,
    pub weight_kg: Option<i64>,
    pub pallets: Option<i64>,
}

/// A location as the depot keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub code: LocationCode,
    pub zone: String,
    pub kind: LocationKind,
    pub capacity: Capacity,
}
