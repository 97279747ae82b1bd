//! SQLite adapter: opening the database, migrations, and rows ↔ domain values.
//!
//! One file per aggregate; every function takes a connection (or a
//! transaction, which derefs to one) so the façade decides the transaction
//! boundaries. No rules live here: the domain decides, the store writes.
//!
//! Every statement whose text is fixed goes through `sqlx::query!`,
//! `query_as!` or `query_scalar!`, so a wrong table, column, parameter count
//! or column type fails the build. The macros describe each statement against
//! the schema recorded in `depot-server/.sqlx/` (one file per statement,
//! committed); `cargo xtask sqlx-prepare` regenerates it after a query or a
//! migration changes. Only SQL that cannot be fixed text stays runtime: the
//! multi-row INSERT of [`ledger::append_all`], the multi-row UPDATE of
//! [`chain::seal`] and the `PRAGMA` reads of
//! [`size_kib`]. Row values come back as plain Rust types (the STRICT
//! tables' TEXT, INTEGER, REAL; `AS "name!: T"` where SQLite cannot infer
//! an expression's type or nullability) and are parsed into domain values
//! with [`checked`]: a stored value that does not parse is a decode error,
//! never a panic. The macros bind references to their arguments, so a
//! computed argument is put in a `let` first.

pub mod articles;
pub mod chain;
pub mod deliveries;
pub mod feed;
pub mod gates;
pub mod idempotency;
pub mod ledger;
pub mod locations;
pub mod sessions;
pub mod users;

use std::path::Path;

use crate::domain::chain::{Break, ChainHead};
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection, SqliteConnection, SqlitePool};

use crate::domain::FieldError;

/// The embedded migrations in `migrations/` at the repository root.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// How the database is opened.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// How long a statement waits for a lock before the database counts as busy.
    pub busy_timeout_ms: u64,
    /// Read connections in the pool.
    pub read_connections: u32,
    /// The most pages (4 KiB each) the database may hold; `None` = no cap.
    pub max_page_count: Option<u64>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            busy_timeout_ms: 5_000,
            read_connections: 4,
            max_page_count: None,
        }
    }
}

fn connect_options(path: &Path, options: &StoreOptions) -> SqliteConnectOptions {
    let connect = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(Duration::from_millis(options.busy_timeout_ms))
        .disable_statement_logging();
    match options.max_page_count {
        Some(pages) => connect.pragma("max_page_count", pages.to_string()),
        None => connect,
    }
}

/// Opens (creating if missing) the database at `path` and applies pending
/// migrations, after a backup of an existing database beside it
/// (`{db}.before-migration-{version}`): each migration runs in its own
/// transaction, and a failed one leaves the database as that migration
/// found it.
pub async fn open_pool(path: &Path, options: &StoreOptions) -> Result<SqlitePool, sqlx::Error> {
    let pool = SqlitePoolOptions::new()
        .max_connections(options.read_connections.max(1))
        .connect_with(connect_options(path, options))
        .await?;
    backup_before_migrating(&pool, path).await?;
    MIGRATOR.run(&pool).await?;
    Ok(pool)
}

/// The migrations recorded as applied in a database: (version, checksum).
/// Runtime SQL: `_sqlx_migrations` is sqlx's own table, not in the schema
/// the macros check against.
async fn applied_migrations(
    conn: &mut SqliteConnection,
) -> Result<Vec<(i64, Vec<u8>)>, sqlx::Error> {
    let exists: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
    )
    .fetch_one(&mut *conn)
    .await?;
    if exists == 0 {
        return Ok(Vec::new());
    }
    sqlx::query_as("SELECT version, checksum FROM _sqlx_migrations WHERE success ORDER BY version")
        .fetch_all(&mut *conn)
        .await
}

/// Copies an existing database that has migrations pending, before they run.
async fn backup_before_migrating(pool: &SqlitePool, path: &Path) -> Result<(), sqlx::Error> {
    let mut conn = pool.acquire().await?;
    let applied = applied_migrations(&mut conn).await?;
    let Some((latest, _)) = applied.last() else {
        return Ok(());
    };
    if MIGRATOR
        .iter()
        .all(|m| applied.iter().any(|(version, _)| *version == m.version))
    {
        return Ok(());
    }
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".before-migration-{latest:04}"));
    let copy = std::path::PathBuf::from(name);
    if copy.exists() {
        // A migration that failed before: the first copy is the one to keep.
        tracing::warn!(copy = %copy.display(), "a copy from before an earlier migration attempt exists; kept");
        return Ok(());
    }
    sqlx::query("VACUUM INTO ?")
        .bind(copy.to_string_lossy().into_owned())
        .execute(&mut *conn)
        .await?;
    tracing::info!(copy = %copy.display(), "copied the database before migrating it");
    Ok(())
}

