//! The `Depot` façade: one method per use case, one transaction per method.
//!
//! Reads go through a small pool of read connections (WAL lets them run
//! beside the writer). Bookings go through one writer task that owns the only
//! write connection and commits them in groups: it takes every booking that is
//! waiting, runs each inside its own savepoint (a refused booking rolls back
//! only itself), commits once, and only then answers each caller. So every
//! answer is durable (`synchronous=FULL`) and many bookings share one fsync.
//!
//! Each booking also writes its idempotency record in the same transaction,
//! so a retry after a crash or restart finds the first answer. The outbox row
//! for replication to the hubs will be written at the same place.

use std::path::Path;
use std::sync::Arc;

use sqlx::{SqliteConnection, SqlitePool};
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::domain::access::{Action, Caller, Role};
use crate::domain::article::{Article, Sku};
use crate::domain::booking::{
    self, BookingError, BookingFacts, BookingRequest, MovementKind, Source, SourceFacts,
    TargetFacts,
};
use crate::domain::ledger::Movement;
use crate::domain::location::{Location, LocationCode};
use crate::domain::quantity::{Lot, Quantity};
use crate::domain::utilization::Utilization;
use crate::metrics::Metrics;
use crate::store::idempotency::StoredAnswer;
use crate::store::ledger::{StockFilter, StockLine};
use crate::store::{self, StoreOptions};
use crate::tokens;

/// How many waiting bookings one group commit takes at most.
const MAX_BATCH: usize = 256;

/// Why a use case did not run; adapters map each to their own error form.
#[derive(Debug, thiserror::Error)]
pub enum DepotError {
    /// Nothing visible to the caller has this key.
    #[error("{what} '{key}' not found")]
    NotFound { what: &'static str, key: String },
    /// The caller's role does not allow the action.
    #[error("role {role} may not do this")]
    Forbidden { role: Role },
    /// Writing articles needs restricted clearance (one namespace for all articles).
    #[error("writing articles needs clearance for restricted articles")]
    NeedsClearance,
    /// The request conflicts with what the depot holds (e.g. a GTIN in use).
    #[error("{0}")]
    Conflict(String),
    /// The same Idempotency-Key came with another request body.
    #[error("Idempotency-Key '{0}' was already used for a different request")]
    IdempotencyKeyReused(String),
    /// The storage cannot take this now (disk full, locked, I/O): retry later.
    #[error("storage unavailable: {0}")]
    Unavailable(sqlx::Error),
    /// Any other storage failure: a bug or a damaged database.
    #[error("storage failure: {0}")]
    Storage(sqlx::Error),
    /// The booking writer has stopped (shutdown).
    #[error("the depot is shutting down")]
    ShuttingDown,
}

impl From<sqlx::Error> for DepotError {
    fn from(error: sqlx::Error) -> Self {
        if store::is_unavailable(&error) {
            DepotError::Unavailable(error)
        } else {
            DepotError::Storage(error)
        }
    }
}

/// An EPC as the adapters hand it in: its pure-identity URI, and the GTIN-14 it
/// names if it is an SGTIN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpcRef {
    pub id: String,
    pub gtin14: Option<String>,
}

/// What one booking asks for: an amount of one article, or a set of items.
#[derive(Debug, Clone)]
pub enum BookingInput {
    /// `{"sku", "quantity"}`.
    Count(BookingRequest),
    /// `{"epcs": […]}`: each item is one base unit of its article.
    Items {
        kind: MovementKind,
        epcs: Vec<EpcRef>,
        from: Option<LocationCode>,
        to: Option<LocationCode>,
        lot: Lot,
        reason: Option<String>,
    },
}

