//! The `user` commands: add (prints only the new token), passwd, list, revoke.
//! Every change goes through the depot's writer.

use time::OffsetDateTime;

use crate::depot::{Depot, DepotError};
use crate::domain::access::{self, Role};

/// Why a user command failed.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("user name must be 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' or '-'")]
    BadName,
    #[error("user '{0}' exists already")]
    Exists(String),
    #[error("no active user '{0}'")]
    NoSuchUser(String),
    #[error("{0}")]
    BadPassword(String),
    #[error("{0}")]
    Depot(DepotError),
}

/// Adds a user (or re-activates a revoked one) and returns the new API token
/// (shown once, stored hashed).
pub async fn add(
    depot: &Depot,
    name: &str,
    role: Role,
    restricted: bool,
) -> Result<String, UserError> {
    add_until(depot, name, role, restricted, None).await
}

/// As [`add`], with the user's access (API token and web login) ending at
/// `expires_at` (`None` = never).
pub async fn add_until(
    depot: &Depot,
    name: &str,
    role: Role,
    restricted: bool,
    expires_at: Option<OffsetDateTime>,
) -> Result<String, UserError> {
    if !crate::domain::article::is_key(name) {
        return Err(UserError::BadName);
    }
    depot
        .add_user(name, role, restricted, expires_at)
        .await
        .map_err(|error| match error {
            DepotError::Exists { .. } => UserError::Exists(name.to_owned()),
            other => UserError::Depot(other),
        })
}

/// Sets a user's web password (argon2id); ends the user's open sessions.
pub async fn passwd(depot: &Depot, name: &str, password: &str) -> Result<(), UserError> {
    depot
        .set_password(name, password)
        .await
        .map_err(|error| match error {
            DepotError::NotFound { .. } => UserError::NoSuchUser(name.to_owned()),
            DepotError::Invalid(errors) => {
                UserError::BadPassword(errors.first().map(|e| e.reason.clone()).unwrap_or_default())
            }
            other => UserError::Depot(other),
        })
}

/// The password given on standard input: its first line, without the line end.
pub fn password_from(mut input: impl std::io::BufRead) -> Result<String, UserError> {
    let mut line = String::new();
    input
        .read_line(&mut line)
        .map_err(|e| UserError::BadPassword(format!("cannot read standard input: {e}")))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// Lists users as text lines, tab-separated: name, role, clearance, state
/// (`active since …`, `expired …` or `revoked …`), expiry (`expires …` or
/// `never expires`) and last use of the token (`last used …`, to the
/// minute, or `never used`).
pub async fn list(depot: &Depot) -> Result<Vec<String>, UserError> {
    let now = OffsetDateTime::now_utc();
    Ok(depot
        .users()
        .await
        .map_err(UserError::Depot)?
        .into_iter()
        .map(|u| {
            let clearance = if u.restricted { "restricted" } else { "open" };
            let ends = u.expires_at.as_deref().and_then(|at| {
                OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339).ok()
            });
            let state = match (&u.revoked_at, &u.expires_at) {
                (Some(at), _) => format!("revoked {at}"),
                (None, Some(at)) if access::expired(ends, now) => format!("expired {at}"),
                (None, _) => format!("active since {}", u.created_at),
            };
            let expiry = match &u.expires_at {
                Some(at) => format!("expires {at}"),
                None => "never expires".to_owned(),
            };
            let last_use = match &u.last_used_at {
                Some(at) => format!("last used {at}"),
                None => "never used".to_owned(),
            };
            [
                u.name,
                u.role.to_string(),
                clearance.to_owned(),
                state,
                expiry,
                last_use,
            ]
            .join("\t")
        })
        .collect())
}

/// Revokes a user's token.
pub async fn revoke(depot: &Depot, name: &str) -> Result<(), UserError> {
    depot.revoke_user(name).await.map_err(|error| match error {
        DepotError::NotFound { .. } => UserError::NoSuchUser(name.to_owned()),
        other => UserError::Depot(other),
    })
}
