//! The `user` commands: add (prints only the new token), passwd, list, revoke.
//! Every change goes through the depot's writer.

use crate::depot::{Depot, DepotError};
use crate::domain::access::Role;

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
    if !crate::domain::article::is_key(name) {
        return Err(UserError::BadName);
    }
    depot
        .add_user(name, role, restricted)
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

/// Lists users as text lines: name, role, clearance, state.
pub async fn list(depot: &Depot) -> Result<Vec<String>, UserError> {
    Ok(depot
        .users()
        .await
        .map_err(UserError::Depot)?
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
pub async fn revoke(depot: &Depot, name: &str) -> Result<(), UserError> {
    depot.revoke_user(name).await.map_err(|error| match error {
        DepotError::NotFound { .. } => UserError::NoSuchUser(name.to_owned()),
        other => UserError::Depot(other),
    })
}
