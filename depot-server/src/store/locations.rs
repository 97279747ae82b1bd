//! The `locations` table.

use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};
use time::OffsetDateTime;

use super::{checked, timestamp};
use crate::domain::location::{Capacity, Location, LocationCode, LocationKind};

const COLUMNS: &str = "code, zone, kind, capacity_volume_l, capacity_weight_kg, capacity_pallets";

pub(crate) fn from_row(row: &SqliteRow) -> Result<Location, sqlx::Error> {
    Ok(Location {
        code: checked("locations", LocationCode::parse(row.try_get("code")?))?,
        zone: row.try_get("zone")?,
        kind: checked("locations", LocationKind::parse(row.try_get("kind")?))?,
        capacity: Capacity {
            volume_l: row.try_get("capacity_volume_l")?,
            weight_kg: row.try_get("capacity_weight_kg")?,
            pallets: row.try_get("capacity_pallets")?,
        },
    })
}

/// One location by code.
pub async fn get(conn: &mut SqliteConnection, code: &str) -> Result<Option<Location>, sqlx::Error> {
    sqlx::query(&format!("SELECT {COLUMNS} FROM locations WHERE code = ?"))
        .bind(code)
        .fetch_optional(conn)
        .await?
        .map(|row| from_row(&row))
        .transpose()
}

/// Locations in code order after `after`, at most `limit`, optionally of one zone.
pub async fn list(
    conn: &mut SqliteConnection,
    after: &str,
    limit: i64,
    zone: Option<&str>,
) -> Result<Vec<Location>, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM locations WHERE code > ? AND (? IS NULL OR zone = ?) ORDER BY code LIMIT ?"
    ))
    .bind(after)
    .bind(zone)
    .bind(zone)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.iter().map(from_row).collect()
}

/// Inserts or replaces a location; returns whether it was new.
pub async fn upsert(
    conn: &mut SqliteConnection,
    location: &Location,
    at: OffsetDateTime,
) -> Result<bool, sqlx::Error> {
    let existed = get(&mut *conn, location.code.as_str()).await?.is_some();
    let now = timestamp(at);
    sqlx::query(
        "INSERT INTO locations (code, zone, kind, capacity_volume_l, capacity_weight_kg, capacity_pallets, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (code) DO UPDATE SET zone = excluded.zone, kind = excluded.kind,
           capacity_volume_l = excluded.capacity_volume_l, capacity_weight_kg = excluded.capacity_weight_kg,
           capacity_pallets = excluded.capacity_pallets, updated_at = excluded.updated_at",
    )
    .bind(location.code.as_str())
    .bind(&location.zone)
    .bind(location.kind.as_str())
    .bind(location.capacity.volume_l)
    .bind(location.capacity.weight_kg)
    .bind(location.capacity.pallets)
    .bind(&now)
    .bind(&now)
    .execute(conn)
    .await?;
    Ok(!existed)
}