/// Why a booking was refused, with what a user needs to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A domain rule refused it.
    Rule(BookingError),
    /// No visible article has this SKU.
    UnknownArticle { sku: String },
    /// No location has this code.
    UnknownLocation { field: &'static str, code: String },
    /// The EPC is neither a known item nor an SGTIN of a known article.
    UnknownEpc { epc: String },
    /// The same EPC appears twice in one booking.
    DuplicateEpc { epc: String },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Rule(e) => e.fmt(f),
            Refusal::UnknownArticle { sku } => write!(f, "no article '{sku}'"),
            Refusal::UnknownLocation { field, code } => write!(f, "{field}: no location '{code}'"),
            Refusal::DuplicateEpc { epc } => write!(f, "EPC {epc} appears more than once"),
            Refusal::UnknownEpc { epc } => {
                write!(
                    f,
                    "EPC {epc} is neither a known item nor an SGTIN of a known article"
                )
            }
        }
    }
}

/// The result of a booking before rendering.
pub type BookingOutcome = Result<Vec<Movement>, Refusal>;

/// Turns an outcome into the (status, body) that is answered and stored for replays.
pub type Render = fn(&BookingOutcome) -> (u16, String);

/// One booking handed to the writer.
#[derive(Debug)]
pub struct Submission {
    pub caller: Caller,
    pub source: Source,
    /// `(Idempotency-Key, SHA-256 of the canonical request)`.
    pub idempotency: Option<(String, String)>,
    pub input: BookingInput,
    pub render: Render,
}

/// The answer to a submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub body: String,
    /// True when this is the stored first answer to an earlier request with the same key.
    pub replayed: bool,
}

struct Job {
    submission: Submission,
    reply: oneshot::Sender<Result<Answer, DepotError>>,
}

/// The depot's use cases. Cheap to clone.
#[derive(Clone)]
pub struct Depot {
    pool: SqlitePool,
    writer: mpsc::Sender<Job>,
    metrics: Arc<Metrics>,
}

/// The running booking writer; await it after the last `Depot` clone is dropped
/// to be sure every accepted booking has been answered.
pub struct Writer(JoinHandle<()>);

impl Writer {
    /// Waits until the writer has answered everything and stopped.
    pub async fn finished(self) {
        if let Err(error) = self.0.await {
            tracing::error!(%error, "booking writer task failed");
        }
    }
}

impl Depot {
    /// Opens the database at `path` (migrating it) and starts the booking writer.
    pub async fn open(
        path: &Path,
        options: &StoreOptions,
        metrics: Arc<Metrics>,
    ) -> Result<(Depot, Writer), sqlx::Error> {
        let pool = store::open_pool(path, options).await?;
        let mut conn = store::open_writer(path, options).await?;
        // From here on only the writer appends, and it keeps the gauge current.
        metrics
            .ledger_last_seq
            .set(store::ledger::last_seq(&mut conn).await?);
        let (tx, rx) = mpsc::channel(4 * MAX_BATCH);
        let handle = tokio::spawn(run_writer(conn, rx, metrics.clone()));
        Ok((
            Depot {
                pool,
                writer: tx,
                metrics,
            },
            Writer(handle),
        ))
    }

    /// The read pool, for adapters that only read (health, metrics).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// The process's counters.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The active user holding `token`, if any.
    pub async fn authenticate(&self, token: &str) -> Result<Option<Caller>, DepotError> {
        let hash = tokens::hash(token);
        let mut conn = self.pool.acquire().await?;
        Ok(store::users::by_token_hash(&mut conn, &hash)
            .await?
            .filter(|(_, stored)| tokens::hashes_match(stored, &hash))
            .map(|(caller, _)| caller))
    }

    /// Books one movement (or one set of items) through the group-commit writer.
    pub async fn book(&self, submission: Submission) -> Result<Answer, DepotError> {
        require(&submission.caller, Action::Book)?;
        let (reply, answer) = oneshot::channel();
        self.writer
            .send(Job { submission, reply })
            .await
            .map_err(|_| DepotError::ShuttingDown)?;
        answer.await.map_err(|_| DepotError::ShuttingDown)?
    }

    /// One article the caller may see.
    pub async fn article(&self, caller: &Caller, sku: &str) -> Result<Article, DepotError> {
        require(caller, Action::ReadStock)?;
        let mut conn = self.pool.acquire().await?;
        store::articles::get(&mut conn, sku)
            .await?
            .filter(|a| caller.sees(a.classification))
            .ok_or_else(|| not_found("article", sku))
    }

