//! Web login use cases: passwords, login with back-off and lock-out,
//! sessions. The façade methods check on the read pool and hash on a
//! blocking thread (argon2id is slow on purpose); every change is a writer
//! command whose execution lives here too.

use sqlx::SqliteConnection;
use time::OffsetDateTime;

use super::writer::{Command, Done};
use super::{applied, Depot, DepotError};
use crate::domain::access::Caller;
use crate::domain::login::{LoginRecord, SESSION_LIFETIME};
use crate::domain::FieldError;
use crate::passwords::{self, PasswordError};
use crate::store;
use crate::tokens;

/// A signed-in browser: who, and the token its forms must send back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSession {
    pub caller: Caller,
    pub csrf_token: String,
}

/// What a login attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginOutcome {
    /// Signed in: the cookie value (shown once, stored hashed) and the session.
    SignedIn { cookie: String, session: WebSession },
    /// Wrong name or password (which one is not said).
    Refused,
    /// Too many failures: no password is checked until then.
    Locked { until: OffsetDateTime },
}

/// A stored hash no password matches, verified for unknown users so that an
/// unknown name takes as long as a wrong password.
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| passwords::hash(&tokens::random_hex()).unwrap_or_default())
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, DepotError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|_| DepotError::ShuttingDown)
}

impl Depot {
    /// Sets an active user's web password (argon2id) and ends their sessions.
    pub async fn set_password(&self, name: &str, password: &str) -> Result<(), DepotError> {
        let password = password.to_owned();
        let hash = blocking(move || passwords::hash(&password))
            .await?
            .map_err(|error| match error {
                PasswordError::Length => {
                    DepotError::Invalid(vec![FieldError::new("password", error.to_string())])
                }
                PasswordError::Hash(cause) => DepotError::Storage(sqlx::Error::Protocol(cause)),
            })?;
        let command = Command::SetPassword {
            name: name.to_owned(),
            password_hash: hash,
        };
        if applied(self.submit(command).await?)? {
            Ok(())
        } else {
            Err(DepotError::NotFound {
                what: "active user",
                key: name.to_owned(),
            })
        }
    }

    /// Checks a name and password; on success opens a session.
    pub async fn login(&self, name: &str, password: &str) -> Result<LoginOutcome, DepotError> {
        let now = OffsetDateTime::now_utc();
        let facts = {
            let mut conn = self.pool.acquire().await?;
            store::sessions::login_facts(&mut conn, name, now).await?
        };
        let (stored, record) = match &facts {
            Some((_, stored, record)) => (stored.clone(), *record),
            None => (None, LoginRecord::default()),
        };
        if record.is_locked(now) {
            return Ok(LoginOutcome::Locked {
                until: record.locked_until.unwrap_or(now),
            });
        }
        let password = password.to_owned();
        let matches = blocking(move || {
            let stored = stored.as_deref().unwrap_or_else(|| dummy_hash());
            passwords::verify(stored, &password)
        })
        .await?;
        let known = facts.is_some();
        let Some((caller, Some(_), _)) = facts.filter(|_| matches) else {
            if known {
                let command = Command::LoginFailed {
                    name: name.to_owned(),
                };
                if let Done::Login(record) = self.submit(command).await? {
                    if let Some(until) = record.locked_until.filter(|_| record.is_locked(now)) {
                        return Ok(LoginOutcome::Locked { until });
                    }
                }
            }
            return Ok(LoginOutcome::Refused);
        };
        let cookie = tokens::random_hex();
        let csrf_token = tokens::random_hex();
        let command = Command::OpenSession {
            name: caller.name.clone(),
            id_hash: tokens::hash(&cookie),
            csrf_token: csrf_token.clone(),
        };
        applied(self.submit(command).await?)?;
        Ok(LoginOutcome::SignedIn {
            cookie,
            session: WebSession { caller, csrf_token },
        })
    }

    /// The session a cookie value belongs to, if it is open and its user active.
    pub async fn session(&self, cookie: &str) -> Result<Option<WebSession>, DepotError> {
        let mut conn = self.pool.acquire().await?;
        let found =
            store::sessions::get(&mut conn, &tokens::hash(cookie), OffsetDateTime::now_utc())
                .await?;
        Ok(found.map(|(caller, csrf_token)| WebSession { caller, csrf_token }))
    }

    /// Ends the session a cookie value belongs to.
    pub async fn logout(&self, cookie: &str) -> Result<(), DepotError> {
        let command = Command::CloseSession {
            id_hash: tokens::hash(cookie),
        };
        self.submit(command).await?;
        Ok(())
    }
}

/// Runs a login command inside the writer's transaction.
pub(super) async fn execute(
    conn: &mut SqliteConnection,
    command: &Command,
    now: OffsetDateTime,
) -> Result<Result<Done, DepotError>, sqlx::Error> {
    Ok(Ok(match command {
        Command::SetPassword {
            name,
            password_hash,
        } => {
            let set = store::sessions::set_password(conn, name, password_hash).await?;
            store::sessions::close_all_of(conn, name).await?;
            Done::Applied(set)
        }
        Command::LoginFailed { name } => {
            let record = match store::sessions::login_facts(conn, name, now).await? {
                Some((_, _, record)) => record.after_failure(now),
                None => LoginRecord::default(),
            };
            store::sessions::set_login_record(conn, name, record).await?;
            Done::Login(record)
        }
        Command::OpenSession {
            name,
            id_hash,
            csrf_token,
        } => {
            store::sessions::purge_expired(conn, now).await?;
            let expires_at = now + SESSION_LIFETIME;
            store::sessions::open(conn, id_hash, name, csrf_token, now, expires_at).await?;
            Done::Applied(true)
        }
        Command::CloseSession { id_hash } => {
            store::sessions::close(conn, id_hash).await?;
            Done::Applied(true)
        }
        other => {
            return Err(sqlx::Error::Protocol(format!(
                "{} is not a login command",
                other.name()
            )))
        }
    }))
}
