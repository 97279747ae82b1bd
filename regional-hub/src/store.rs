//! The hub's database through sqlx: one transaction per feed message, in
//! which the applied (depot, seq), the depot's cursor and the projected
//! stock, utilisation and link state commit together, so a restart or a
//! redelivery applies nothing twice.
//!
//! One set of query texts serves both databases through `sqlx::Any`: an
//! embedded SQLite file by default, or PostgreSQL by URL, where several hub
//! instances share the load. The queries are runtime `sqlx::query` with rows
//! read by name (the compile-checked macros check against one database), and
//! the SQL is kept portable: `ON CONFLICT`, `CASE` rather than `MAX(a, b)`,
//! BIGINT nanoseconds, `$n` parameters, sums taken in Rust (PostgreSQL sums
//! BIGINT to NUMERIC, which `Any` cannot read), and BOOLEAN columns read
//! through `CASE … THEN 1 ELSE 0` (`Any` cannot read SQLite's BOOLEAN).
//!
//! Concurrency is the database's: every apply transaction first upserts its
//! depot's row, which serialises the transactions of one depot (SQLite: the
//! write lock; PostgreSQL: the row lock, held to COMMIT, and under READ
//! COMMITTED each later statement sees what the previous holder committed).
//! The primary key (depot, seq) of `movements` is the last word on "applied
//! once" whatever any instance's cursor thought. This module decides
//! nothing itself: it loads values, asks `core`, writes.

use std::path::Path;

use feed_contract::{Audience, LinkState, MovementMessage, StockSnapshot, UtilizationSnapshot};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions, AnyRow};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{AnyPool, ConnectOptions, Executor, Row, Transaction};
use time::OffsetDateTime;

use crate::core::epoch::{self, EpochMark, Fate, Held, Standing};
use crate::core::{Applied, Body, Freshness, Link, Message, SeqCursor, SnapshotVersion};

/// A store failure: the database's own error, or a value it holds that the
/// hub cannot read back.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("user {0} exists")]
    UserExists(String),
}

/// What applying one message did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Its effects were written.
    Applied,
    /// Seen before (a redelivery, a retained resend, an older snapshot): nothing written
    /// but the depot's last-heard time.
    Unchanged,
}

/// The hub's database.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

/// Which database a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An embedded SQLite file.
    Sqlite,
    /// A PostgreSQL server, possibly shared by several hub instances.
    Postgres,
}

impl Backend {
    /// The backend `db` names: a `postgres://` or `postgresql://` URL, or
    /// else a SQLite file path.
    pub fn of(db: &str) -> Backend {
        if db.starts_with("postgres://") || db.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }
}

/// A hub user as the API sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    /// Cleared for restricted articles.
    pub restricted: bool,
}

/// How a stock query names the article.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArticleKey {
    Sku(String),
    Gtin(String),
    Nsn(String),
}

/// One depot's stock of an article.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepotStock {
    pub depot: String,
    pub sku: String,
    pub name: String,
    pub unit: String,
    pub gtin: Option<String>,
    pub nsn: Option<String>,
    pub restricted: bool,
    pub seq: i64,
    pub time: OffsetDateTime,
    pub total: i64,
    /// Per zone, as the depot sent it (JSON list of `{zone, quantity}`).
    pub zones: serde_json::Value,
}

/// Used, capacity and free in one dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fill {
    pub used: i64,
    pub capacity: Option<i64>,
    pub free: Option<i64>,
}

impl Fill {
    /// The sum of several depots' fills: used added up; capacity and free
    /// only where every depot knows its own (else `None`, as they report it).
    pub fn sum(fills: impl Iterator<Item = Fill>) -> Fill {
        let mut sum = Fill {
            used: 0,
            capacity: Some(0),
            free: Some(0),
        };
        for fill in fills {
            sum.used = sum.used.saturating_add(fill.used);
            sum.capacity = sum
                .capacity
                .zip(fill.capacity)
                .map(|(a, b)| a.saturating_add(b));
            sum.free = sum.free.zip(fill.free).map(|(a, b)| a.saturating_add(b));
        }
        sum
    }
}

/// One depot's utilisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepotCapacity {
    pub depot: String,
    pub seq: i64,
    pub time: OffsetDateTime,
    pub volume_ml: Fill,
    pub weight_g: Fill,
    pub pallets: Fill,
    /// Per zone, as the depot sent it.
    pub zones: serde_json::Value,
}

/// A depot's current epoch at the hub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepotEpoch {
    pub id: String,
    pub generation: i64,
    /// The last seq shared with the epoch before.
    pub base: i64,
}

/// A depot's latest restore as the hub knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepotRestore {
    /// When the depot says it ran (its status), once heard.
    pub at: Option<OffsetDateTime>,
    /// When the hub noticed the new epoch; `None` if the depot was already
    /// restored when the hub first heard of it.
    pub noticed: Option<OffsetDateTime>,
    /// The seqs the restore took away that the hub had applied (from, to).
    pub lost: Option<(i64, i64)>,
    /// How many movements of that range the hub had applied.
    pub lost_count: i64,
}

