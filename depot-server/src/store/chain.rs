//! The ledger's hash chain in the database (`domain::chain` defines it).
//!
//! Movements are inserted without a hash; the writer seals each group commit
//! before its COMMIT: it reads the movements after the chain's head, links
//! them in `seq` order and sets each hash (the one UPDATE the append-only
//! trigger allows: a NULL hash set once, nothing else changed). So a
//! committed movement always carries its hash, the booking code knows
//! nothing of the chain, and a database from before the chain is sealed on
//! the writer's first batch.

use sqlx::SqliteConnection;

use crate::domain::chain::{link, Break, ChainHash, ChainHead, StoredLine, Verifier};
use crate::domain::FieldError;

/// Movements sealed per UPDATE (2 parameters each).
const ROWS_PER_UPDATE: usize = 500;

/// The last sealed movement, or the empty head.
pub async fn sealed_head(conn: &mut SqliteConnection) -> Result<ChainHead, sqlx::Error> {
    let row = sqlx::query!(
        r#"SELECT seq, hash AS "hash!" FROM movements WHERE hash IS NOT NULL ORDER BY seq DESC LIMIT 1"#
    )
    .fetch_optional(&mut *conn)
    .await?;
    match row {
        None => Ok(ChainHead::EMPTY),
        Some(row) => Ok(ChainHead {
            seq: row.seq,
            hash: parse_hash(row.seq, &row.hash)?,
        }),
    }
}

fn parse_hash(seq: i64, text: &str) -> Result<ChainHash, sqlx::Error> {
    ChainHash::parse(text).ok_or_else(|| {
        super::corrupt(
            "movements",
            FieldError::new(
                "hash",
                format!("the hash of seq {seq} is not 64 hex digits"),
            ),
        )
    })
}

/// The stored hashes of seqs `from..=to` (the feed's `hash` and `prev`),
/// ascending; a movement not yet sealed has none.
pub async fn hashes(
    conn: &mut SqliteConnection,
    from: i64,
    to: i64,
) -> Result<Vec<(i64, Option<ChainHash>)>, sqlx::Error> {
    let rows = sqlx::query!(
        "SELECT seq, hash FROM movements WHERE seq >= ? AND seq <= ? ORDER BY seq",
        from,
        to
    )
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter()
        .map(|row| match row.hash {
            Some(text) => Ok((row.seq, Some(parse_hash(row.seq, &text)?))),
            None => Ok((row.seq, None)),
        })
        .collect()
}

/// Links and stores the hashes of the movements after `head`, in seq
/// order, at most `limit` of them (negative: all); returns the new head.
/// Runs inside the writer's transaction.
pub async fn seal(
    conn: &mut SqliteConnection,
    head: ChainHead,
    limit: i64,
) -> Result<ChainHead, sqlx::Error> {
    let rows = sqlx::query!(
        "SELECT seq, kind, sku, quantity, from_location, to_location, lot, epcs, actor, source,
                idempotency_key, reason, recorded_at
         FROM movements WHERE seq > ? ORDER BY seq LIMIT ?",
        head.seq,
        limit
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut sealed = Vec::with_capacity(rows.len());
    let mut next = head;
    for row in &rows {
        let line = StoredLine {
            seq: row.seq,
            kind: &row.kind,
            sku: &row.sku,
            quantity: row.quantity,
            from: row.from_location.as_deref(),
            to: row.to_location.as_deref(),
            lot: &row.lot,
            epcs: &row.epcs,
            actor: &row.actor,
            source: &row.source,
            idempotency_key: row.idempotency_key.as_deref(),
            reason: row.reason.as_deref(),
            recorded_at: &row.recorded_at,
        };
        if line.seq != next.seq + 1 {
            return Err(super::corrupt(
                "movements",
                FieldError::new("seq", format!("seq {} follows {}", line.seq, next.seq)),
            ));
        }
        next = ChainHead {
            seq: line.seq,
            hash: link(&next.hash, &line),
        };
        sealed.push((next.seq, next.hash.to_hex()));
    }
    for chunk in sealed.chunks(ROWS_PER_UPDATE) {
        // Runtime SQL: the number of rows varies (like `ledger::append_all`).
        let values = vec!["(?, ?)"; chunk.len()].join(", ");
        let sql = format!(
            "WITH sealed (seq, hash) AS (VALUES {values})
             UPDATE movements SET hash = sealed.hash FROM sealed WHERE movements.seq = sealed.seq"
        );
        let mut query = sqlx::query(&sql);
        for (seq, hash) in chunk {
            query = query.bind(seq).bind(hash);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(next)
}

/// Recomputes the whole chain from the first movement: the head if every
/// hash holds, else where it first breaks.
pub async fn verify(conn: &mut SqliteConnection) -> Result<Result<ChainHead, Break>, sqlx::Error> {
    use futures_util::TryStreamExt;
    let mut rows = sqlx::query!(
        "SELECT seq, kind, sku, quantity, from_location, to_location, lot, epcs, actor, source,
                idempotency_key, reason, recorded_at, hash
         FROM movements ORDER BY seq"
    )
    .fetch(&mut *conn);
    let mut verifier = Verifier::default();
    while let Some(row) = rows.try_next().await? {
        let line = StoredLine {
            seq: row.seq,
            kind: &row.kind,
            sku: &row.sku,
            quantity: row.quantity,
            from: row.from_location.as_deref(),
            to: row.to_location.as_deref(),
            lot: &row.lot,
            epcs: &row.epcs,
            actor: &row.actor,
            source: &row.source,
            idempotency_key: row.idempotency_key.as_deref(),
            reason: row.reason.as_deref(),
            recorded_at: &row.recorded_at,
        };
        if let Err(broken) = verifier.next(&line, row.hash.as_deref()) {
            return Ok(Err(broken));
        }
    }
    Ok(Ok(verifier.head()))
}
