//! The `users` table: names, roles, clearance and hashed API tokens.

use sqlx::SqliteConnection;
use time::OffsetDateTime;

use super::{corrupt, timestamp};
use crate::domain::access::{Caller, Role, User};

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
    let role = role.as_str();
    let created_at = timestamp(at);
    let done = sqlx::query!(
        "INSERT INTO users (name, role, restricted, token_hash, created_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (name) DO UPDATE SET role = excluded.role, restricted = excluded.restricted,
           token_hash = excluded.token_hash, created_at = excluded.created_at, revoked_at = NULL
         WHERE users.revoked_at IS NOT NULL",
        name,
        role,
        restricted,
        token_hash,
        created_at,
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// All users by name.
pub async fn list(conn: &mut SqliteConnection) -> Result<Vec<User>, sqlx::Error> {
    sqlx::query!(
        r#"SELECT name, role, restricted AS "restricted: bool", created_at, revoked_at
           FROM users ORDER BY name"#
    )
    .fetch_all(conn)
    .await?
    .into_iter()
    .map(|row| {
        Ok(User {
            name: row.name,
            role: Role::parse(&row.role).map_err(|e| corrupt("users", e))?,
            restricted: row.restricted,
            created_at: row.created_at,
            revoked_at: row.revoked_at,
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
    let revoked_at = timestamp(at);
    let done = sqlx::query!(
        "UPDATE users SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
        revoked_at,
        name,
    )
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
    let Some(row) = sqlx::query!(
        r#"SELECT name, role, restricted AS "restricted: bool", token_hash
           FROM users WHERE token_hash = ? AND revoked_at IS NULL"#,
        token_hash
    )
    .fetch_optional(conn)
    .await?
    else {
        return Ok(None);
    };
    let caller = Caller {
        name: row.name,
        role: Role::parse(&row.role).map_err(|e| corrupt("users", e))?,
        restricted: row.restricted,
    };
    Ok(Some((caller, row.token_hash)))
}