/// One depot's feed as the hub sees it at `now`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepotFeed {
    pub depot: String,
    /// Every seq up to this one is applied.
    pub contiguous_seq: i64,
    /// The newest seq applied or reported by the depot.
    pub newest_seq: i64,
    /// Missing seqs below the newest applied one.
    pub gaps: Vec<(u64, u64)>,
    pub movements_applied: i64,
    pub duplicates: i64,
    pub link: Option<(LinkState, OffsetDateTime)>,
    pub last_message: OffsetDateTime,
    pub freshness: Freshness,
    /// The depot's current epoch (`None` before its first version-2 message).
    pub epoch: Option<DepotEpoch>,
    pub restored: Option<DepotRestore>,
    /// The first seq whose chain hash contradicted what the hub held in
    /// the same history, and when: a history rewritten without a restore.
    pub diverged: Option<(i64, OffsetDateTime)>,
}

fn ns(time: OffsetDateTime) -> i64 {
    // Nanoseconds since 1970 fit in i64 until the year 2262.
    i64::try_from(time.unix_timestamp_nanos()).unwrap_or(i64::MAX)
}

fn from_ns(value: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(value))
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Figures were checked to fit i64 when the message was parsed.
fn big(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn link_name(state: LinkState) -> &'static str {
    match state {
        LinkState::Online => "online",
        LinkState::Offline => "offline",
    }
}

fn link_of(name: &str) -> Option<LinkState> {
    match name {
        "online" => Some(LinkState::Online),
        "offline" => Some(LinkState::Offline),
        _ => None,
    }
}

fn as_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "[]".into())
}

