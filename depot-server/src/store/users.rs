//! The `users` table: names, roles, clearance and hashed API tokens.

use sqlx::{Row, SqliteConnection};
use time::OffsetDateTime;

use super::{corrupt, timestamp};
use crate::domain::access::{Caller, Role};

/// A user as listed by `user list` (never with the token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    pub name: String,
    pub role: Role,
    pub restricted: bool,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

/// Adds a user with the given token hash, or re-activates a revoked user of
/// that name with a new role and token. Returns `false` if an active user has the name.
pub async fn add(
    conn: &mut SqliteConnection,
    name: &str,
    role: Role,
    restricted: bool,
    token_hash: &str,
    at: OffsetDateTime,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO users (name, role, restricted, token_hash, created_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (name) DO UPDATE SET role = excluded.role, restricted = excluded.restricted,
           token_hash = excluded.token_hash, created_at = excluded.created_at, revoked_at = NULL
         WHERE users.revoked_at IS NOT NULL",
    )
    .bind(name)
    .bind(role.as_str())
    .bind(restricted)
    .bind(token_hash)
    .bind(timestamp(at))
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// All users by name.
pub async fn list(conn: &mut SqliteConnection) -> Result<Vec<UserRow>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT name, role, restricted, created_at, revoked_at FROM users ORDER BY name",
    )
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(UserRow {
                name: row.get("name"),
                role: Role::parse(row.get("role")).map_err(|e| corrupt("users", e))?,
                restricted: row.get("restricted"),
                created_at: row.get("created_at"),
                revoked_at: row.get("revoked_at"),
            })
        })
        .collect()
}

/// Revokes a user's token; returns whether an active user of that name existed.
pub async fn revoke(
    conn: &mut SqliteConnection,
    name: &str,
    at: OffsetDateTime,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("UPDATE users SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL")
        .bind(timestamp(at))
        .bind(name)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// The active user whose token hashes to `token_hash`, with the stored hash
/// for the caller's constant-time comparison.
pub async fn by_token_hash(
    conn: &mut SqliteConnection,
    token_hash: &str,
) -> Result<Option<(Caller, String)>, sqlx::Error> {
    let Some(row) = sqlx::query("SELECT name, role, restricted, token_hash FROM users WHERE token_hash = ? AND revoked_at IS NULL")
        .bind(token_hash)
        .fetch_optional(conn)
        .await?
    else {
        return Ok(None);
    };
    let caller = Caller {
        name: row.get("name"),
        role: Role::parse(row.get("role")).map_err(|e| corrupt("users", e))?,
        restricted: row.get("restricted"),
    };
    Ok(Some((caller, row.get("token_hash"))))
}