    /// A page of the articles the caller may see, in SKU order after `after`.
    pub async fn articles(
        &self,
        caller: &Caller,
        after: &str,
        limit: i64,
    ) -> Result<Vec<Article>, DepotError> {
        require(caller, Action::ReadStock)?;
        let mut conn = self.pool.acquire().await?;
        Ok(store::articles::list(&mut conn, after, limit, caller.restricted).await?)
    }

    /// Creates or replaces an article; returns whether it was new.
    ///
    /// SKUs and GTINs are one namespace across open and restricted articles,
    /// so writing articles needs restricted clearance: an uncleared manager
    /// could otherwise learn from the answer that a restricted SKU exists.
    pub async fn put_article(
        &self,
        caller: &Caller,
        article: &Article,
    ) -> Result<bool, DepotError> {
        require(caller, Action::KeepMasterData)?;
        if !caller.restricted {
            return Err(DepotError::NeedsClearance);
        }
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        if let Some(gtin) = &article.gtin {
            if let Some(owner) = store::articles::by_gtin14(&mut tx, &gtin.to_gtin14()).await? {
                if owner.sku != article.sku {
                    return Err(DepotError::Conflict(format!(
                        "GTIN {} belongs to article '{}'",
                        gtin.as_str(),
                        owner.sku
                    )));
                }
            }
        }
        let created = store::articles::upsert(&mut tx, article, OffsetDateTime::now_utc()).await?;
        tx.commit().await?;
        Ok(created)
    }

    /// One location.
    pub async fn location(&self, caller: &Caller, code: &str) -> Result<Location, DepotError> {
        require(caller, Action::ReadStock)?;
        let mut conn = self.pool.acquire().await?;
        store::locations::get(&mut conn, code)
            .await?
            .ok_or_else(|| not_found("location", code))
    }

    /// A page of locations in code order after `after`, optionally of one zone.
    pub async fn locations(
        &self,
        caller: &Caller,
        after: &str,
        limit: i64,
        zone: Option<&str>,
    ) -> Result<Vec<Location>, DepotError> {
        require(caller, Action::ReadStock)?;
        let mut conn = self.pool.acquire().await?;
        Ok(store::locations::list(&mut conn, after, limit, zone).await?)
    }

    /// Creates or replaces a location; returns whether it was new.
    pub async fn put_location(
        &self,
        caller: &Caller,
        location: &Location,
    ) -> Result<bool, DepotError> {
        require(caller, Action::KeepMasterData)?;
        let mut conn = self.pool.acquire().await?;
        Ok(store::locations::upsert(&mut conn, location, OffsetDateTime::now_utc()).await?)
    }

    /// Stock levels the caller may see, filtered.
    pub async fn stock(
        &self,
        caller: &Caller,
        mut filter: StockFilter,
        limit: i64,
    ) -> Result<Vec<StockLine>, DepotError> {
        require(caller, Action::ReadStock)?;
        filter.restricted = caller.restricted;
        let mut conn = self.pool.acquire().await?;
        Ok(store::ledger::stock(&mut conn, &filter, limit).await?)
    }