impl Store {
    /// Opens the database `db` and migrates it: a SQLite file path (created
    /// if missing; WAL, `synchronous=FULL`) or a `postgres://` URL (the
    /// database must exist; migrations are applied once, whichever instance
    /// comes first).
    pub async fn open(db: &str) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = Backend::of(db);
        let pool = match backend {
            Backend::Postgres => {
                AnyPoolOptions::new()
                    .max_connections(8)
                    .connect_with(db.parse::<AnyConnectOptions>()?)
                    .await?
            }
            Backend::Sqlite => {
                let url = SqliteConnectOptions::new()
                    .filename(Path::new(db))
                    .create_if_missing(true)
                    .to_url_lossy();
                AnyPoolOptions::new()
                    .max_connections(4)
                    .after_connect(|connection, _| {
                        Box::pin(async move {
                            // Durable on power loss; readers never block the writer.
                            connection.execute("PRAGMA journal_mode = WAL").await?;
                            connection.execute("PRAGMA synchronous = FULL").await?;
                            Ok(())
                        })
                    })
                    .connect_with(AnyConnectOptions::from_url(&url)?)
                    .await?
            }
        };
        // PostgreSQL: sqlx takes an advisory lock around the migrations, so
        // instances starting together apply each once.
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Store { pool, backend })
    }

    /// The database this store runs on.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Closes the pool, waiting for open connections.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }

    /// Applies one feed message received at `now`, in one transaction.
    pub async fn apply(
        &self,
        message: &Message,
        now: OffsetDateTime,
    ) -> Result<Outcome, StoreError> {
        let outcomes = self.apply_batch(std::slice::from_ref(message), now).await?;
        Ok(outcomes[0])
    }

    /// Applies feed messages received at `now` in one transaction (one
    /// commit, one fsync for the lot): each depot's messages in the order
    /// given, the depots in name order, so that two hub instances sharing a
    /// PostgreSQL database take the depots' row locks in one order and
    /// cannot deadlock. Returns each message's outcome in the order given.
    pub async fn apply_batch(
        &self,
        messages: &[Message],
        now: OffsetDateTime,
    ) -> Result<Vec<Outcome>, StoreError> {
        let mut order: Vec<usize> = (0..messages.len()).collect();
        // Stable: a depot's messages keep their arrival order.
        order.sort_by(|&a, &b| messages[a].depot.as_str().cmp(messages[b].depot.as_str()));
        let mut outcomes = vec![Outcome::Unchanged; messages.len()];
        let mut tx = self.pool.begin().await?;
        for index in order {
            outcomes[index] = apply_message(&mut tx, &messages[index], now).await?;
        }
        tx.commit().await?;
        Ok(outcomes)
    }

    /// Adds a user with the `hub` role; returns the token (shown once).
    pub async fn add_user(
        &self,
        name: &str,
        restricted: bool,
        now: OffsetDateTime,
    ) -> Result<String, StoreError> {
        let token = crate::tokens::generate();
        let inserted = sqlx::query(
            "INSERT INTO users (name, role, restricted, token_sha256, created_ns) VALUES ($1, 'hub', $2, $3, $4) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(restricted)
        .bind(crate::tokens::hash(&token))
        .bind(ns(now))
        .execute(&self.pool)
        .await?;
        if inserted.rows_affected() == 0 {
            return Err(StoreError::UserExists(name.to_owned()));
        }
        Ok(token)
    }

    /// The user a bearer token belongs to, unless revoked.
    pub async fn user_by_token(&self, token: &str) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(
            "SELECT name, CASE WHEN restricted THEN 1 ELSE 0 END AS restricted FROM users WHERE token_sha256 = $1 AND revoked_ns IS NULL",
        )
        .bind(crate::tokens::hash(token))
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(User {
                name: row.try_get("name")?,
                restricted: row.try_get::<i64, _>("restricted")? != 0,
            })
        })
        .transpose()
    }

    /// Opens a web session for the user of `token` until `expires`; returns
    /// the session id (the cookie's value), or `None` if the token is not a
    /// valid one. Expired sessions are deleted on the way.
    pub async fn open_session(
        &self,
        token: &str,
        now: OffsetDateTime,
        expires: OffsetDateTime,
    ) -> Result<Option<String>, StoreError> {
        let Some(user) = self.user_by_token(token).await? else {
            return Ok(None);
        };
        sqlx::query("DELETE FROM sessions WHERE expires_ns <= $1")
            .bind(ns(now))
            .execute(&self.pool)
            .await?;
        let id = crate::tokens::generate();
        sqlx::query(
            "INSERT INTO sessions (id_sha256, user_name, created_ns, expires_ns) VALUES ($1, $2, $3, $4)",
        )
        .bind(crate::tokens::hash(&id))
        .bind(&user.name)
        .bind(ns(now))
        .bind(ns(expires))
        .execute(&self.pool)
        .await?;
        Ok(Some(id))
    }

    /// The user of an open, unexpired session whose user is not revoked.
    pub async fn user_by_session(
        &self,
        id: &str,
        now: OffsetDateTime,
    ) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(
            "SELECT users.name AS name, CASE WHEN users.restricted THEN 1 ELSE 0 END AS restricted \
             FROM sessions JOIN users ON users.name = sessions.user_name \
             WHERE sessions.id_sha256 = $1 AND sessions.expires_ns > $2 AND users.revoked_ns IS NULL",
        )
        .bind(crate::tokens::hash(id))
        .bind(ns(now))
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(User {
                name: row.try_get("name")?,
                restricted: row.try_get::<i64, _>("restricted")? != 0,
            })
        })
        .transpose()
    }

    /// Ends a web session (logout); an unknown id is no error.
    pub async fn close_session(&self, id: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE id_sha256 = $1")
            .bind(crate::tokens::hash(id))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Every depot's feed, with gaps and freshness at `now`.
    pub async fn depots(
        &self,
        now: OffsetDateTime,
        stale_after: time::Duration,
    ) -> Result<Vec<DepotFeed>, StoreError> {
        let rows = sqlx::query(
            "SELECT depot, contiguous_seq, reported_seq, movements_applied, duplicates, \
             link_state, link_since_ns, last_message_ns, epoch, epoch_generation, epoch_base, \
             restored_ns, restore_seen_ns, lost_from, lost_to, lost_count, diverged_seq, diverged_ns \
             FROM depots ORDER BY depot",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut depots = Vec::with_capacity(rows.len());
        for row in rows {
            let depot: String = row.try_get("depot")?;
            let contiguous: i64 = row.try_get("contiguous_seq")?;
            let above: Vec<i64> = sqlx::query_scalar(
                "SELECT seq FROM movements WHERE depot = $1 AND seq > $2 ORDER BY seq",
            )
            .bind(&depot)
            .bind(contiguous)
            .fetch_all(&self.pool)
            .await?;
            let cursor = SeqCursor::new(
                contiguous.unsigned_abs(),
                above.iter().map(|s| s.unsigned_abs()),
            );
            let link = match (
                row.try_get::<Option<String>, _>("link_state")?
                    .as_deref()
                    .and_then(link_of),
                row.try_get::<Option<i64>, _>("link_since_ns")?,
            ) {
                (Some(state), Some(since)) => Some((state, from_ns(since))),
                _ => None,
            };
            let last_message = from_ns(row.try_get("last_message_ns")?);
            let reported: i64 = row.try_get("reported_seq")?;
            let opt = |name: &str| row.try_get::<Option<i64>, _>(name);
            let epoch = match (
                row.try_get::<Option<String>, _>("epoch")?,
                opt("epoch_generation")?,
                opt("epoch_base")?,
            ) {
                (Some(id), Some(generation), Some(base)) => Some(DepotEpoch {
                    id,
                    generation,
                    base,
                }),
                _ => None,
            };
            let (restored_at, noticed) = (opt("restored_ns")?, opt("restore_seen_ns")?);
            let restored = (restored_at.is_some() || noticed.is_some())
                .then(|| -> Result<DepotRestore, sqlx::Error> {
                    Ok(DepotRestore {
                        at: restored_at.map(from_ns),
                        noticed: noticed.map(from_ns),
                        lost: opt("lost_from")?.zip(opt("lost_to")?),
                        lost_count: row.try_get("lost_count")?,
                    })
                })
                .transpose()?;
            let diverged = opt("diverged_seq")?
                .map(|seq| -> Result<_, sqlx::Error> {
                    Ok((seq, from_ns(opt("diverged_ns")?.unwrap_or_default())))
                })
                .transpose()?;
            depots.push(DepotFeed {
                epoch,
                restored,
                diverged,
                contiguous_seq: big(cursor.contiguous()),
                newest_seq: reported.max(big(cursor.newest())),
                gaps: cursor
                    .gaps()
                    .into_iter()
                    .map(|g| (*g.start(), *g.end()))
                    .collect(),
                movements_applied: row.try_get("movements_applied")?,
                duplicates: row.try_get("duplicates")?,
                freshness: Freshness::at(link.map(|l| l.0), last_message, now, stale_after),
                link,
                last_message,
                depot,
            });
        }
        Ok(depots)
    }

    /// Each depot's stock of the article named by `key`; restricted stock
    /// only if `cleared`.
    pub async fn stock(
        &self,
        key: &ArticleKey,
        cleared: bool,
    ) -> Result<Vec<DepotStock>, StoreError> {
        let (column, value) = match key {
            ArticleKey::Sku(v) => ("sku", v),
            ArticleKey::Gtin(v) => ("gtin", v),
            ArticleKey::Nsn(v) => ("nsn", v),
        };
        // The column name comes from the match above, never from input.
        let sql = format!(
            "SELECT depot, sku, name, unit, gtin, nsn, \
             CASE WHEN restricted THEN 1 ELSE 0 END AS restricted, seq, time_ns, total, zones \
             FROM stock WHERE {column} = $1 AND (restricted = FALSE OR $2) ORDER BY depot, sku"
        );
        let rows = sqlx::query(&sql)
            .bind(value)
            .bind(cleared)
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter()
            .map(|row| {
                Ok(DepotStock {
                    depot: row.try_get("depot")?,
                    sku: row.try_get("sku")?,
                    name: row.try_get("name")?,
                    unit: row.try_get("unit")?,
                    gtin: row.try_get("gtin")?,
                    nsn: row.try_get("nsn")?,
                    restricted: row.try_get::<i64, _>("restricted")? != 0,
                    seq: row.try_get("seq")?,
                    time: from_ns(row.try_get("time_ns")?),
                    total: row.try_get("total")?,
                    zones: serde_json::from_str(row.try_get("zones")?).unwrap_or_default(),
                })
            })
            .collect()
    }

    /// Every depot's newest utilisation.
    pub async fn capacity(&self) -> Result<Vec<DepotCapacity>, StoreError> {
        let rows = sqlx::query("SELECT * FROM utilization ORDER BY depot")
            .fetch_all(&self.pool)
            .await?;
        let fill = |row: &AnyRow, prefix: &str, unit: &str| -> Result<Fill, sqlx::Error> {
            Ok(Fill {
                used: row.try_get(format!("{prefix}_used{unit}").as_str())?,
                capacity: row.try_get(format!("{prefix}_capacity{unit}").as_str())?,
                free: row.try_get(format!("{prefix}_free{unit}").as_str())?,
            })
        };
        rows.iter()
            .map(|row| {
                Ok(DepotCapacity {
                    depot: row.try_get("depot")?,
                    seq: row.try_get("seq")?,
                    time: from_ns(row.try_get("time_ns")?),
                    volume_ml: fill(row, "volume", "_ml")?,
                    weight_g: fill(row, "weight", "_g")?,
                    pallets: fill(row, "pallets", "")?,
                    zones: serde_json::from_str(row.try_get("zones")?).unwrap_or_default(),
                })
            })
            .collect()
    }
}

/// The ledger seq a message reports the depot to have reached.
/// Applies one feed message received at `now` inside `tx`.
async fn apply_message(
    tx: &mut Tx,
    message: &Message,
    now: OffsetDateTime,
) -> Result<Outcome, StoreError> {
    let depot = message.depot.as_str();
    // Touch the depot first: in SQLite this takes the write lock before
    // anything is read, so the reads below cannot go stale.
    sqlx::query(
        "INSERT INTO depots (depot, last_message_ns) VALUES ($1, $2) \
         ON CONFLICT (depot) DO UPDATE SET last_message_ns = \
         CASE WHEN depots.last_message_ns > excluded.last_message_ns THEN depots.last_message_ns ELSE excluded.last_message_ns END",
    )
    .bind(depot)
    .bind(ns(now))
    .execute(&mut **tx)
    .await?;
    let (standing, base) = match message_epoch(&message.body) {
        Some(incoming) => settle_epoch(tx, depot, &incoming, now).await?,
        None => (Standing::Current, 0),
    };
    let outcome = match &message.body {
        Body::Movement(audience, movement) => {
            apply_movement(tx, depot, *audience, movement, (standing, base), now).await?
        }
        Body::Stock(audience, snapshot) => {
            apply_stock(tx, depot, *audience, snapshot, standing).await?
        }
        Body::StockCleared => Outcome::Unchanged,
        Body::Utilization(snapshot) => apply_utilization(tx, depot, snapshot, standing).await?,
        // A left epoch's status (its Last Will, late) says nothing of the depot now.
        Body::Status(_) if standing == Standing::Superseded => Outcome::Unchanged,
        Body::Status(status) => apply_status(tx, depot, status, now).await?,
    };
    if let Some(seq) = reported_seq(&message.body).filter(|_| standing != Standing::Superseded) {
        sqlx::query(
            "UPDATE depots SET reported_seq = CASE WHEN reported_seq > $2 THEN reported_seq ELSE $2 END WHERE depot = $1",
        )
        .bind(depot)
        .bind(seq)
        .execute(&mut **tx)
        .await?;
    }
    Ok(outcome)
}

fn reported_seq(body: &Body) -> Option<i64> {
    match body {
        Body::Movement(_, m) => Some(big(m.seq)),
        Body::Stock(_, s) => Some(big(s.seq)),
        Body::Utilization(u) => Some(big(u.seq)),
        Body::Status(s) => Some(big(s.seq)),
        Body::StockCleared => None,
    }
}

type Tx = Transaction<'static, sqlx::Any>;

/// The epoch a message carries (an empty retained message carries none).
fn message_epoch(body: &Body) -> Option<EpochMark> {
    match body {
        Body::Movement(_, m) => Some(EpochMark::from(&m.epoch)),
        Body::Stock(_, s) => Some(EpochMark::from(&s.epoch)),
        Body::Utilization(u) => Some(EpochMark::from(&u.epoch)),
        Body::Status(s) => Some(EpochMark::from(&s.epoch)),
        Body::StockCleared => None,
    }
}

/// Where the message's epoch stands, adopting it when it is the depot's
/// first or a newer one (a restore: what the hub holds above its base
/// moves to the lost movements). Returns the standing to apply the message
/// with (`Current` after an adoption) and the current epoch's base.
async fn settle_epoch(
    tx: &mut Tx,
    depot: &str,
    incoming: &EpochMark,
    now: OffsetDateTime,
) -> Result<(Standing, u64), StoreError> {
    let row =
        sqlx::query("SELECT epoch, epoch_generation, epoch_base FROM depots WHERE depot = $1")
            .bind(depot)
            .fetch_one(&mut **tx)
            .await?;
    let current = match (
        row.try_get::<Option<String>, _>("epoch")?,
        row.try_get::<Option<i64>, _>("epoch_generation")?,
        row.try_get::<Option<i64>, _>("epoch_base")?,
    ) {
        (Some(id), Some(generation), Some(base)) => Some(EpochMark {
            id,
            generation: generation.unsigned_abs(),
            base: base.unsigned_abs(),
        }),
        _ => None,
    };
    let left = match &current {
        Some(current) if current.id != incoming.id => {
            sqlx::query_scalar::<_, i64>(
                "SELECT COUNT(*) FROM epochs WHERE depot = $1 AND epoch = $2",
            )
            .bind(depot)
            .bind(&incoming.id)
            .fetch_one(&mut **tx)
            .await?
                > 0
        }
        _ => false,
    };
    let standing = epoch::standing(current.as_ref(), left, incoming);
    match standing {
        Standing::Current => return Ok((Standing::Current, incoming.base)),
        Standing::Superseded => {
            return Ok((Standing::Superseded, current.map_or(0, |c| c.base)));
        }
        Standing::Newer => restore(tx, depot, current.as_ref(), incoming, now).await?,
        Standing::First => {}
    }
    sqlx::query(
        "UPDATE depots SET epoch = $2, epoch_generation = $3, epoch_base = $4 WHERE depot = $1",
    )
    .bind(depot)
    .bind(&incoming.id)
    .bind(big(incoming.generation))
    .bind(big(incoming.base))
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "INSERT INTO epochs (depot, epoch, generation, base_seq, first_seen_ns) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (depot, epoch) DO NOTHING",
    )
    .bind(depot)
    .bind(&incoming.id)
    .bind(big(incoming.generation))
    .bind(big(incoming.base))
    .bind(ns(now))
    .execute(&mut **tx)
    .await?;
    Ok((Standing::Current, incoming.base))
}

