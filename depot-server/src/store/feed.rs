//! The feed's tables: the acknowledgement cursor (one row) and the outbox of
//! master-data changes. Movements need no table of their own: the feed
//! reads them from the ledger.

use sqlx::SqliteConnection;
use time::OffsetDateTime;

use super::timestamp;

/// The acknowledged feed position: every movement up to `ledger_seq` and
/// every outbox row up to `outbox_id` has its PUBACK.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Cursor {
    pub ledger_seq: i64,
    pub outbox_id: i64,
}

/// An outbox row: a master-data key whose current state is to be published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    pub id: i64,
    /// `article` or `location`.
    pub kind: String,
    pub key: String,
    /// An article whose classification changed.
    pub reclassified: bool,
}

/// The cursor and when it last moved (RFC 3339 text as stored).
pub async fn cursor(conn: &mut SqliteConnection) -> Result<(Cursor, Option<String>), sqlx::Error> {
    let row = sqlx::query!("SELECT ledger_seq, outbox_id, acked_at FROM feed_cursor WHERE id = 1")
        .fetch_one(conn)
        .await?;
    Ok((
        Cursor {
            ledger_seq: row.ledger_seq,
            outbox_id: row.outbox_id,
        },
        row.acked_at,
    ))
}

/// Moves the cursor forward (never back) and deletes the outbox rows it
/// now covers.
pub async fn advance(
    conn: &mut SqliteConnection,
    to: Cursor,
    now: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    let at = timestamp(now);
    sqlx::query!(
        "UPDATE feed_cursor SET ledger_seq = MAX(ledger_seq, ?), outbox_id = MAX(outbox_id, ?), acked_at = ?
         WHERE id = 1",
        to.ledger_seq,
        to.outbox_id,
        at,
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!("DELETE FROM feed_outbox WHERE id <= ?", to.outbox_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Notes that the article or location `key` changed (`kind` is `article`
/// or `location`; `reclassified`: an article's classification changed).
pub async fn record(
    conn: &mut SqliteConnection,
    kind: &str,
    key: &str,
    reclassified: bool,
    now: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    let at = timestamp(now);
    sqlx::query!(
        "INSERT INTO feed_outbox (kind, key, reclassified, created_at) VALUES (?, ?, ?, ?)",
        kind,
        key,
        reclassified,
        at,
    )
    .execute(conn)
    .await
    .map(drop)
}

/// Outbox rows after `after_id`, oldest first, at most `limit`.
pub async fn outbox_after(
    conn: &mut SqliteConnection,
    after_id: i64,
    limit: i64,
) -> Result<Vec<OutboxRow>, sqlx::Error> {
    sqlx::query_as!(
        OutboxRow,
        r#"SELECT id AS "id!: i64", kind, key, reclassified AS "reclassified: bool"
           FROM feed_outbox WHERE id > ? ORDER BY id LIMIT ?"#,
        after_id,
        limit,
    )
    .fetch_all(conn)
    .await
}

/// Outbox rows not yet acknowledged.
pub async fn outbox_len(conn: &mut SqliteConnection) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(r#"SELECT COUNT(*) AS "count!: i64" FROM feed_outbox"#)
        .fetch_one(conn)
        .await
}

/// When the oldest movement after `seq` was recorded (RFC 3339 text), if any.
pub async fn recorded_after(
    conn: &mut SqliteConnection,
    seq: i64,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar!(
        "SELECT recorded_at FROM movements WHERE seq > ? ORDER BY seq LIMIT 1",
        seq
    )
    .fetch_optional(conn)
    .await
}

/// An article's stock per zone (zones with stock only), and the seq of its
/// newest movement (0 if none).
pub async fn stock_by_zone(
    conn: &mut SqliteConnection,
    sku: &str,
) -> Result<(i64, Vec<(String, i64)>), sqlx::Error> {
    let zones = sqlx::query!(
        r#"SELECT l.zone, SUM(s.quantity) AS "quantity!: i64"
           FROM stock_levels s JOIN locations l ON l.code = s.location
           WHERE s.sku = ? AND s.quantity > 0 GROUP BY l.zone ORDER BY l.zone"#,
        sku
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|row| (row.zone, row.quantity))
    .collect();
    let last = sqlx::query_scalar!(
        r#"SELECT COALESCE(MAX(seq), 0) AS "seq!: i64" FROM movements WHERE sku = ?"#,
        sku
    )
    .fetch_one(conn)
    .await?;
    Ok((last, zones))
}