    /// Ledger movements after `after_seq`, in seq order.
    pub async fn movements(
        &self,
        caller: &Caller,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<Movement>, DepotError> {
        require(caller, Action::ReadLedger)?;
        let mut conn = self.pool.acquire().await?;
        Ok(store::ledger::movements_after(&mut conn, after_seq, limit, caller.restricted).await?)
    }

    /// Utilisation per location.
    pub async fn utilization(
        &self,
        caller: &Caller,
    ) -> Result<Vec<(Location, Utilization)>, DepotError> {
        require(caller, Action::ReadStock)?;
        let mut conn = self.pool.acquire().await?;
        let rows = store::ledger::usage_by_location(&mut conn).await?;
        Ok(rows
            .into_iter()
            .map(|(location, used)| {
                let fill = Utilization::of(location.capacity, used);
                (location, fill)
            })
            .collect())
    }

    /// One serialised item, with its article, if the caller may see it.
    pub async fn item(
        &self,
        caller: &Caller,
        epc_id: &str,
    ) -> Result<store::ledger::ItemRow, DepotError> {
        require(caller, Action::ReadLedger)?;
        let mut conn = self.pool.acquire().await?;
        let item = store::ledger::item(&mut conn, epc_id)
            .await?
            .ok_or_else(|| not_found("item", epc_id))?;
        let visible = store::articles::get(&mut conn, item.sku.as_str())
            .await?
            .is_some_and(|a| caller.sees(a.classification));
        if visible {
            Ok(item)
        } else {
            Err(not_found("item", epc_id))
        }
    }

    /// The newest ledger seq; also proves the database answers.
    pub async fn last_seq(&self) -> Result<i64, DepotError> {
        let mut conn = self.pool.acquire().await?;
        Ok(store::ledger::last_seq(&mut conn).await?)
    }
}

fn require(caller: &Caller, action: Action) -> Result<(), DepotError> {
    if caller.role.may(action) {
        Ok(())
    } else {
        Err(DepotError::Forbidden { role: caller.role })
    }
}

fn not_found(what: &'static str, key: &str) -> DepotError {
    DepotError::NotFound {
        what,
        key: key.to_owned(),
    }
}

/// The writer loop: take what waits, book it in one transaction, commit, answer.
async fn run_writer(
    mut conn: SqliteConnection,
    mut jobs: mpsc::Receiver<Job>,
    metrics: Arc<Metrics>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while jobs.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let answers = commit_batch(&mut conn, &batch, &metrics).await;
        metrics.booking_batches.inc();
        // Bookings per commit; at most MAX_BATCH, exact in f64.
        metrics.booking_batch_size.observe(batch.len() as f64);
        match answers {
            Ok(answers) => {
                match store::ledger::last_seq(&mut conn).await {
                    Ok(seq) => {
                        metrics.ledger_last_seq.set(seq);
                    }
                    Err(error) => tracing::warn!(%error, "cannot read the ledger's last seq"),
                }
                for (job, answer) in batch.drain(..).zip(answers) {
                    // A caller that went away (client hung up) still has its booking made.
                    let _ = job.reply.send(answer);
                }
            }
            Err(error) => {
                metrics.storage_errors.inc();
                tracing::error!(%error, bookings = batch.len(), "group commit failed; nothing of it was written");
                let unavailable = store::is_unavailable(&error);
                for job in batch.drain(..) {
                    let error = if unavailable {
                        DepotError::Unavailable(sqlx::Error::Protocol(error.to_string()))
                    } else {
                        DepotError::Storage(sqlx::Error::Protocol(error.to_string()))
                    };
                    let _ = job.reply.send(Err(error));
                }
            }
        }
    }
    tracing::debug!("booking writer stopped");
}

/// One group commit. A storage error aborts the whole transaction: then no
/// booking of the batch was written and every caller is told so.
async fn commit_batch(
    conn: &mut SqliteConnection,
    batch: &[Job],
    metrics: &Metrics,
) -> Result<Vec<Result<Answer, DepotError>>, sqlx::Error> {
    let now = OffsetDateTime::now_utc();
    sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
    let mut answers = Vec::with_capacity(batch.len());
    for job in batch {
        match book_one(conn, &job.submission, now, metrics).await {
            Ok(answer) => answers.push(answer),
            Err(error) => {
                let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
                return Err(error);
            }
        }
    }
    if let Err(error) = sqlx::query("COMMIT").execute(&mut *conn).await {
        let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
        return Err(error);
    }
    Ok(answers)
}

