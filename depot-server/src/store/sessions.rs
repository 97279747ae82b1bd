//! Web login: users' password hashes and lock-out records, and the
//! `web_sessions` table (cookie values stored as SHA-256 only).

use sqlx::SqliteConnection;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::{corrupt, timestamp};
use crate::domain::access::{expired, Caller, Role};
use crate::domain::login::LoginRecord;

fn parse_time(table: &str, text: &str) -> Result<OffsetDateTime, sqlx::Error> {
    OffsetDateTime::parse(text, &Rfc3339)
        .map_err(|e| sqlx::Error::Decode(format!("{table}: bad time '{text}': {e}").into()))
}

fn caller(name: String, role: &str, restricted: bool) -> Result<Caller, sqlx::Error> {
    Ok(Caller {
        name,
        role: Role::parse(role).map_err(|e| corrupt("users", e))?,
        restricted,
    })
}

/// Sets an active user's password hash; returns whether such a user exists.
pub async fn set_password(
    conn: &mut SqliteConnection,
    name: &str,
    password_hash: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query!(
        "UPDATE users SET password_hash = ?, failed_logins = 0, locked_until = NULL
         WHERE name = ? AND revoked_at IS NULL",
        password_hash,
        name,
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// What a login attempt needs to know of an active user whose access has
/// not expired at `now`: who they are, the stored password hash (if any)
/// and the lock-out record.
pub async fn login_facts(
    conn: &mut SqliteConnection,
    name: &str,
    now: OffsetDateTime,
) -> Result<Option<(Caller, Option<String>, LoginRecord)>, sqlx::Error> {
    let Some(row) = sqlx::query!(
        r#"SELECT name, role, restricted AS "restricted: bool", password_hash, failed_logins,
                  locked_until, expires_at
           FROM users WHERE name = ? AND revoked_at IS NULL"#,
        name
    )
    .fetch_optional(conn)
    .await?
    else {
        return Ok(None);
    };
    if expired(
        super::users::parse_time("expires_at", row.expires_at.as_deref())?,
        now,
    ) {
        return Ok(None);
    }
    let record = LoginRecord {
        failed: row.failed_logins,
        locked_until: row
            .locked_until
            .as_deref()
            .map(|t| parse_time("users", t))
            .transpose()?,
    };
    Ok(Some((
        caller(row.name, &row.role, row.restricted)?,
        row.password_hash,
        record,
    )))
}

/// Stores a user's lock-out record.
pub async fn set_login_record(
    conn: &mut SqliteConnection,
    name: &str,
    record: LoginRecord,
) -> Result<(), sqlx::Error> {
    let locked_until = record.locked_until.map(timestamp);
    sqlx::query!(
        "UPDATE users SET failed_logins = ?, locked_until = ? WHERE name = ?",
        record.failed,
        locked_until,
        name,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// A new session of `name` (and the user's failure count reset).
pub async fn open(
    conn: &mut SqliteConnection,
    id_hash: &str,
    name: &str,
    csrf_token: &str,
    now: OffsetDateTime,
    expires_at: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    let (created_at, expires_at) = (timestamp(now), timestamp(expires_at));
    sqlx::query!(
        "INSERT INTO web_sessions (id_hash, user_name, csrf_token, created_at, expires_at)
         VALUES (?, ?, ?, ?, ?)",
        id_hash,
        name,
        csrf_token,
        created_at,
        expires_at,
    )
    .execute(&mut *conn)
    .await?;
    set_login_record(conn, name, LoginRecord::default()).await
}

/// The user and CSRF token of an unexpired session of an active user whose
/// access has not expired.
pub async fn get(
    conn: &mut SqliteConnection,
    id_hash: &str,
    now: OffsetDateTime,
) -> Result<Option<(Caller, String)>, sqlx::Error> {
    let Some(row) = sqlx::query!(
        r#"SELECT u.name, u.role, u.restricted AS "restricted: bool", s.csrf_token, s.expires_at,
                  u.expires_at AS access_expires_at
           FROM web_sessions s JOIN users u ON u.name = s.user_name
           WHERE s.id_hash = ? AND u.revoked_at IS NULL"#,
        id_hash
    )
    .fetch_optional(conn)
    .await?
    else {
        return Ok(None);
    };
    let access_ends = super::users::parse_time("expires_at", row.access_expires_at.as_deref())?;
    if parse_time("web_sessions", &row.expires_at)? <= now || expired(access_ends, now) {
        return Ok(None);
    }
    Ok(Some((
        caller(row.name, &row.role, row.restricted)?,
        row.csrf_token,
    )))
}

/// Ends a session.
pub async fn close(conn: &mut SqliteConnection, id_hash: &str) -> Result<(), sqlx::Error> {
    sqlx::query!("DELETE FROM web_sessions WHERE id_hash = ?", id_hash)
        .execute(conn)
        .await?;
    Ok(())
}

/// Ends every session of a user (a revoked user, a changed password).
pub async fn close_all_of(conn: &mut SqliteConnection, name: &str) -> Result<(), sqlx::Error> {
    sqlx::query!("DELETE FROM web_sessions WHERE user_name = ?", name)
        .execute(conn)
        .await?;
    Ok(())
}

/// Deletes sessions that expired before `now`; returns how many.
pub async fn purge_expired(
    conn: &mut SqliteConnection,
    now: OffsetDateTime,
) -> Result<u64, sqlx::Error> {
    let now = timestamp(now);
    let done = sqlx::query!("DELETE FROM web_sessions WHERE expires_at < ?", now)
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}