/// A depot restored into the `incoming` epoch: the movements held above its
/// base are lost (moved out of the current picture, kept, counted off), the
/// stock snapshots taken after the base are dropped (they count lost
/// movements; the restored depot publishes every article again), and the
/// cursor goes back to the base.
async fn restore(
    tx: &mut Tx,
    depot: &str,
    left: Option<&EpochMark>,
    incoming: &EpochMark,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let base = big(incoming.base);
    let held: Vec<i64> =
        sqlx::query_scalar("SELECT seq FROM movements WHERE depot = $1 AND seq > $2")
            .bind(depot)
            .bind(base)
            .fetch_all(&mut **tx)
            .await?;
    let lost = epoch::lost_range(incoming.base, held.iter().map(|s| s.unsigned_abs()));
    sqlx::query(
        "INSERT INTO lost_movements (depot, epoch, seq, restricted, kind, sku, quantity, time_ns, hash, lost_ns) \
         SELECT depot, COALESCE(epoch, $3), seq, restricted, kind, sku, quantity, time_ns, hash, $4 \
         FROM movements WHERE depot = $1 AND seq > $2 ON CONFLICT (depot, epoch, seq) DO NOTHING",
    )
    .bind(depot)
    .bind(base)
    .bind(left.map_or("", |l| l.id.as_str()))
    .bind(ns(now))
    .execute(&mut **tx)
    .await?;
    for sql in [
        "DELETE FROM movements WHERE depot = $1 AND seq > $2",
        "DELETE FROM stock WHERE depot = $1 AND seq > $2",
    ] {
        sqlx::query(sql)
            .bind(depot)
            .bind(base)
            .execute(&mut **tx)
            .await?;
    }
    let count = i64::try_from(held.len()).unwrap_or(i64::MAX);
    sqlx::query(
        "UPDATE depots SET \
         contiguous_seq = CASE WHEN contiguous_seq > $2 THEN $2 ELSE contiguous_seq END, \
         reported_seq = CASE WHEN reported_seq > $2 THEN $2 ELSE reported_seq END, \
         movements_applied = movements_applied - $3, lost_count = $3, \
         lost_from = $4, lost_to = $5, restore_seen_ns = $6, restored_ns = NULL WHERE depot = $1",
    )
    .bind(depot)
    .bind(base)
    .bind(count)
    .bind(lost.as_ref().map(|r| big(*r.start())))
    .bind(lost.as_ref().map(|r| big(*r.end())))
    .bind(ns(now))
    .execute(&mut **tx)
    .await?;
    tracing::warn!(depot, epoch = %incoming.id, generation = incoming.generation,
        base = incoming.base, lost = ?lost, "depot restored from a backup: a new epoch of its history");
    Ok(())
}

