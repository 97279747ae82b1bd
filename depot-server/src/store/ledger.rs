//! The movement ledger and what it projects: stock levels and item states.

use sqlx::SqliteConnection;
use time::OffsetDateTime;

use super::locations::LocationRow;
use super::{checked, timestamp};
use crate::domain::article::Sku;
use crate::domain::booking::{ItemFacts, ItemState, MovementKind, Source};
use crate::domain::ledger::Movement;
use crate::domain::location::LocationCode;
use crate::domain::quantity::Lot;
use crate::domain::stock::{Item, StockFilter, StockKey, StockLine, StockPage};
use crate::domain::utilization::Usage;
use crate::domain::FieldError;

/// The highest seq written, 0 for an empty ledger.
pub async fn last_seq(conn: &mut SqliteConnection) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(r#"SELECT COALESCE(MAX(seq), 0) AS "last_seq!: i64" FROM movements"#)
        .fetch_one(conn)
        .await
}

/// Appends one movement as the ledger's next: the INSERT itself gives it the
/// seq after the highest (gapless, because only the writer appends), so a
/// booking costs no separate query for it; `movement.seq` is set to that seq.
/// Stock levels follow by trigger, items as in [`append_all`].
pub async fn append_next(
    conn: &mut SqliteConnection,
    movement: &mut Movement,
) -> Result<(), sqlx::Error> {
    let epcs = serde_json::to_string(&movement.epcs).map_err(|e| sqlx::Error::Encode(e.into()))?;
    let recorded_at = timestamp(movement.recorded_at);
    let (kind, sku, lot) = (
        movement.kind.as_str(),
        movement.sku.as_str(),
        movement.lot.as_str(),
    );
    let from = movement.from.as_ref().map(LocationCode::as_str);
    let to = movement.to.as_ref().map(LocationCode::as_str);
    let (actor, source) = (movement.actor.as_str(), movement.source.as_str());
    let key = movement.idempotency_key.as_deref();
    let reason = movement.reason.as_deref();
    let seq = sqlx::query_scalar!(
        r#"INSERT INTO movements (seq, kind, sku, quantity, from_location, to_location, lot, epcs, actor, source, idempotency_key, reason, recorded_at)
           VALUES ((SELECT COALESCE(MAX(seq), 0) + 1 FROM movements), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
           RETURNING seq AS "seq!: i64""#,
        kind,
        sku,
        movement.quantity,
        from,
        to,
        lot,
        epcs,
        actor,
        source,
        key,
        reason,
        recorded_at,
    )
    .fetch_one(&mut *conn)
    .await?;
    movement.seq = seq;
    if !movement.epcs.is_empty() {
        apply_to_items(conn, movement).await?;
    }
    Ok(())
}

/// Movements per INSERT statement: 13 parameters each stays far below
/// SQLite's limit of 32,766 parameters per statement.
const ROWS_PER_INSERT: usize = 500;

/// Appends movements in seq order, many rows per statement. The only runtime
/// SQL in the store besides `PRAGMA`s: the number of rows per statement
/// varies, so the macros cannot check it; its columns are those of
/// `apply_to_items` and `MovementRow`, which are checked. The database
/// applies each to the stock levels (trigger `movements_apply_to_stock`);
/// this function applies each to the items it names. The caller has decided
/// them (domain) and holds the write transaction.
pub async fn append_all(
    conn: &mut SqliteConnection,
    movements: &[Movement],
) -> Result<(), sqlx::Error> {
    for chunk in movements.chunks(ROWS_PER_INSERT) {
        let mut sql = String::from(
            "INSERT INTO movements (seq, kind, sku, quantity, from_location, to_location, lot, epcs, actor, source, idempotency_key, reason, recorded_at) VALUES ",
        );
        let row = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
        sql.push_str(&vec![row; chunk.len()].join(", "));
        let mut query = sqlx::query(&sql);
        for movement in chunk {
            let epcs =
                serde_json::to_string(&movement.epcs).map_err(|e| sqlx::Error::Encode(e.into()))?;
            query = query
                .bind(movement.seq)
                .bind(movement.kind.as_str())
                .bind(movement.sku.as_str())
                .bind(movement.quantity)
                .bind(movement.from.as_ref().map(LocationCode::as_str))
                .bind(movement.to.as_ref().map(LocationCode::as_str))
                .bind(movement.lot.as_str())
                .bind(epcs)
                .bind(movement.actor.as_str())
                .bind(movement.source.as_str())
                .bind(movement.idempotency_key.as_deref())
                .bind(movement.reason.as_deref())
                .bind(timestamp(movement.recorded_at));
        }
        query.execute(&mut *conn).await?;
    }
    for movement in movements.iter().filter(|m| !m.epcs.is_empty()) {
        apply_to_items(conn, movement).await?;
    }
    Ok(())
}

/// Records where each item of a movement is now.
async fn apply_to_items(
    conn: &mut SqliteConnection,
    movement: &Movement,
) -> Result<(), sqlx::Error> {
    let state =
        crate::domain::booking::item_state_after(movement.kind, movement.to.as_ref()).as_str();
    let sku = movement.sku.as_str();
    let lot = movement.lot.as_str();
    let location = movement.to.as_ref().map(LocationCode::as_str);
    for epc in &movement.epcs {
        sqlx::query!(
            "INSERT INTO items (epc, sku, lot, state, location, last_seq) VALUES (?, ?, ?, ?, ?, ?)
             ON CONFLICT (epc) DO UPDATE SET sku = excluded.sku, lot = excluded.lot, state = excluded.state,
               location = excluded.location, last_seq = excluded.last_seq",
            epc,
            sku,
            lot,
            state,
            location,
            movement.seq,
        )
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// The stock of (article, location, lot); 0 when none.
pub async fn level(
    conn: &mut SqliteConnection,
    sku: &str,
    location: &str,
    lot: &str,
) -> Result<i64, sqlx::Error> {
    Ok(sqlx::query_scalar!(
        "SELECT quantity FROM stock_levels WHERE sku = ? AND location = ? AND lot = ?",
        sku,
        location,
        lot,
    )
    .fetch_optional(conn)
    .await?
    .unwrap_or(0))
}

/// How many serialised items of (article, lot) are stored at `location`.
pub async fn stored_items(
    conn: &mut SqliteConnection,
    sku: &str,
    location: &str,
    lot: &str,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT COUNT(*) AS "count!: i64" FROM items
           WHERE sku = ? AND location = ? AND lot = ? AND state = 'stored'"#,
        sku,
        location,
        lot,
    )
    .fetch_one(conn)
    .await
}

/// What all stock lying at `location` occupies.
pub async fn usage_at(conn: &mut SqliteConnection, location: &str) -> Result<Usage, sqlx::Error> {
    let row = sqlx::query!(
        r#"SELECT TOTAL(CAST(s.quantity AS REAL) * COALESCE(a.unit_volume_ml, 0)) AS "volume_ml!: f64",
                  TOTAL(CAST(s.quantity AS REAL) * COALESCE(a.unit_weight_g, 0)) AS "weight_g!: f64",
                  TOTAL(CASE WHEN a.unit = 'pallet' THEN s.quantity ELSE 0 END) AS "pallets!: f64"
           FROM stock_levels s JOIN articles a ON a.sku = s.sku WHERE s.location = ?"#,
        location
    )
    .fetch_one(conn)
    .await?;
    Ok(usage(row.volume_ml, row.weight_g, row.pallets))
}

/// The usage from its sums. They are summed as REAL (`TOTAL`, never NULL) so
/// that no product of quantity and unit measure can overflow in SQL; `as` saturates.
fn usage(volume_ml: f64, weight_g: f64, pallets: f64) -> Usage {
    Usage {
        volume_ml: volume_ml as i64,
        weight_g: weight_g as i64,
        pallets: pallets as i64,
    }
}

/// One item by its pure-identity URI.
pub async fn item(conn: &mut SqliteConnection, epc: &str) -> Result<Option<Item>, sqlx::Error> {
    let Some(row) = sqlx::query!(
        "SELECT epc, sku, lot, state, location, last_seq FROM items WHERE epc = ?",
        epc
    )
    .fetch_optional(conn)
    .await?
    else {
        return Ok(None);
    };
    Ok(Some(Item {
        facts: ItemFacts {
            epc: row.epc,
            state: checked("items", ItemState::parse(&row.state))?,
            location: checked(
                "items",
                row.location.as_deref().map(LocationCode::parse).transpose(),
            )?,
        },
        sku: checked("items", Sku::parse(&row.sku))?,
        lot: checked("items", lot(&row.lot))?,
        last_seq: row.last_seq,
    }))
}

/// A stored lot: `''` is "no lot".
fn lot(text: &str) -> Result<Lot, FieldError> {
    if text.is_empty() {
        Ok(Lot::none())
    } else {
        Lot::parse(text)
    }
}

/// A `movements` row as stored, before its values are parsed back into domain values.
struct MovementRow {
    seq: i64,
    kind: String,
    sku: String,
    quantity: i64,
    from_location: Option<String>,
    to_location: Option<String>,
    lot: String,
    epcs: String,
    actor: String,
    source: String,
    idempotency_key: Option<String>,
    reason: Option<String>,
    recorded_at: String,
}

impl MovementRow {
    fn parse(self) -> Result<Movement, sqlx::Error> {
        let side = |field: &'static str, code: Option<&str>| {
            checked(
                "movements",
                code.map(|c| LocationCode::parse_field(field, c))
                    .transpose(),
            )
        };
        Ok(Movement {
            seq: self.seq,
            kind: checked("movements", MovementKind::parse(&self.kind))?,
            sku: checked("movements", Sku::parse(&self.sku))?,
            quantity: self.quantity,
            from: side("from", self.from_location.as_deref())?,
            to: side("to", self.to_location.as_deref())?,
            lot: checked("movements", lot(&self.lot))?,
            epcs: checked(
                "movements",
                serde_json::from_str(&self.epcs)
                    .map_err(|e| FieldError::new("epcs", e.to_string())),
            )?,
            actor: self.actor,
            source: checked("movements", Source::parse(&self.source))?,
            idempotency_key: self.idempotency_key,
            reason: self.reason,
            recorded_at: checked(
                "movements",
                OffsetDateTime::parse(
                    &self.recorded_at,
                    &time::format_description::well_known::Rfc3339,
                )
                .map_err(|e| FieldError::new("recorded_at", e.to_string())),
            )?,
        })
    }
}

/// Movements with seq > `after_seq`, in seq order, at most `limit`;
/// movements of restricted articles only if `restricted`.
pub async fn movements_after(
    conn: &mut SqliteConnection,
    after_seq: i64,
    limit: i64,
    restricted: bool,
) -> Result<Vec<Movement>, sqlx::Error> {
    sqlx::query_as!(
        MovementRow,
        "SELECT m.seq, m.kind, m.sku, m.quantity, m.from_location, m.to_location, m.lot, m.epcs,
                m.actor, m.source, m.idempotency_key, m.reason, m.recorded_at
         FROM movements m JOIN articles a ON a.sku = m.sku
         WHERE m.seq > ? AND (? OR a.classification = 'open') ORDER BY m.seq LIMIT ?",
        after_seq,
        restricted,
        limit,
    )
    .fetch_all(conn)
    .await?
    .into_iter()
    .map(MovementRow::parse)
    .collect()
}

/// Movements with seq < `before_seq`, newest first, at most `limit`;
/// movements of restricted articles only if `restricted`.
pub async fn movements_before(
    conn: &mut SqliteConnection,
    before_seq: i64,
    limit: i64,
    restricted: bool,
) -> Result<Vec<Movement>, sqlx::Error> {
    sqlx::query_as!(
        MovementRow,
        "SELECT m.seq, m.kind, m.sku, m.quantity, m.from_location, m.to_location, m.lot, m.epcs,
                m.actor, m.source, m.idempotency_key, m.reason, m.recorded_at
         FROM movements m JOIN articles a ON a.sku = m.sku
         WHERE m.seq < ? AND (? OR a.classification = 'open') ORDER BY m.seq DESC LIMIT ?",
        before_seq,
        restricted,
        limit,
    )
    .fetch_all(conn)
    .await?
    .into_iter()
    .map(MovementRow::parse)
    .collect()
}

/// The movements with the given seqs, in the order given (a replayed
/// booking's movements; the ledger never changes them).
pub async fn movements_by_seq(
    conn: &mut SqliteConnection,
    seqs: &[i64],
) -> Result<Vec<Movement>, sqlx::Error> {
    let list = serde_json::to_string(seqs).map_err(|e| sqlx::Error::Encode(e.into()))?;
    let rows = sqlx::query_as!(
        MovementRow,
        "SELECT m.seq, m.kind, m.sku, m.quantity, m.from_location, m.to_location, m.lot, m.epcs,
                m.actor, m.source, m.idempotency_key, m.reason, m.recorded_at
         FROM json_each(?) AS j JOIN movements m ON m.seq = j.value ORDER BY j.key",
        list,
    )
    .fetch_all(conn)
    .await?;
    if rows.len() != seqs.len() {
        return Err(sqlx::Error::Decode(
            format!(
                "idempotency record names movements {seqs:?}, the ledger has {} of them",
                rows.len()
            )
            .into(),
        ));
    }
    rows.into_iter().map(MovementRow::parse).collect()
}

/// One page of the stock levels matching the filter, in report order (SKU,
/// location, lot), at most `limit` lines; restricted articles only if
/// `restricted`.
///
/// Two plans, each cut at the page's key (keyset paging, so a far page costs
/// what the first does): with a location, its lines by the location index;
/// otherwise the articles in SKU order, each article's filters and search
/// text checked once on its own row (10,000 articles, not 100,000 stock
/// lines), then its stock by the primary key. The page before a key reads
/// backwards and is turned round here.
pub async fn stock(
    conn: &mut SqliteConnection,
    filter: &StockFilter,
    restricted: bool,
    page: &StockPage,
    limit: i64,
) -> Result<Vec<StockLine>, sqlx::Error> {
    let pattern = filter.text_pattern();
    let supply_class = filter.supply_class.as_ref().map(|c| c.as_str());
    let classification = filter.classification.map(|c| c.as_str());
    let start = StockKey::default();
    let (key, forward) = match page {
        StockPage::First => (&start, true),
        StockPage::After(key) => (key, true),
        StockPage::Before(key) => (key, false),
    };
    let mut lines = match (&filter.location, forward) {
        (Some(location), true) => {
            sqlx::query_as!(
                StockLine,
                "SELECT s.sku, s.location, l.zone, s.lot, s.quantity
                 FROM stock_levels s JOIN articles a ON a.sku = s.sku JOIN locations l ON l.code = s.location
                 WHERE s.location = ?2 AND (s.sku, s.lot) > (?9, ?10)
                   AND (?1 IS NULL OR s.sku = ?1) AND (?3 IS NULL OR l.zone = ?3)
                   AND (?4 OR a.classification = 'open') AND s.quantity > 0
                   AND (?6 IS NULL OR a.sku LIKE ?6 ESCAPE '\\' OR a.name LIKE ?6 ESCAPE '\\'
                        OR a.gtin LIKE ?6 ESCAPE '\\' OR REPLACE(a.nsn, '-', '') LIKE REPLACE(?6, '-', '') ESCAPE '\\')
                   AND (?7 IS NULL OR a.supply_class = ?7) AND (?8 IS NULL OR a.classification = ?8)
                 ORDER BY s.sku, s.lot LIMIT ?5",
                filter.sku,
                location,
                filter.zone,
                restricted,
                limit,
                pattern,
                supply_class,
                classification,
                key.sku,
                key.lot,
            )
            .fetch_all(&mut *conn)
            .await?
        }
        (Some(location), false) => {
            sqlx::query_as!(
                StockLine,
                "SELECT s.sku, s.location, l.zone, s.lot, s.quantity
                 FROM stock_levels s JOIN articles a ON a.sku = s.sku JOIN locations l ON l.code = s.location
                 WHERE s.location = ?2 AND (s.sku, s.lot) < (?9, ?10)
                   AND (?1 IS NULL OR s.sku = ?1) AND (?3 IS NULL OR l.zone = ?3)
                   AND (?4 OR a.classification = 'open') AND s.quantity > 0
                   AND (?6 IS NULL OR a.sku LIKE ?6 ESCAPE '\\' OR a.name LIKE ?6 ESCAPE '\\'
                        OR a.gtin LIKE ?6 ESCAPE '\\' OR REPLACE(a.nsn, '-', '') LIKE REPLACE(?6, '-', '') ESCAPE '\\')
                   AND (?7 IS NULL OR a.supply_class = ?7) AND (?8 IS NULL OR a.classification = ?8)
                 ORDER BY s.sku DESC, s.lot DESC LIMIT ?5",
                filter.sku,
                location,
                filter.zone,
                restricted,
                limit,
                pattern,
                supply_class,
                classification,
                key.sku,
                key.lot,
            )
            .fetch_all(&mut *conn)
            .await?
        }
        // CROSS JOIN keeps the articles the outer loop (SQLite never reorders it).
        (None, true) => {
            sqlx::query_as!(
                StockLine,
                "SELECT s.sku, s.location, l.zone, s.lot, s.quantity
                 FROM articles a CROSS JOIN stock_levels s ON s.sku = a.sku JOIN locations l ON l.code = s.location
                 WHERE a.sku >= ?9 AND (s.sku, s.location, s.lot) > (?9, ?2, ?10)
                   AND (?1 IS NULL OR a.sku = ?1) AND (?3 IS NULL OR l.zone = ?3)
                   AND (?4 OR a.classification = 'open') AND s.quantity > 0
                   AND (?6 IS NULL OR a.sku LIKE ?6 ESCAPE '\\' OR a.name LIKE ?6 ESCAPE '\\'
                        OR a.gtin LIKE ?6 ESCAPE '\\' OR REPLACE(a.nsn, '-', '') LIKE REPLACE(?6, '-', '') ESCAPE '\\')
                   AND (?7 IS NULL OR a.supply_class = ?7) AND (?8 IS NULL OR a.classification = ?8)
                 ORDER BY a.sku, s.location, s.lot LIMIT ?5",
                filter.sku,
                key.location,
                filter.zone,
                restricted,
                limit,
                pattern,
                supply_class,
                classification,
                key.sku,
                key.lot,
            )
            .fetch_all(&mut *conn)
            .await?
        }
        (None, false) => {
            sqlx::query_as!(
                StockLine,
                "SELECT s.sku, s.location, l.zone, s.lot, s.quantity
                 FROM articles a CROSS JOIN stock_levels s ON s.sku = a.sku JOIN locations l ON l.code = s.location
                 WHERE a.sku <= ?9 AND (s.sku, s.location, s.lot) < (?9, ?2, ?10)
                   AND (?1 IS NULL OR a.sku = ?1) AND (?3 IS NULL OR l.zone = ?3)
                   AND (?4 OR a.classification = 'open') AND s.quantity > 0
                   AND (?6 IS NULL OR a.sku LIKE ?6 ESCAPE '\\' OR a.name LIKE ?6 ESCAPE '\\'
                        OR a.gtin LIKE ?6 ESCAPE '\\' OR REPLACE(a.nsn, '-', '') LIKE REPLACE(?6, '-', '') ESCAPE '\\')
                   AND (?7 IS NULL OR a.supply_class = ?7) AND (?8 IS NULL OR a.classification = ?8)
                 ORDER BY a.sku DESC, s.location DESC, s.lot DESC LIMIT ?5",
                filter.sku,
                key.location,
                filter.zone,
                restricted,
                limit,
                pattern,
                supply_class,
                classification,
                key.sku,
                key.lot,
            )
            .fetch_all(&mut *conn)
            .await?
        }
    };
    if !forward {
        lines.reverse();
    }
    Ok(lines)
}

/// The items of an article that are stored, issued or in transit, newest
/// movement first, at most `limit`.
pub async fn items_of(
    conn: &mut SqliteConnection,
    sku: &str,
    limit: i64,
) -> Result<Vec<Item>, sqlx::Error> {
    sqlx::query!(
        "SELECT epc, sku, lot, state, location, last_seq FROM items
         WHERE sku = ? ORDER BY last_seq DESC, epc LIMIT ?",
        sku,
        limit,
    )
    .fetch_all(conn)
    .await?
    .into_iter()
    .map(|row| {
        Ok(Item {
            facts: ItemFacts {
                epc: row.epc,
                state: checked("items", ItemState::parse(&row.state))?,
                location: checked(
                    "items",
                    row.location.as_deref().map(LocationCode::parse).transpose(),
                )?,
            },
            sku: checked("items", Sku::parse(&row.sku))?,
            lot: checked("items", lot(&row.lot))?,
            last_seq: row.last_seq,
        })
    })
    .collect()
}

/// The newest `limit` movements of one article, newest first.
pub async fn movements_of(
    conn: &mut SqliteConnection,
    sku: &str,
    limit: i64,
) -> Result<Vec<Movement>, sqlx::Error> {
    sqlx::query_as!(
        MovementRow,
        r#"SELECT m.seq AS "seq!", m.kind, m.sku, m.quantity, m.from_location, m.to_location,
                m.lot, m.epcs, m.actor, m.source, m.idempotency_key, m.reason, m.recorded_at
         FROM movements m WHERE m.sku = ? ORDER BY m.seq DESC LIMIT ?"#,
        sku,
        limit,
    )
    .fetch_all(conn)
    .await?
    .into_iter()
    .map(MovementRow::parse)
    .collect()
}

/// How many articles lie in stock, in how many stock lines, and their total
/// quantity; restricted articles only if `restricted`.
pub async fn stock_summary(
    conn: &mut SqliteConnection,
    restricted: bool,
) -> Result<(i64, i64, i64), sqlx::Error> {
    let row = sqlx::query!(
        r#"SELECT COUNT(DISTINCT s.sku) AS "articles!: i64", COUNT(*) AS "lines!: i64",
                  COALESCE(SUM(s.quantity), 0) AS "total!: i64"
           FROM stock_levels s JOIN articles a ON a.sku = s.sku
           WHERE s.quantity > 0 AND (? OR a.classification = 'open')"#,
        restricted
    )
    .fetch_one(conn)
    .await?;
    Ok((row.articles, row.lines, row.total))
}

/// Every location with what lies there, for the utilisation report.
pub async fn usage_by_location(
    conn: &mut SqliteConnection,
) -> Result<Vec<(crate::domain::location::Location, Usage)>, sqlx::Error> {
    sqlx::query!(
        r#"SELECT l.code, l.zone, l.kind, l.capacity_volume_l, l.capacity_weight_kg, l.capacity_pallets,
                  TOTAL(CAST(s.quantity AS REAL) * COALESCE(a.unit_volume_ml, 0)) AS "volume_ml!: f64",
                  TOTAL(CAST(s.quantity AS REAL) * COALESCE(a.unit_weight_g, 0)) AS "weight_g!: f64",
                  TOTAL(CASE WHEN a.unit = 'pallet' THEN s.quantity ELSE 0 END) AS "pallets!: f64"
           FROM locations l LEFT JOIN stock_levels s ON s.location = l.code LEFT JOIN articles a ON a.sku = s.sku
           GROUP BY l.code ORDER BY l.zone, l.code"#
    )
    .fetch_all(conn)
    .await?
    .into_iter()
    .map(|row| {
        let location = LocationRow {
            code: row.code,
            zone: row.zone,
            kind: row.kind,
            capacity_volume_l: row.capacity_volume_l,
            capacity_weight_kg: row.capacity_weight_kg,
            capacity_pallets: row.capacity_pallets,
        }
        .parse()?;
        Ok((location, usage(row.volume_ml, row.weight_g, row.pallets)))
    })
    .collect()
}

/// The (sku, location, lot) cells where the stock table disagrees with the sum
/// of the ledger; empty when the invariant holds.
pub async fn ledger_mismatches(
    conn: &mut SqliteConnection,
) -> Result<Vec<(String, String, String, i64, i64)>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"WITH flows AS (
             SELECT sku, to_location AS location, lot, quantity AS delta FROM movements WHERE to_location IS NOT NULL
             UNION ALL
             SELECT sku, from_location, lot, -quantity FROM movements WHERE from_location IS NOT NULL
         ),
         ledger AS (SELECT sku, location, lot, SUM(delta) AS quantity FROM flows GROUP BY sku, location, lot),
         cells AS (SELECT sku, location, lot FROM ledger UNION SELECT sku, location, lot FROM stock_levels)
         SELECT c.sku AS "sku!: String", c.location AS "location!: String", c.lot AS "lot!: String",
                COALESCE(l.quantity, 0) AS "from_ledger!: i64", COALESCE(s.quantity, 0) AS "in_stock!: i64"
         FROM cells c
         LEFT JOIN ledger l ON l.sku = c.sku AND l.location = c.location AND l.lot = c.lot
         LEFT JOIN stock_levels s ON s.sku = c.sku AND s.location = c.location AND s.lot = c.lot
         WHERE COALESCE(l.quantity, 0) != COALESCE(s.quantity, 0)"#
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.sku, r.location, r.lot, r.from_ledger, r.in_stock))
        .collect())
}

