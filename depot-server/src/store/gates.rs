//! The gate tables: each gateway's cursor (boot id and stored seq), every
//! gate pass with its outcome (`migrations/0004_gates.sql`), and the
//! resolutions of passes that waited for a manager (`0006_deliveries.sql`).

use sqlx::SqliteConnection;
use time::OffsetDateTime;

use super::{checked, corrupt, timestamp};
use crate::domain::article::Sku;
use crate::domain::gate::{Cursor, Direction, GatePass, PassOutcome, PassResolution, WeightCheck};
use crate::domain::location::LocationCode;
use crate::domain::quantity::Lot;
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
    let sku = pass.sku.as_ref().map(Sku::as_str);
    let weight_check = pass.weight_check.map(|(check, _)| check.as_str());
    let expected_weight = pass.weight_check.map(|(_, grams)| grams);
    sqlx::query_scalar!(
        r#"INSERT INTO gate_passes (gateway, boot_id, seq, gate, dock, direction, epc_hex, epc,
             rssi_dbm, antenna, gateway_ms, weight_grams, outcome, detail, movement_seqs, recorded_at, sku,
             weight_check, expected_weight_grams)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id AS "id!: i64""#,
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
        sku,
        weight_check,
        expected_weight,
    )
    .fetch_one(conn)
    .await
}

/// Passes after record `after_id`, oldest first; without `restricted`,
/// none of an article that is restricted; with `waiting`, only those that
/// wait for a manager (the SQL twin of `GatePass::waiting`: unresolved `in`
/// passes at a dock, unidentified or awaiting their lot).
pub async fn passes_after(
    conn: &mut SqliteConnection,
    after_id: i64,
    limit: i64,
    restricted: bool,
    waiting: bool,
) -> Result<Vec<GatePass>, sqlx::Error> {
    let rows = sqlx::query_as!(
        PassRow,
        r#"SELECT p.id AS "id!: i64", p.gateway AS "gateway!: String", p.boot_id AS "boot_id!: i64",
                p.seq AS "seq!: i64", p.gate AS "gate!: i64", p.dock AS "dock?: String",
                p.direction AS "direction!: String", p.epc_hex AS "epc_hex!: String", p.epc AS "epc?: String",
                p.rssi_dbm AS "rssi_dbm!: i64", p.antenna AS "antenna!: i64", p.gateway_ms AS "gateway_ms!: i64",
                p.weight_grams AS "weight_grams?: i64", p.outcome AS "outcome!: String", p.detail AS "detail?: String",
                p.movement_seqs AS "movement_seqs!: String", p.recorded_at AS "recorded_at!: String",
                p.sku AS "sku?: String", p.weight_check AS "weight_check?: String",
                p.expected_weight_grams AS "expected_weight_grams?: i64", r.sku AS "resolved_sku?: String", r.lot AS "resolved_lot?: String",
                r.actor AS "resolved_by?: String", r.movement_seqs AS "resolved_seqs?: String",
                r.resolved_at AS "resolved_at?: String"
         FROM gate_passes p
           LEFT JOIN gate_resolutions r ON r.pass_id = p.id
           LEFT JOIN items i ON i.epc = p.epc
           LEFT JOIN articles a ON a.sku = COALESCE(r.sku, p.sku, i.sku)
         WHERE p.id > ? AND (? OR a.classification IS NULL OR a.classification = 'open')
           AND (NOT ? OR (r.pass_id IS NULL AND p.direction = 'in' AND p.dock IS NOT NULL
                          AND p.outcome IN ('unidentified', 'awaiting_lot')))
         ORDER BY p.id LIMIT ?"#,
        after_id,
        restricted,
        waiting,
        limit,
    )
    .fetch_all(conn)
    .await?;
    rows.into_iter().map(PassRow::into_pass).collect()
}

/// One pass by its record id, if it exists and (without `restricted`) is
/// not of a restricted article.
pub async fn pass(
    conn: &mut SqliteConnection,
    id: i64,
    restricted: bool,
) -> Result<Option<GatePass>, sqlx::Error> {
    let after = id.saturating_sub(1);
    let found = passes_after(conn, after, 1, restricted, false).await?;
    Ok(found.into_iter().find(|p| p.id == id))
}

/// The newest pass through gate `gate` of `gateway` that a caller may see
/// (without `restricted`, none of a restricted article).
pub async fn last_pass_at_gate(
    conn: &mut SqliteConnection,
    gateway: &str,
    gate: i64,
    restricted: bool,
) -> Result<Option<GatePass>, sqlx::Error> {
    let id = sqlx::query_scalar!(
        r#"SELECT p.id AS "id!: i64"
         FROM gate_passes p
           LEFT JOIN gate_resolutions r ON r.pass_id = p.id
           LEFT JOIN items i ON i.epc = p.epc
           LEFT JOIN articles a ON a.sku = COALESCE(r.sku, p.sku, i.sku)
         WHERE p.gateway = ? AND p.gate = ?
           AND (? OR a.classification IS NULL OR a.classification = 'open')
         ORDER BY p.id DESC LIMIT 1"#,
        gateway,
        gate,
        restricted,
    )
    .fetch_optional(&mut *conn)
    .await?;
    match id {
        Some(id) => pass(conn, id, restricted).await,
        None => Ok(None),
    }
}