/// What the hub holds in the current history at `seq`.
async fn held_hash(
    tx: &mut Tx,
    depot: &str,
    seq: u64,
) -> Result<Option<Option<String>>, StoreError> {
    let row = sqlx::query("SELECT hash FROM movements WHERE depot = $1 AND seq = $2")
        .bind(depot)
        .bind(big(seq))
        .fetch_optional(&mut **tx)
        .await?;
    Ok(row
        .map(|row| row.try_get::<Option<String>, _>("hash"))
        .transpose()?)
}

fn held(row: &Option<Option<String>>) -> Held<'_> {
    match row {
        None => Held::Nothing,
        Some(None) => Held::Unhashed,
        Some(Some(hash)) => Held::Hash(hash),
    }
}

/// Flags the depot's history as rewritten at `seq` (the lowest such seq stays).
async fn diverged(
    tx: &mut Tx,
    depot: &str,
    seq: u64,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE depots SET diverged_seq = CASE WHEN diverged_seq IS NULL OR diverged_seq > $2 THEN $2 ELSE diverged_seq END, \
         diverged_ns = CASE WHEN diverged_ns IS NULL THEN $3 ELSE diverged_ns END WHERE depot = $1",
    )
    .bind(depot)
    .bind(big(seq))
    .bind(ns(now))
    .execute(&mut **tx)
    .await?;
    tracing::error!(
        depot,
        seq,
        "the depot's chain hash contradicts what the hub holds: its history was rewritten"
    );
    Ok(())
}