/// One booking inside the group transaction, in its own savepoint.
async fn book_one(
    conn: &mut SqliteConnection,
    submission: &Submission,
    now: OffsetDateTime,
    metrics: &Metrics,
) -> Result<Result<Answer, DepotError>, sqlx::Error> {
    let actor = submission.caller.name.as_str();
    if let Some((key, hash)) = &submission.idempotency {
        if let Some(stored) = store::idempotency::get(conn, actor, key).await? {
            if &stored.request_hash != hash {
                return Ok(Err(DepotError::IdempotencyKeyReused(key.clone())));
            }
            metrics.bookings_replayed.inc();
            return Ok(Ok(Answer {
                status: stored.status,
                body: stored.body,
                replayed: true,
            }));
        }
    }
    sqlx::query("SAVEPOINT booking").execute(&mut *conn).await?;
    let outcome = apply(conn, submission, now).await?;
    if outcome.is_ok() {
        metrics.bookings_committed.inc();
        sqlx::query("RELEASE booking").execute(&mut *conn).await?;
    } else {
        metrics.bookings_refused.inc();
        sqlx::query("ROLLBACK TO booking")
            .execute(&mut *conn)
            .await?;
        sqlx::query("RELEASE booking").execute(&mut *conn).await?;
    }
    let (status, body) = (submission.render)(&outcome);
    if let Some((key, hash)) = &submission.idempotency {
        let stored = StoredAnswer {
            request_hash: hash.clone(),
            status,
            body: body.clone(),
        };
        store::idempotency::put(conn, actor, key, &stored, now).await?;
    }
    Ok(Ok(Answer {
        status,
        body,
        replayed: false,
    }))
}

/// Loads the facts, lets the domain decide, and appends the movements.
async fn apply(
    conn: &mut SqliteConnection,
    submission: &Submission,
    now: OffsetDateTime,
) -> Result<BookingOutcome, sqlx::Error> {
    let requests = match &submission.input {
        BookingInput::Count(request) => vec![request.clone()],
        BookingInput::Items {
            kind,
            epcs,
            from,
            to,
            lot,
            reason,
        } => {
            let sides = (from.as_ref(), to.as_ref());
            match group_items(conn, &submission.caller, *kind, epcs, sides, lot, reason).await? {
                Ok(requests) => requests,
                Err(refusal) => return Ok(Err(refusal)),
            }
        }
    };
    let mut movements = Vec::with_capacity(requests.len());
    for request in requests {
        match decide_and_append(conn, submission, &request, now).await? {
            Ok(movement) => movements.push(movement),
            Err(refusal) => return Ok(Err(refusal)),
        }
    }
    Ok(Ok(movements))
}

async fn decide_and_append(
    conn: &mut SqliteConnection,
    submission: &Submission,
    request: &BookingRequest,
    now: OffsetDateTime,
) -> Result<PartOutcome, sqlx::Error> {
    if let Err(rule) = booking::check_shape(request) {
        return Ok(Err(Refusal::Rule(rule)));
    }
    let caller = &submission.caller;
    let Some(article) = store::articles::get(conn, request.sku.as_str())
        .await?
        .filter(|a| caller.sees(a.classification))
    else {
        return Ok(Err(Refusal::UnknownArticle {
            sku: request.sku.to_string(),
        }));
    };
    let from = match &request.from {
        Some(code) => match store::locations::get(conn, code.as_str()).await? {
            Some(location) => Some(location),
            None => {
                return Ok(Err(Refusal::UnknownLocation {
                    field: "from",
                    code: code.to_string(),
                }))
            }
        },
        None => None,
    };
    let to = match &request.to {
        Some(code) => match store::locations::get(conn, code.as_str()).await? {
            Some(location) => Some(location),
            None => {
                return Ok(Err(Refusal::UnknownLocation {
                    field: "to",
                    code: code.to_string(),
                }))
            }
        },
        None => None,
    };
    let (sku, lot) = (request.sku.as_str(), request.lot.as_str());
    let source = match &from {
        Some(location) => Some(SourceFacts {
            location,
            available: store::ledger::level(conn, sku, location.code.as_str(), lot).await?,
            serialised: store::ledger::stored_items(conn, sku, location.code.as_str(), lot).await?,
        }),
        None => None,
    };
    let target = match &to {
        Some(location) => Some(TargetFacts {
            location,
            level: store::ledger::level(conn, sku, location.code.as_str(), lot).await?,
            used: store::ledger::usage_at(conn, location.code.as_str()).await?,
        }),
        None => None,
    };
    let facts = BookingFacts {
        article: &article,
        from: source,
        to: target,
    };
    if let Err(rule) = booking::decide(request, &facts) {
        return Ok(Err(Refusal::Rule(rule)));
    }
    let movement = Movement {
        seq: store::ledger::next_seq(conn).await?,
        kind: request.kind,
        sku: request.sku.clone(),
        quantity: request.quantity.get(),
        from: request.from.clone(),
        to: request.to.clone(),
        lot: request.lot.clone(),
        epcs: request.epcs.clone(),
        actor: caller.name.clone(),
        source: submission.source,
        idempotency_key: submission.idempotency.as_ref().map(|(key, _)| key.clone()),
        reason: request.reason.clone(),
        recorded_at: now,
    };
    store::ledger::append(conn, &movement).await?;
    Ok(Ok(movement))
}

