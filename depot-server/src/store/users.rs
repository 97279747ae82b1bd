//! The `users` table: names, roles, clearance, hashed API tokens, when
//! access expires and when it was last used.

use sqlx::SqliteConnection;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::{corrupt, timestamp};
use crate::domain::access::{Caller, Role, User};

/// An active user found by token: who, the stored hash (for the caller's
/// constant-time comparison), when access ends and when it was last used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenHolder {
    pub caller: Caller,
    pub token_hash: String,
    pub expires_at: Option<OffsetDateTime>,
    pub last_used_at: Option<OffsetDateTime>,
}

/// A stored time, or a decode error naming the column.
pub(crate) fn parse_time(
    column: &str,
    text: Option<&str>,
) -> Result<Option<OffsetDateTime>, sqlx::Error> {
    text.map(|text| {
        OffsetDateTime::parse(text, &Rfc3339).map_err(|e| {
            sqlx::Error::Decode(format!("users.{column}: bad time '{text}': {e}").into())
        })
    })
    .transpose()
}

/// Adds a user with the given token hash, or re-activates a revoked user of
/// that name with a new role and token. Returns `false` if an active user has the name.
pub async fn add(
    conn: &mut SqliteConnection,
    name: &str,
    role: Role,
    restricted: bool,
    token_hash: &str,
    expires_at: Option<OffsetDateTime>,
    at: OffsetDateTime,
) -> Result<bool, sqlx::Error> {
    let role = role.as_str();
    let created_at = timestamp(at);
    let expires_at = expires_at.map(timestamp);
    let done = sqlx::query!(
        "INSERT INTO users (name, role, restricted, token_hash, created_at, expires_at)
         VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (name) DO UPDATE SET role = excluded.role, restricted = excluded.restricted,
           token_hash = excluded.token_hash, created_at = excluded.created_at, revoked_at = NULL,
           expires_at = excluded.expires_at, last_used_at = NULL
         WHERE users.revoked_at IS NOT NULL",
        name,
        role,
        restricted,
        token_hash,
        created_at,
        expires_at,
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// All users by name.
pub async fn list(conn: &mut SqliteConnection) -> Result<Vec<User>, sqlx::Error> {
    sqlx::query!(
        r#"SELECT name, role, restricted AS "restricted: bool", created_at, revoked_at,
                  expires_at, last_used_at
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
            expires_at: row.expires_at,
            last_used_at: row.last_used_at,
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

/// Records that `name`'s access was used at `at`.
pub async fn note_use(
    conn: &mut SqliteConnection,
    name: &str,
    at: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    let at = timestamp(at);
    sqlx::query!("UPDATE users SET last_used_at = ? WHERE name = ?", at, name)
        .execute(conn)
        .await?;
    Ok(())
}

/// The active (not revoked) user whose token hashes to `token_hash`,
/// expired or not.
pub async fn by_token_hash(
    conn: &mut SqliteConnection,
    token_hash: &str,
) -> Result<Option<TokenHolder>, sqlx::Error> {
    let Some(row) = sqlx::query!(
        r#"SELECT name, role, restricted AS "restricted: bool", token_hash, expires_at, last_used_at
           FROM users WHERE token_hash = ? AND revoked_at IS NULL"#,
        token_hash
    )
    .fetch_optional(conn)
    .await?
    else {
        return Ok(None);
    };
    Ok(Some(TokenHolder {
        caller: Caller {
            name: row.name,
            role: Role::parse(&row.role).map_err(|e| corrupt("users", e))?,
            restricted: row.restricted,
        },
        token_hash: row.token_hash,
        expires_at: parse_time("expires_at", row.expires_at.as_deref())?,
        last_used_at: parse_time("last_used_at", row.last_used_at.as_deref())?,
    }))
}