/// A status of the current epoch: its chain head and restore checked
/// against what the hub holds, the restore time kept, the link updated.
async fn apply_status(
    tx: &mut Tx,
    depot: &str,
    status: &feed_contract::Status,
    now: OffsetDateTime,
) -> Result<Outcome, StoreError> {
    let mut outcome = Outcome::Unchanged;
    let mut heads = vec![(status.seq, status.hash.as_str().to_owned())];
    if let Some(restored) = &status.restored {
        if let Some(hash) = &restored.head_hash {
            heads.push((restored.head_seq, hash.as_str().to_owned()));
        }
        let changed = sqlx::query(
            "UPDATE depots SET restored_ns = $2 WHERE depot = $1 AND (restored_ns IS NULL OR restored_ns <> $2)",
        )
        .bind(depot)
        .bind(ns(restored.at))
        .execute(&mut **tx)
        .await?;
        if changed.rows_affected() > 0 {
            outcome = Outcome::Applied;
        }
    }
    for (seq, hash) in heads.into_iter().filter(|(seq, _)| *seq > 0) {
        let row = held_hash(tx, depot, seq).await?;
        if epoch::head_diverges(held(&row), &hash) {
            diverged(tx, depot, seq, now).await?;
            outcome = Outcome::Applied;
        }
    }
    let row = sqlx::query("SELECT link_state, link_since_ns FROM depots WHERE depot = $1")
        .bind(depot)
        .fetch_one(&mut **tx)
        .await?;
    let current = match (
        row.try_get::<Option<String>, _>("link_state")?
            .as_deref()
            .and_then(link_of),
        row.try_get::<Option<i64>, _>("link_since_ns")?,
    ) {
        (Some(state), Some(since)) => Some(Link {
            state,
            since: from_ns(since),
        }),
        _ => None,
    };
    let next = Link::after(current, status.state, now);
    if Some(next) != current {
        sqlx::query("UPDATE depots SET link_state = $2, link_since_ns = $3 WHERE depot = $1")
            .bind(depot)
            .bind(link_name(next.state))
            .bind(ns(next.since))
            .execute(&mut **tx)
            .await?;
        outcome = Outcome::Applied;
    }
    Ok(outcome)
}

