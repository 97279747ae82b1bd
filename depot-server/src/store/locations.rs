//! The `locations` table.

use sqlx::SqliteConnection;
use time::OffsetDateTime;

use super::{checked, timestamp};
use crate::domain::location::{Capacity, Location, LocationCode, LocationKind};

/// A `locations` row as stored, before its values are parsed back into domain values.
pub(crate) struct LocationRow {
    pub(crate) code: String,
    pub(crate) zone: String,
    pub(crate) kind: String,
    pub(crate) capacity_volume_l: Option<i64>,
    pub(crate) capacity_weight_kg: Option<i64>,
    pub(crate) capacity_pallets: Option<i64>,
}

impl LocationRow {
    pub(crate) fn parse(self) -> Result<Location, sqlx::Error> {
        Ok(Location {
            code: checked("locations", LocationCode::parse(&self.code))?,
            zone: self.zone,
            kind: checked("locations", LocationKind::parse(&self.kind))?,
            capacity: Capacity {
                volume_l: self.capacity_volume_l,
                weight_kg: self.capacity_weight_kg,
                pallets: self.capacity_pallets,
            },
        })
    }
}

/// One location by code.
pub async fn get(conn: &mut SqliteConnection, code: &str) -> Result<Option<Location>, sqlx::Error> {
    sqlx::query_as!(
        LocationRow,
        "SELECT code, zone, kind, capacity_volume_l, capacity_weight_kg, capacity_pallets
         FROM locations WHERE code = ?",
        code
    )
    .fetch_optional(conn)
    .await?
    .map(LocationRow::parse)
    .transpose()
}

/// Locations in code order after `after`, at most `limit`, optionally of one zone.
pub async fn list(
    conn: &mut SqliteConnection,
    after: &str,
    limit: i64,
    zone: Option<&str>,
) -> Result<Vec<Location>, sqlx::Error> {
    sqlx::query_as!(
        LocationRow,
        "SELECT code, zone, kind, capacity_volume_l, capacity_weight_kg, capacity_pallets
         FROM locations WHERE code > ? AND (? IS NULL OR zone = ?) ORDER BY code LIMIT ?",
        after,
        zone,
        zone,
        limit
    )
    .fetch_all(conn)
    .await?
    .into_iter()
    .map(LocationRow::parse)
    .collect()
}

/// Inserts or replaces a location; returns whether it was new.
pub async fn upsert(
    conn: &mut SqliteConnection,
    location: &Location,
    at: OffsetDateTime,
) -> Result<bool, sqlx::Error> {
    let existed = get(&mut *conn, location.code.as_str()).await?.is_some();
    let now = timestamp(at);
    let code = location.code.as_str();
    let kind = location.kind.as_str();
    sqlx::query!(
        "INSERT INTO locations (code, zone, kind, capacity_volume_l, capacity_weight_kg, capacity_pallets, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (code) DO UPDATE SET zone = excluded.zone, kind = excluded.kind,
           capacity_volume_l = excluded.capacity_volume_l, capacity_weight_kg = excluded.capacity_weight_kg,
           capacity_pallets = excluded.capacity_pallets, updated_at = excluded.updated_at",
        code,
        location.zone,
        kind,
        location.capacity.volume_l,
        location.capacity.weight_kg,
        location.capacity.pallets,
        now,
        now,
    )
    .execute(conn)
    .await?;
    Ok(!existed)
}