/// What a backup file holds, read without changing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupFacts {
    /// `PRAGMA integrity_check`: `ok`, or the first problem.
    pub integrity: String,
    /// Applied migrations: (version, checksum).
    pub migrations: Vec<(i64, Vec<u8>)>,
    /// The depot it belongs to, if recorded.
    pub depot_id: Option<String>,
    /// Its feed epoch as stored (`EPOCH_KEY`), if it has one.
    pub epoch: Option<String>,
    /// The hash chain's verification; `None` if the ledger predates it.
    pub chain: Option<Result<ChainHead, Break>>,
    /// The newest ledger seq (0 when empty or unreadable).
    pub last_seq: i64,
}

/// Reads a backup's facts through a read-only connection. Runtime SQL: the
/// file may hold any schema, or none.
pub async fn inspect(path: &Path) -> Result<BackupFacts, sqlx::Error> {
    let connect = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(false)
        .read_only(true)
        .disable_statement_logging();
    let mut conn = SqliteConnection::connect_with(&connect).await?;
    let integrity: String = sqlx::query_scalar("PRAGMA integrity_check(1)")
        .fetch_one(&mut conn)
        .await?;
    let migrations = applied_migrations(&mut conn).await?;
    let table = |name: &'static str| {
        sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?",
        )
        .bind(name)
    };
    let has_meta = table("depot_meta").fetch_one(&mut conn).await? > 0;
    let (depot_id, epoch) = if has_meta {
        (
            meta(&mut conn, DEPOT_ID_KEY).await?,
            meta(&mut conn, EPOCH_KEY).await?,
        )
    } else {
        (None, None)
    };
    let has_chain: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM pragma_table_info('movements') WHERE name = 'hash'",
    )
    .fetch_one(&mut conn)
    .await?;
    let chain = if has_chain > 0 {
        Some(chain::verify(&mut conn).await?)
    } else {
        None
    };
    let last_seq = if table("movements").fetch_one(&mut conn).await? > 0 {
        sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM movements")
            .fetch_one(&mut conn)
            .await?
    } else {
        0
    };
    let _ = conn.close().await;
    Ok(BackupFacts {
        integrity,
        migrations,
        depot_id,
        epoch,
        chain,
        last_seq,
    })
}

/// This binary's migrations: (version, checksum).
pub fn known_migrations() -> Vec<(i64, Vec<u8>)> {
    MIGRATOR
        .iter()
        .map(|m| (m.version, m.checksum.to_vec()))
        .collect()
}

/// The `depot_meta` key of the depot id the database belongs to.
pub const DEPOT_ID_KEY: &str = "depot_id";

/// The `depot_meta` key of the feed's epoch (`domain::epoch::FeedEpoch`).
pub const EPOCH_KEY: &str = "feed_epoch";

/// Opens one dedicated connection, for the single booking writer.
pub async fn open_writer(
    path: &Path,
    options: &StoreOptions,
) -> Result<SqliteConnection, sqlx::Error> {
    SqliteConnection::connect_with(&connect_options(path, options)).await
}

/// Whether a database error means "the storage cannot take this now"
/// (disk full, locked past the busy timeout, I/O error): HTTP 503, retry later.
pub fn is_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(db) => db
            .code()
            .and_then(|code| i64::from_str(&code).ok())
            .is_some_and(|code| matches!(code & 0xff, 5 | 6 | 10 | 13 | 14)),
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) => true,
        _ => false,
    }
}

/// Whether a database error means the database is full (the disk, or the
/// `max_db_size_kib` cap).
pub fn is_full(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(db) => db
            .code()
            .and_then(|code| i64::from_str(&code).ok())
            .is_some_and(|code| code & 0xff == 13),
        _ => false,
    }
}

/// A row that does not parse back into a domain value: the database was
/// changed behind the server's back.
pub(crate) fn corrupt(table: &str, error: FieldError) -> sqlx::Error {
    sqlx::Error::Decode(format!("{table}: {error}").into())
}

/// A column value that does not parse back into a domain value is a corrupt row.
pub(crate) fn checked<T>(table: &str, result: Result<T, FieldError>) -> Result<T, sqlx::Error> {
    result.map_err(|e| corrupt(table, e))
}

/// Reads one metadata value.
pub async fn meta(conn: &mut SqliteConnection, key: &str) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar!("SELECT value FROM depot_meta WHERE key = ?", key)
        .fetch_optional(conn)
        .await
}