/// The outcome of one article's part of a booking.
type PartOutcome = Result<Movement, Refusal>;

/// Resolves each EPC to its article (a known item, or SGTIN → GTIN → article),
/// checks the item's state, and groups the items into one request per
/// (article, lot, source location), in the order first seen.
async fn group_items(
    conn: &mut SqliteConnection,
    caller: &Caller,
    kind: MovementKind,
    epcs: &[EpcRef],
    sides: (Option<&LocationCode>, Option<&LocationCode>),
    lot: &Lot,
    reason: &Option<String>,
) -> Result<Result<Vec<BookingRequest>, Refusal>, sqlx::Error> {
    let (from, to) = sides;
    let arrives = booking::item_arrives(kind, from);
    let mut groups: Vec<(Sku, Lot, Option<LocationCode>, Vec<String>)> = Vec::new();
    let mut seen = std::collections::HashSet::with_capacity(epcs.len());
    for epc in epcs {
        if !seen.insert(epc.id.as_str()) {
            return Ok(Err(Refusal::DuplicateEpc {
                epc: epc.id.clone(),
            }));
        }
        let item = store::ledger::item(conn, &epc.id).await?;
        let article = match (&item, &epc.gtin14) {
            (Some(row), _) => store::articles::get(conn, row.sku.as_str()).await?,
            (None, Some(gtin14)) if arrives => store::articles::by_gtin14(conn, gtin14).await?,
            (None, _) => None,
        };
        let Some(article) = article.filter(|a| caller.sees(a.classification)) else {
            return Ok(Err(Refusal::UnknownEpc {
                epc: epc.id.clone(),
            }));
        };
        if let Err(rule) = booking::check_item(kind, &epc.id, item.as_ref().map(|i| &i.facts), from)
        {
            return Ok(Err(Refusal::Rule(rule)));
        }
        // Arrivals take the request's lot; departures leave with the item's lot
        // from where the item lies (check_item made sure it lies somewhere).
        let (item_lot, source) = match item {
            Some(row) if !arrives => (row.lot, row.facts.location),
            _ => (lot.clone(), None),
        };
        match groups
            .iter_mut()
            .find(|g| g.0 == article.sku && g.1 == item_lot && g.2 == source)
        {
            Some(group) => group.3.push(epc.id.clone()),
            None => groups.push((article.sku, item_lot, source, vec![epc.id.clone()])),
        }
    }
    let mut requests = Vec::with_capacity(groups.len());
    for (sku, lot, source, ids) in groups {
        // A group holds at least one EPC, so the count is a valid quantity.
        let Ok(quantity) = Quantity::new(i64::try_from(ids.len()).unwrap_or(i64::MAX)) else {
            continue;
        };
        requests.push(BookingRequest {
            kind,
            sku,
            quantity,
            from: source.or_else(|| from.cloned()),
            to: to.cloned(),
            lot,
            epcs: ids,
            reason: reason.clone(),
        });
    }
    Ok(Ok(requests))
}
