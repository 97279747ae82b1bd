//! The `user` commands: add (prints only the new token), list, revoke.

use sqlx::SqlitePool;
use time::OffsetDateTime;

use crate::domain::access::Role;
use crate::store;
use crate::tokens;

/// Why a user command failed.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("user name must be 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' or '-'")]
    BadName,
    #[error("user '{0}' exists already")]
    Exists(String),
    #[error("no active user '{0}'")]
    NoSuchUser(String),
    #[error("database: {0}")]
    Store(#[from] sqlx::Error),
}

/// Adds a user (or re-activates a revoked one) and returns the new API token
/// (shown once, stored hashed).
pub async fn add(
    pool: &SqlitePool,
    name: &str,
    role: Role,
    restricted: bool,
) -> Result<String, UserError> {
    if !crate::domain::article::is_key(name) {
        return Err(UserError::BadName);
    }
    let token = tokens::generate();
    let mut conn = pool.acquire().await?;
    let added = store::users::add(
        &mut conn,
        name,
        role,
        restricted,
        &tokens::hash(&token),
        OffsetDateTime::now_utc(),
    )
    .await?;
    if added {
        Ok(token)
    } else {
        Err(UserError::Exists(name.to_owned()))
    }
}

/// Lists users as text lines: name, role, clearance, state.
pub async fn list(pool: &SqlitePool) -> Result<Vec<String>, UserError> {
    let mut conn = pool.acquire().await?;
    Ok(store::users::list(&mut conn)
        .await?
        .into_iter()
        .map(|u| {
            let clearance = if u.restricted { "restricted" } else { "open" };
            let state = match &u.revoked_at {
                Some(at) => format!("revoked {at}"),
                None => format!("active since {}", u.created_at),
            };
            format!("{}\t{}\t{}\t{}", u.name, u.role, clearance, state)
        })
        .collect())
}

/// Revokes a user's token.
pub async fn revoke(pool: &SqlitePool, name: &str) -> Result<(), UserError> {
    let mut conn = pool.acquire().await?;
    if store::users::revoke(&mut conn, name, OffsetDateTime::now_utc()).await? {
        Ok(())
    } else {
        Err(UserError::NoSuchUser(name.to_owned()))
    }
}
