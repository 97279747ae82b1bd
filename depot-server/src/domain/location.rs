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

/// A location as typed or sent, before any check: what the JSON API, the
/// pages' forms and the CSV import all hand over.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocationDraft {
    pub code: Option<String>,
    pub zone: String,
    pub kind: String,
    pub capacity_volume_l: Option<i64>,
    pub capacity_weight_kg: Option<i64>,
    pub capacity_pallets: Option<i64>,
}

impl LocationDraft {
    /// Checks every field, reporting every failure at once. `path_code` is
    /// the code a request's address names, if any: the draft's own must match it.
    pub fn parse(self, path_code: Option<&str>) -> Result<Location, Vec<FieldError>> {
        let mut errors = Vec::new();
        let code_text = match (path_code, self.code.as_deref()) {
            (Some(path), Some(body)) if path != body => {
                errors.push(FieldError::new("code", "differs from the code in the path"));
                path
            }
            (Some(path), _) => path,
            (None, Some(body)) => body,
            (None, None) => {
                errors.push(FieldError::new("code", "is required"));
                ""
            }
        };
        let code = LocationCode::parse(code_text);
        let kind = LocationKind::parse(&self.kind);
        let capacities = [
            ("capacity_volume_l", self.capacity_volume_l),
            ("capacity_weight_kg", self.capacity_weight_kg),
            ("capacity_pallets", self.capacity_pallets),
        ];
        for (field, value) in capacities {
            if let Some(v) = value.filter(|v| *v < 0) {
                errors.push(FieldError::new(
                    field,
                    format!("must not be negative, got {v}"),
                ));
            }
        }
        errors.extend(check_zone(&self.zone).err());
        match (code, kind) {
            (Ok(code), Ok(kind)) if errors.is_empty() => Ok(Location {
                code,
                zone: self.zone,
                kind,
                capacity: Capacity {
                    volume_l: self.capacity_volume_l,
                    weight_kg: self.capacity_weight_kg,
                    pallets: self.capacity_pallets,
                },
            }),
            (code, kind) => {
                errors.extend(code.err());
                errors.extend(kind.err());
                Err(errors)
            }
        }
    }
}