async fn apply_movement(
    tx: &mut Tx,
    depot: &str,
    audience: Audience,
    movement: &MovementMessage,
    (standing, base): (Standing, u64),
    now: OffsetDateTime,
) -> Result<Outcome, StoreError> {
    let held_row = held_hash(tx, depot, movement.seq).await?;
    match epoch::movement_fate(
        standing,
        base,
        movement.seq,
        held(&held_row),
        movement.hash.as_str(),
    ) {
        Fate::Apply => {}
        Fate::Duplicate => {
            sqlx::query("UPDATE depots SET duplicates = duplicates + 1 WHERE depot = $1")
                .bind(depot)
                .execute(&mut **tx)
                .await?;
            return Ok(Outcome::Unchanged);
        }
        Fate::Diverged => {
            diverged(tx, depot, movement.seq, now).await?;
            return Ok(Outcome::Applied);
        }
        Fate::Lost => return record_lost(tx, depot, audience, movement, now).await,
    }
    let contiguous: i64 = sqlx::query_scalar("SELECT contiguous_seq FROM depots WHERE depot = $1")
        .bind(depot)
        .fetch_one(&mut **tx)
        .await?;
    let above: Vec<i64> =
        sqlx::query_scalar("SELECT seq FROM movements WHERE depot = $1 AND seq > $2")
            .bind(depot)
            .bind(contiguous)
            .fetch_all(&mut **tx)
            .await?;
    let mut cursor = SeqCursor::new(
        contiguous.unsigned_abs(),
        above.iter().map(|s| s.unsigned_abs()),
    );
    let decided = cursor.apply(movement.seq);
    // The primary key is the last word: a row already there is a duplicate
    // whatever the cursor thought.
    let inserted = decided == Applied::New
        && sqlx::query(
            "INSERT INTO movements (depot, seq, restricted, kind, sku, quantity, time_ns, applied_ns, epoch, hash) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (depot, seq) DO NOTHING",
        )
        .bind(depot)
        .bind(big(movement.seq))
        .bind(audience == Audience::Restricted)
        .bind(as_json(&movement.kind).trim_matches('"').to_owned())
        .bind(&movement.sku)
        .bind(big(movement.quantity))
        .bind(ns(movement.time))
        .bind(ns(now))
        .bind(movement.epoch.id.as_str())
        .bind(movement.hash.as_str())
        .execute(&mut **tx)
        .await?
        .rows_affected()
            == 1;
    if inserted {
        sqlx::query(
            "UPDATE depots SET contiguous_seq = $2, movements_applied = movements_applied + 1 WHERE depot = $1",
        )
        .bind(depot)
        .bind(big(cursor.contiguous()))
        .execute(&mut **tx)
        .await?;
        Ok(Outcome::Applied)
    } else {
        sqlx::query("UPDATE depots SET duplicates = duplicates + 1 WHERE depot = $1")
            .bind(depot)
            .execute(&mut **tx)
            .await?;
        Ok(Outcome::Unchanged)
    }
}

/// A late movement of a left epoch above the current base: kept with the
/// lost ones, the lost range widened to cover it.
async fn record_lost(
    tx: &mut Tx,
    depot: &str,
    audience: Audience,
    movement: &MovementMessage,
    now: OffsetDateTime,
) -> Result<Outcome, StoreError> {
    let inserted = sqlx::query(
        "INSERT INTO lost_movements (depot, epoch, seq, restricted, kind, sku, quantity, time_ns, hash, lost_ns) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (depot, epoch, seq) DO NOTHING",
    )
    .bind(depot)
    .bind(movement.epoch.id.as_str())
    .bind(big(movement.seq))
    .bind(audience == Audience::Restricted)
    .bind(as_json(&movement.kind).trim_matches('"').to_owned())
    .bind(&movement.sku)
    .bind(big(movement.quantity))
    .bind(ns(movement.time))
    .bind(movement.hash.as_str())
    .bind(ns(now))
    .execute(&mut **tx)
    .await?
    .rows_affected()
        == 1;
    if !inserted {
        return Ok(Outcome::Unchanged);
    }
    let row = sqlx::query("SELECT lost_from, lost_to FROM depots WHERE depot = $1")
        .bind(depot)
        .fetch_one(&mut **tx)
        .await?;
    let range = match (
        row.try_get::<Option<i64>, _>("lost_from")?,
        row.try_get::<Option<i64>, _>("lost_to")?,
    ) {
        (Some(from), Some(to)) => Some(from.unsigned_abs()..=to.unsigned_abs()),
        _ => None,
    };
    let range = epoch::widen(range, movement.seq);
    sqlx::query(
        "UPDATE depots SET lost_from = $2, lost_to = $3, lost_count = lost_count + 1 WHERE depot = $1",
    )
    .bind(depot)
    .bind(big(*range.start()))
    .bind(big(*range.end()))
    .execute(&mut **tx)
    .await?;
    Ok(Outcome::Applied)
}

/// A held snapshot's version and epoch (`None`: from before version 2).
fn held_version(row: &AnyRow) -> Result<(SnapshotVersion, Option<String>), sqlx::Error> {
    Ok((
        SnapshotVersion {
            seq: row.try_get::<i64, _>("seq")?.unsigned_abs(),
            time_ns: i128::from(row.try_get::<i64, _>("time_ns")?),
        },
        row.try_get("epoch")?,
    ))
}