#[cfg(test)]
mod tests {
    use sqlx::Connection;

    use super::*;
    use crate::store::{open_pool, StoreOptions};

    fn movement(seq: i64, quantity: i64, from: Option<&str>, to: Option<&str>) -> Movement {
        Movement {
            seq,
            kind: MovementKind::Move,
            sku: Sku::parse("S").expect("sku"),
            quantity,
            from: from.map(|c| LocationCode::parse(c).expect("code")),
            to: to.map(|c| LocationCode::parse(c).expect("code")),
            lot: Lot::none(),
            epcs: Vec::new(),
            actor: "test".into(),
            source: Source::Api,
            idempotency_key: None,
            reason: None,
            recorded_at: OffsetDateTime::UNIX_EPOCH,
        }
    }

    /// The database itself keeps stock equal to the ledger and never negative,
    /// whatever code appends.
    #[tokio::test]
    async fn appending_numbers_and_applies_the_movement_and_refuses_overdraft() {
        let dir = tempfile::tempdir().expect("dir");
        let pool = open_pool(&dir.path().join("t.db"), &StoreOptions::default())
            .await
            .expect("open");
        let mut conn = pool.acquire().await.expect("conn");
        sqlx::query("INSERT INTO articles (sku, name, unit, classification, created_at, updated_at) VALUES ('S', 'S', 'piece', 'open', '', '')")
            .execute(&mut *conn)
            .await
            .expect("article");
        for code in ["A", "B"] {
            sqlx::query("INSERT INTO locations (code, zone, kind, created_at, updated_at) VALUES (?, 'Z', 'bin', '', '')")
                .bind(code)
                .execute(&mut *conn)
                .await
                .expect("location");
        }
        let mut receive = movement(0, 5, None, Some("A"));
        append_next(&mut conn, &mut receive).await.expect("receive");
        let mut move_all = movement(0, 5, Some("A"), Some("B"));
        append_next(&mut conn, &mut move_all)
            .await
            .expect("move all");
        assert_eq!(
            (receive.seq, move_all.seq),
            (1, 2),
            "the INSERT numbers them"
        );
        assert_eq!(level(&mut conn, "S", "A", "").await.expect("level"), 0);
        assert_eq!(level(&mut conn, "S", "B", "").await.expect("level"), 5);
        let overdraft = append_next(&mut conn, &mut movement(0, 6, Some("B"), None)).await;
        assert!(
            overdraft.is_err(),
            "taking 6 of 5 must fail in the database"
        );
        let mut tx = conn.begin().await.expect("tx");
        assert!(ledger_mismatches(&mut tx).await.expect("check").is_empty());
        assert_eq!(last_seq(&mut tx).await.expect("seq"), 2);
    }
}
