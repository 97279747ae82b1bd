//! The gate tables: each gateway's cursor (boot id and stored seq) and every
//! gate pass with its outcome (`migrations/0004_gates.sql`).

use sqlx::SqliteConnection;
use time::OffsetDateTime;

use super::{checked, corrupt, timestamp};
use crate::domain::gate::{Cursor, Direction, GatePass, PassOutcome};
use crate::domain::location::LocationCode;
use crate::domain::FieldError;

/// The stored cursor of `gateway`, if any pass of it was ever stored.
pub async fn cursor(
    conn: &mut SqliteConnection,
    gateway: &str,
) -> Result<Option<Cursor>, sqlx::Error> {
    let row = sqlx::query!(
        "SELECT boot_id, acked_seq FROM gate_cursors WHERE gateway = ?",
        gateway
    )
    .fetch_optional(conn)
    .await?;
    row.map(|row| {
        Ok(Cursor {
            boot_id: int("gate_cursors", "boot_id", row.boot_id)?,
            acked_seq: int("gate_cursors", "acked_seq", row.acked_seq)?,
        })
    })
    .transpose()
}

/// Writes the cursor of `gateway`.
pub async fn set_cursor(
    conn: &mut SqliteConnection,
    gateway: &str,
    cursor: Cursor,
    at: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    let (boot_id, acked_seq, updated_at) = (
        i64::from(cursor.boot_id),
        i64::from(cursor.acked_seq),
        timestamp(at),
    );
    sqlx::query!(
        "INSERT INTO gate_cursors (gateway, boot_id, acked_seq, updated_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (gateway) DO UPDATE SET boot_id = excluded.boot_id,
           acked_seq = excluded.acked_seq, updated_at = excluded.updated_at",
        gateway,
        boot_id,
        acked_seq,
        updated_at,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Stores one pass (its `id` is ignored) and returns its id.
pub async fn insert_pass(conn: &mut SqliteConnection, pass: &GatePass) -> Result<i64, sqlx::Error> {
    let boot_id = i64::from(pass.boot_id);
    let seq = i64::from(pass.seq);
    let gate = i64::from(pass.gate);
    let dock = pass.dock.as_ref().map(LocationCode::as_str);
    let direction = pass.direction.as_str();
    let rssi = i64::from(pass.rssi_dbm);
    let antenna = i64::from(pass.antenna);
    let gateway_ms = i64::from(pass.gateway_ms);
    let weight = pass.weight_grams.map(i64::from);
    let outcome = pass.outcome.as_str();
    let seqs =
        serde_json::to_string(&pass.movement_seqs).map_err(|e| sqlx::Error::Encode(e.into()))?;
    let recorded_at = timestamp(pass.recorded_at);
    sqlx::query_scalar!(
        r#"INSERT INTO gate_passes (gateway, boot_id, seq, gate, dock, direction, epc_hex, epc,
             rssi_dbm, antenna, gateway_ms, weight_grams, outcome, detail, movement_seqs, recorded_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id AS "id!: i64""#,
        pass.gateway,
        boot_id,
        seq,
        gate,
        dock,
        direction,
        pass.epc_hex,
        pass.epc,
        rssi,
        antenna,
        gateway_ms,
        weight,
        outcome,
        pass.detail,
        seqs,
        recorded_at,
    )
    .fetch_one(conn)
    .await
}

/// Passes after record `after_id`, oldest first; without `restricted`,
/// none of an item of a restricted article.
pub async fn passes_after(
    conn: &mut SqliteConnection,
    after_id: i64,
    limit: i64,
    restricted: bool,
) -> Result<Vec<GatePass>, sqlx::Error> {
    let rows = sqlx::query!(
        "SELECT p.id, p.gateway, p.boot_id, p.seq, p.gate, p.dock, p.direction, p.epc_hex, p.epc,
                p.rssi_dbm, p.antenna, p.gateway_ms, p.weight_grams, p.outcome, p.detail,
                p.movement_seqs, p.recorded_at
         FROM gate_passes p LEFT JOIN items i ON i.epc = p.epc LEFT JOIN articles a ON a.sku = i.sku
         WHERE p.id > ? AND (? OR a.classification IS NULL OR a.classification = 'open')
         ORDER BY p.id LIMIT ?",
        after_id,
        restricted,
        limit,
    )
    .fetch_all(conn)
    .await?;
    let table = "gate_passes";
    rows.into_iter()
        .map(|row| {
            Ok(GatePass {
                id: row.id,
                gateway: row.gateway,
                boot_id: int(table, "boot_id", row.boot_id)?,
                seq: int(table, "seq", row.seq)?,
                gate: int(table, "gate", row.gate)?,
                dock: row
                    .dock
                    .map(|code: String| checked(table, LocationCode::parse(&code)))
                    .transpose()?,
                direction: checked(table, Direction::parse(&row.direction))?,
                epc_hex: row.epc_hex,
                epc: row.epc,
                rssi_dbm: int(table, "rssi_dbm", row.rssi_dbm)?,
                antenna: int(table, "antenna", row.antenna)?,
                gateway_ms: int(table, "gateway_ms", row.gateway_ms)?,
                weight_grams: row
                    .weight_grams
                    .map(|w| int(table, "weight_grams", w))
                    .transpose()?,
                outcome: checked(table, PassOutcome::parse(&row.outcome))?,
                detail: row.detail,
                movement_seqs: serde_json::from_str(&row.movement_seqs)
                    .map_err(|e| corrupt(table, FieldError::new("movement_seqs", e.to_string())))?,
                recorded_at: time::OffsetDateTime::parse(
                    &row.recorded_at,
                    &time::format_description::well_known::Rfc3339,
                )
                .map_err(|e| corrupt(table, FieldError::new("recorded_at", e.to_string())))?,
            })
        })
        .collect()
}

/// A stored integer in the range of its domain type, or a corrupt row.
fn int<T: TryFrom<i64>>(table: &str, column: &'static str, value: i64) -> Result<T, sqlx::Error> {
    T::try_from(value).map_err(|_| {
        corrupt(
            table,
            FieldError::new(column, format!("{value} out of range")),
        )
    })
}

/// The newest pass record's id, 0 when there is none (the gates page shows
/// the passes just below it).
pub async fn last_pass_id(conn: &mut SqliteConnection) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(r#"SELECT COALESCE(MAX(id), 0) AS "id!: i64" FROM gate_passes"#)
        .fetch_one(conn)
        .await
}