/// Whether a snapshot of `epoch` at (`seq`, `time`) replaces the held one.
fn snapshot_wins(
    epoch: &feed_contract::Epoch,
    seq: u64,
    time: OffsetDateTime,
    standing: Standing,
    held: Option<(SnapshotVersion, Option<String>)>,
) -> bool {
    let version = SnapshotVersion::new(seq, time);
    let held_same_epoch = held
        .as_ref()
        .map(|(_, held)| held.as_deref() == Some(epoch.id.as_str()));
    let newer = version.supersedes(held.map(|(held, _)| held));
    epoch::snapshot_wins(standing, held_same_epoch, newer)
}

async fn apply_stock(
    tx: &mut Tx,
    depot: &str,
    audience: Audience,
    snapshot: &StockSnapshot,
    standing: Standing,
) -> Result<Outcome, StoreError> {
    let current =
        sqlx::query("SELECT seq, time_ns, epoch FROM stock WHERE depot = $1 AND sku = $2")
            .bind(depot)
            .bind(&snapshot.article.sku)
            .fetch_optional(&mut **tx)
            .await?
            .map(|row| held_version(&row))
            .transpose()?;
    if !snapshot_wins(
        &snapshot.epoch,
        snapshot.seq,
        snapshot.time,
        standing,
        current,
    ) {
        return Ok(Outcome::Unchanged);
    }
    let article = &snapshot.article;
    sqlx::query(
        "INSERT INTO stock (depot, sku, restricted, seq, time_ns, name, unit, gtin, nsn, supply_class, total, zones, epoch) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
         ON CONFLICT (depot, sku) DO UPDATE SET restricted = excluded.restricted, seq = excluded.seq, epoch = excluded.epoch, \
         time_ns = excluded.time_ns, name = excluded.name, unit = excluded.unit, gtin = excluded.gtin, \
         nsn = excluded.nsn, supply_class = excluded.supply_class, total = excluded.total, zones = excluded.zones",
    )
    .bind(depot)
    .bind(&article.sku)
    .bind(audience == Audience::Restricted)
    .bind(big(snapshot.seq))
    .bind(ns(snapshot.time))
    .bind(&article.name)
    .bind(as_json(&article.unit).trim_matches('"').to_owned())
    .bind(&article.gtin)
    .bind(&article.nsn)
    .bind(&article.supply_class)
    .bind(big(snapshot.total))
    .bind(as_json(&snapshot.zones))
    .bind(snapshot.epoch.id.as_str())
    .execute(&mut **tx)
    .await?;
    Ok(Outcome::Applied)
}

async fn apply_utilization(
    tx: &mut Tx,
    depot: &str,
    snapshot: &UtilizationSnapshot,
    standing: Standing,
) -> Result<Outcome, StoreError> {
    let current = sqlx::query("SELECT seq, time_ns, epoch FROM utilization WHERE depot = $1")
        .bind(depot)
        .fetch_optional(&mut **tx)
        .await?
        .map(|row| held_version(&row))
        .transpose()?;
    if !snapshot_wins(
        &snapshot.epoch,
        snapshot.seq,
        snapshot.time,
        standing,
        current,
    ) {
        return Ok(Outcome::Unchanged);
    }
    let t = &snapshot.total;
    let opt = |v: Option<u64>| v.map(big);
    sqlx::query(
        "INSERT INTO utilization (depot, seq, time_ns, volume_used_ml, volume_capacity_ml, volume_free_ml, \
         weight_used_g, weight_capacity_g, weight_free_g, pallets_used, pallets_capacity, pallets_free, zones, epoch) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
         ON CONFLICT (depot) DO UPDATE SET seq = excluded.seq, time_ns = excluded.time_ns, epoch = excluded.epoch, \
         volume_used_ml = excluded.volume_used_ml, volume_capacity_ml = excluded.volume_capacity_ml, \
         volume_free_ml = excluded.volume_free_ml, weight_used_g = excluded.weight_used_g, \
         weight_capacity_g = excluded.weight_capacity_g, weight_free_g = excluded.weight_free_g, \
         pallets_used = excluded.pallets_used, pallets_capacity = excluded.pallets_capacity, \
         pallets_free = excluded.pallets_free, zones = excluded.zones",
    )
    .bind(depot)
    .bind(big(snapshot.seq))
    .bind(ns(snapshot.time))
    .bind(big(t.volume_ml.used))
    .bind(opt(t.volume_ml.capacity))
    .bind(opt(t.volume_ml.free))
    .bind(big(t.weight_g.used))
    .bind(opt(t.weight_g.capacity))
    .bind(opt(t.weight_g.free))
    .bind(big(t.pallets.used))
    .bind(opt(t.pallets.capacity))
    .bind(opt(t.pallets.free))
    .bind(as_json(&snapshot.zones))
    .bind(snapshot.epoch.id.as_str())
    .execute(&mut **tx)
    .await?;
    Ok(Outcome::Applied)
}