/// Reads one metadata value through a read-only connection, without
/// migrating; `None` if the file is not a depot database or has no such key.
pub async fn read_only_meta(path: &Path, options: &StoreOptions, key: &str) -> Option<String> {
    let connect = connect_options(path, options)
        .create_if_missing(false)
        .read_only(true);
    let mut conn = SqliteConnection::connect_with(&connect).await.ok()?;
    let value = meta(&mut conn, key).await.ok().flatten();
    let _ = conn.close().await;
    value
}

/// Recomputes the ledger's hash chain through a read-only connection,
/// without migrating (`depot-server verify`).
pub async fn verify_chain(
    path: &Path,
    options: &StoreOptions,
) -> Result<Result<ChainHead, Break>, sqlx::Error> {
    // Plain options: asking a read-only connection for WAL mode would write
    // (a restored file is not in WAL mode until the server opens it).
    let connect = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(false)
        .read_only(true)
        .busy_timeout(Duration::from_millis(options.busy_timeout_ms))
        .disable_statement_logging();
    let mut conn = SqliteConnection::connect_with(&connect).await?;
    let result = chain::verify(&mut conn).await;
    let _ = conn.close().await;
    result
}

/// Marks a restored copy (not yet in place, no server on it) as a new
/// feed epoch, in one transaction: the epoch value (`EPOCH_KEY`), and an
/// outbox row for every article (reclassified, so the other audience's
/// retained topic is cleared too) and every location, so the restored
/// depot republishes every snapshot under its new epoch and a hub's view
/// of it converges even for articles only the lost movements touched.
/// Runs without the writer: the file is not the live database yet.
pub async fn mark_restored(path: &Path, epoch: &str, now: &str) -> Result<(), sqlx::Error> {
    let connect = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(false)
        .foreign_keys(true)
        .disable_statement_logging();
    let mut conn = SqliteConnection::connect_with(&connect).await?;
    let mut tx = conn.begin().await?;
    set_meta(&mut tx, EPOCH_KEY, epoch).await?;
    // A backup from before the feed has no outbox: its migration seeds one.
    let has_outbox: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'feed_outbox'",
    )
    .fetch_one(&mut *tx)
    .await?;
    if has_outbox > 0 {
        sqlx::query!(
            "INSERT INTO feed_outbox (kind, key, reclassified, created_at)
             SELECT 'article', sku, 1, ? FROM articles ORDER BY sku",
            now
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query!(
            "INSERT INTO feed_outbox (kind, key, created_at)
             SELECT 'location', code, ? FROM locations ORDER BY code",
            now
        )
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    conn.close().await
}

/// Writes one metadata value.
pub async fn set_meta(
    conn: &mut SqliteConnection,
    key: &str,
    value: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO depot_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        key,
        value,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// How big the database is: used and allowed, in KiB (`None` = no cap).
pub async fn size_kib(conn: &mut SqliteConnection) -> Result<(u64, Option<u64>), sqlx::Error> {
    let pragma = |name: &'static str| sqlx::query_scalar::<_, i64>(name);
    let pages = pragma("PRAGMA page_count").fetch_one(&mut *conn).await?;
    let free = pragma("PRAGMA freelist_count")
        .fetch_one(&mut *conn)
        .await?;
    let page_size = pragma("PRAGMA page_size").fetch_one(&mut *conn).await?;
    let max_pages = pragma("PRAGMA max_page_count")
        .fetch_one(&mut *conn)
        .await?;
    let kib = |pages: i64| u64::try_from(pages.max(0) * page_size / 1024).unwrap_or(0);
    // SQLite's default cap (4294967294 pages) counts as none.
    let cap = (max_pages < 4_294_967_294).then(|| kib(max_pages));
    Ok((kib(pages - free), cap))
}

/// The current time as the database stores it (RFC 3339, UTC).
pub(crate) fn timestamp(at: time::OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| at.unix_timestamp().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_capped_database_reports_full_as_unavailable() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("capped.db");
        let baseline = open_pool(&path, &StoreOptions::default())
            .await
            .expect("open");
        let pages: i64 = sqlx::query_scalar("PRAGMA page_count")
            .fetch_one(&baseline)
            .await
            .expect("pages");
        baseline.close().await;
        let options = StoreOptions {
            max_page_count: Some(u64::try_from(pages).expect("pages") + 4),
            ..StoreOptions::default()
        };
        let pool = open_pool(&path, &options).await.expect("open capped");
        let cap: i64 = sqlx::query_scalar("PRAGMA max_page_count")
            .fetch_one(&pool)
            .await
            .expect("cap");
        assert_eq!(cap, pages + 4);
        let error = sqlx::query(
            "INSERT INTO depot_meta (key, value) VALUES ('blob', hex(randomblob(40000)))",
        )
        .execute(&pool)
        .await
        .expect_err("the database is full");
        assert!(is_unavailable(&error), "{error}");
    }
}