/// Records the resolution of pass `pass_id`; a second one for the same pass
/// fails on the primary key (the writer decides before that it is none).
pub async fn insert_resolution(
    conn: &mut SqliteConnection,
    pass_id: i64,
    resolution: &PassResolution,
) -> Result<(), sqlx::Error> {
    let (sku, lot) = (resolution.sku.as_str(), resolution.lot.as_str());
    let seqs = serde_json::to_string(&resolution.movement_seqs)
        .map_err(|e| sqlx::Error::Encode(e.into()))?;
    let at = timestamp(resolution.resolved_at);
    sqlx::query!(
        "INSERT INTO gate_resolutions (pass_id, sku, lot, actor, movement_seqs, resolved_at)
         VALUES (?, ?, ?, ?, ?, ?)",
        pass_id,
        sku,
        lot,
        resolution.actor,
        seqs,
        at,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// A pass as stored, with its resolution if any.
struct PassRow {
    id: i64,
    gateway: String,
    boot_id: i64,
    seq: i64,
    gate: i64,
    dock: Option<String>,
    direction: String,
    epc_hex: String,
    epc: Option<String>,
    rssi_dbm: i64,
    antenna: i64,
    gateway_ms: i64,
    weight_grams: Option<i64>,
    outcome: String,
    detail: Option<String>,
    movement_seqs: String,
    recorded_at: String,
    sku: Option<String>,
    weight_check: Option<String>,
    expected_weight_grams: Option<i64>,
    resolved_sku: Option<String>,
    resolved_lot: Option<String>,
    resolved_by: Option<String>,
    resolved_seqs: Option<String>,
    resolved_at: Option<String>,
}

impl PassRow {
    fn into_pass(self) -> Result<GatePass, sqlx::Error> {
        let table = "gate_passes";
        let resolution = match (
            self.resolved_sku,
            self.resolved_lot,
            self.resolved_by,
            self.resolved_seqs,
            self.resolved_at,
        ) {
            (Some(sku), Some(lot), Some(actor), Some(seqs), Some(at)) => {
                let table = "gate_resolutions";
                Some(PassResolution {
                    sku: checked(table, Sku::parse(&sku))?,
                    lot: checked(table, stored_lot(&lot))?,
                    actor,
                    movement_seqs: seqs_of(table, &seqs)?,
                    resolved_at: time_of(table, &at)?,
                })
            }
            _ => None,
        };
        Ok(GatePass {
            id: self.id,
            gateway: self.gateway,
            boot_id: int(table, "boot_id", self.boot_id)?,
            seq: int(table, "seq", self.seq)?,
            gate: int(table, "gate", self.gate)?,
            dock: self
                .dock
                .map(|code| checked(table, LocationCode::parse(&code)))
                .transpose()?,
            direction: checked(table, Direction::parse(&self.direction))?,
            epc_hex: self.epc_hex,
            epc: self.epc,
            rssi_dbm: int(table, "rssi_dbm", self.rssi_dbm)?,
            antenna: int(table, "antenna", self.antenna)?,
            gateway_ms: int(table, "gateway_ms", self.gateway_ms)?,
            weight_grams: self
                .weight_grams
                .map(|w| int(table, "weight_grams", w))
                .transpose()?,
            outcome: checked(table, PassOutcome::parse(&self.outcome))?,
            detail: self.detail,
            movement_seqs: seqs_of(table, &self.movement_seqs)?,
            recorded_at: time_of(table, &self.recorded_at)?,
            sku: self
                .sku
                .map(|sku| checked(table, Sku::parse(&sku)))
                .transpose()?,
            resolution,
            weight_check: match (self.weight_check, self.expected_weight_grams) {
                (Some(check), Some(grams)) => {
                    Some((checked(table, WeightCheck::parse(&check))?, grams))
                }
                _ => None,
            },
        })
    }
}

/// The passes through one gate of one gateway boot between gateway times
/// `since_ms` and `until_ms`: each pass's gateway time and the unit weight
/// of its article (`None` when the article or its weight is unknown).
pub async fn weights_through_gate(
    conn: &mut SqliteConnection,
    (gateway, boot_id, gate): (&str, u32, u16),
    since_ms: u32,
    until_ms: u32,
) -> Result<Vec<(u32, Option<i64>)>, sqlx::Error> {
    let (boot_id, gate) = (i64::from(boot_id), i64::from(gate));
    let (since_ms, until_ms) = (i64::from(since_ms), i64::from(until_ms));
    let rows = sqlx::query!(
        r#"SELECT p.gateway_ms AS "gateway_ms!: i64", a.unit_weight_g AS "unit_weight_g?: i64"
           FROM gate_passes p LEFT JOIN articles a ON a.sku = p.sku
           WHERE p.gateway = ? AND p.boot_id = ? AND p.gate = ? AND p.gateway_ms BETWEEN ? AND ?"#,
        gateway,
        boot_id,
        gate,
        since_ms,
        until_ms,
    )
    .fetch_all(conn)
    .await?;
    rows.into_iter()
        .map(|row| {
            Ok((
                int("gate_passes", "gateway_ms", row.gateway_ms)?,
                row.unit_weight_g,
            ))
        })
        .collect()
}

/// A stored lot: '' is none.
fn stored_lot(text: &str) -> Result<Lot, FieldError> {
    if text.is_empty() {
        Ok(Lot::none())
    } else {
        Lot::parse(text)
    }
}

fn seqs_of(table: &str, json: &str) -> Result<Vec<i64>, sqlx::Error> {
    serde_json::from_str(json)
        .map_err(|e| corrupt(table, FieldError::new("movement_seqs", e.to_string())))
}

fn time_of(table: &str, text: &str) -> Result<OffsetDateTime, sqlx::Error> {
    OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map_err(|e| corrupt(table, FieldError::new("recorded_at", e.to_string())))
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
