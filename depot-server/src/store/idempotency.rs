//! The `idempotency` table: the first answer to each (actor, Idempotency-Key).

use sqlx::{Row, SqliteConnection};
use time::OffsetDateTime;

use super::timestamp;

/// A stored first answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAnswer {
    /// SHA-256 (hex) of the request it answered.
    pub request_hash: String,
    pub status: u16,
    pub body: String,
}

/// The stored answer for (actor, key), if any.
pub async fn get(
    conn: &mut SqliteConnection,
    actor: &str,
    key: &str,
) -> Result<Option<StoredAnswer>, sqlx::Error> {
    Ok(sqlx::query(
        "SELECT request_hash, status, response FROM idempotency WHERE actor = ? AND key = ?",
    )
    .bind(actor)
    .bind(key)
    .fetch_optional(conn)
    .await?
    .map(|row| StoredAnswer {
        request_hash: row.get("request_hash"),
        status: row.get::<i64, _>("status").clamp(100, 599) as u16,
        body: row.get("response"),
    }))
}

/// Stores the first answer for (actor, key).
pub async fn put(
    conn: &mut SqliteConnection,
    actor: &str,
    key: &str,
    answer: &StoredAnswer,
    at: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO idempotency (actor, key, request_hash, status, response, created_at) VALUES (?, ?, ?, ?, ?, ?)")
        .bind(actor)
        .bind(key)
        .bind(&answer.request_hash)
        .bind(i64::from(answer.status))
        .bind(&answer.body)
        .bind(timestamp(at))
        .execute(conn)
        .await?;
    Ok(())
}
