//! The `Depot` façade: one method per use case, spoken in domain values, for
//! every adapter (HTTP, the command line, the demo; the gate poller, the feed
//! and the pages next).
//!
//! Reads go through a small pool of read connections (WAL lets them run
//! beside the writer). Every change goes to the writer (`writer.rs`): one
//! task, the only write connection, group commits, answers only after COMMIT,
//! and a broadcast of what each commit changed. Bookings are assembled inside
//! the writer's transaction (`booking.rs`) and come back as typed outcomes
//! (movements, or a refusal with its figures) that each adapter renders.
//! Input parsing shared by every adapter lives in `input.rs`; what the feed
//! publisher reads and writes, in `feed.rs`.

mod booking;
mod delivery;
mod feed;
mod gate;
pub mod input;
mod sessions;
mod writer;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::SqlitePool;
use tokio::sync::{broadcast, mpsc, oneshot};

pub use self::booking::{BookingAnswer, BookingInput, BookingOutcome, EpcRef, Submission};
pub use self::delivery::DeliveryReport;
pub use self::feed::{
    ArticleStock, FeedChange, FeedCursor, FeedMovement, LinkState, OutboxEntry, UplinkLive,
    UplinkStatus,
};
pub use self::gate::{GateEvent, GateIngest, GateRead};
pub use self::sessions::{LoginOutcome, WebSession};
use self::writer::{Command, Done, Job, WriterContext};
pub use self::writer::{Committed, WriterHealth, MAX_BATCH};
use crate::domain::access::{self, Action, Caller, Role, User};
use crate::domain::article::Article;
pub use crate::domain::booking::Refusal;
use crate::domain::chain::{Break, ChainHead};
use crate::domain::delivery::Delivery;
use crate::domain::epoch::{EpochId, FeedEpoch};
use crate::domain::gate::{Cursor, GatePass, GatewayState, ResolutionRequest};
use crate::domain::ledger::Movement;
use crate::domain::location::Location;
use crate::domain::stock::{Item, StockFilter, StockLine, StockPage};
use crate::domain::utilization::Utilization;
use crate::metrics::Metrics;
use crate::store;
pub use crate::store::{BackupFacts, StoreOptions, EPOCH_KEY};
use crate::tokens;

/// Why a use case did not run; adapters map each to their own error form.
#[derive(Debug, thiserror::Error)]
pub enum DepotError {
    /// Nothing visible to the caller has this key.
    #[error("{what} '{key}' not found")]
    NotFound { what: &'static str, key: String },
    /// A create found the key taken.
    #[error("{what} '{key}' exists")]
    Exists { what: &'static str, key: String },
    /// The caller's role does not allow the action.
    #[error("role {role} may not do this")]
    Forbidden { role: Role },
    /// Writing a restricted article needs clearance.
    #[error("writing a restricted article needs clearance for restricted articles")]
    NeedsClearance,
    /// Input that does not pass validation, field by field.
    #[error("invalid input")]
    Invalid(Vec<crate::domain::FieldError>),
    /// The request conflicts with what the depot holds (e.g. a GTIN in use).
    #[error("{0}")]
    Conflict(String),
    /// The same Idempotency-Key came with another request.
    #[error("Idempotency-Key '{0}' was already used for a different request")]
    IdempotencyKeyReused(String),
    /// The storage cannot take this now (disk full, locked, I/O): retry later.
    #[error("storage unavailable: {0}")]
    Unavailable(sqlx::Error),
    /// Any other storage failure: a bug or a damaged database.
    #[error("storage failure: {0}")]
    Storage(sqlx::Error),
    /// The writer has no working database connection (it keeps trying).
    #[error("the writer cannot reach the database")]
    WriterStopped,
    /// The writer has stopped (shutdown).
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

/// What a presented API token comes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authentication {
    /// An active user whose access has not expired.
    Valid(Caller),
    /// The token is a user's, but their access has expired.
    Expired,
    /// No active user holds the token.
    Unknown,
}

/// Stock at a glance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StockSummary {
    /// Articles with stock.
    pub articles: i64,
    /// (article, location, lot) lines with stock.
    pub lines: i64,
    /// Their quantities added up (mixed units: a rough size, not a measure).
    pub total: i64,
}

/// How the depot is opened.
#[derive(Debug, Clone)]
pub struct DepotOptions {
    pub store: StoreOptions,
    /// How long a booking's idempotency record is kept; a retry after that books anew.
    pub idempotency_retention: Duration,
}

impl Default for DepotOptions {
    fn default() -> Self {
        Self {
            store: StoreOptions::default(),
            idempotency_retention: Duration::from_secs(30 * 24 * 3_600),
        }
    }
}

/// The depot's use cases. Cheap to clone.
#[derive(Clone)]
pub struct Depot {
    pool: SqlitePool,
    writer: mpsc::Sender<Job>,
    metrics: Arc<Metrics>,
    health: Arc<Mutex<WriterHealth>>,
    committed: broadcast::Sender<Arc<Committed>>,
    /// The gateways' link state as the poller last saw it, by id.
    gateways: Arc<Mutex<std::collections::BTreeMap<String, GatewayState>>>,
    /// What the feed publisher reports (`feed.rs`).
    uplink: Arc<Mutex<UplinkLive>>,
    /// When this process last recorded each user's use (`note_use`).
    last_use: Arc<Mutex<std::collections::HashMap<String, time::OffsetDateTime>>>,
}

/// The running writer; await it after the last `Depot` clone is dropped
/// to be sure every accepted change has been answered.
pub struct Writer(oneshot::Receiver<()>);

impl Writer {
    /// Waits until the writer has answered everything and stopped.
    pub async fn finished(self) {
        if self.0.await.is_err() {
            tracing::error!("the writer thread ended without finishing");
        }
    }
}

/// Reads one metadata value of the database at `path` without opening the
/// depot (no migration, read-only); `None` if the file is not a depot
/// database or has no such key. For deciding whether a file is ours before
/// writing to it.
pub async fn peek_meta(path: &Path, options: &StoreOptions, key: &str) -> Option<String> {
    store::read_only_meta(path, options, key).await
}

/// Marks the restored copy at `path` (not yet in place) with its new feed
/// epoch and queues every snapshot to be published again under it.
pub async fn mark_restored(
    path: &Path,
    epoch: &FeedEpoch,
    now: time::OffsetDateTime,
) -> Result<(), sqlx::Error> {
    store::mark_restored(path, &epoch.encode(), &store::timestamp(now)).await
}

/// Recomputes the hash chain of the ledger at `path` from its first
/// movement without opening the depot (read-only, no migration): its head,
/// or where it first breaks (`depot-server verify`).
pub async fn verify_ledger(
    path: &Path,
    options: &StoreOptions,
) -> Result<Result<ChainHead, Break>, sqlx::Error> {
    store::verify_chain(path, options).await
}

/// What a backup file holds, read-only (for `restore`'s checks).
pub async fn inspect_backup(path: &Path) -> Result<BackupFacts, sqlx::Error> {
    store::inspect(path).await
}

/// This binary's migrations: (version, checksum).
pub fn known_migrations() -> Vec<(i64, Vec<u8>)> {
    store::known_migrations()
}

/// The local operator at the box's console (command line, demo seeding): a
/// cleared manager.
pub fn operator(name: &str) -> Caller {
    Caller {
        name: name.to_owned(),
        role: Role::Manager,
        restricted: true,
    }
}

impl Depot {
    /// Opens the database at `path` (migrating it) and starts the writer.
    pub async fn open(
        path: &Path,
        options: &DepotOptions,
        metrics: Arc<Metrics>,
    ) -> Result<(Depot, Writer), sqlx::Error> {
        let pool = store::open_pool(path, &options.store).await?;
        {
            let mut read = pool.acquire().await?;
            metrics
                .ledger_last_seq
                .set(store::ledger::last_seq(&mut read).await?);
        }
        let (tx, rx) = mpsc::channel(4 * MAX_BATCH);
        let (committed, _) = broadcast::channel(1_024);
        let health = Arc::new(Mutex::new(WriterHealth::default()));
        let context = WriterContext {
            path: path.to_owned(),
            options: options.store.clone(),
            idempotency_retention: options.idempotency_retention,
            metrics: metrics.clone(),
            health: health.clone(),
            committed: committed.clone(),
        };
        let handle = writer::spawn(rx, context).await?;
        Ok((
            Depot {
                pool,
                writer: tx,
                metrics,
                health,
                committed,
                gateways: Arc::default(),
                uplink: Arc::default(),
                last_use: Arc::default(),
            },
            Writer(handle),
        ))
    }

    /// The process's counters.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The writer's health.
    pub fn writer_health(&self) -> WriterHealth {
        self.health
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// What each group commit changed, from now on, after its COMMIT. A
    /// receiver that falls more than 1,024 commits behind is told it lagged
    /// and must catch up from the ledger.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Committed>> {
        self.committed.subscribe()
    }

    async fn submit(&self, command: Command) -> Result<Done, DepotError> {
        let (reply, answer) = oneshot::channel();
        self.writer
            .send(Job { command, reply })
            .await
            .map_err(|_| DepotError::ShuttingDown)?;
        answer.await.map_err(|_| DepotError::ShuttingDown)?
    }

    /// What `token` comes to: the active user holding it, a user whose
    /// access has expired, or nobody. A valid use is recorded as the user's
    /// last use at most once a minute (a writer command in the background,
    /// so the request waits for no write).
    pub async fn authenticate(&self, token: &str) -> Result<Authentication, DepotError> {
        let hash = tokens::hash(token);
        let holder = {
            let mut conn = self.pool.acquire().await?;
            store::users::by_token_hash(&mut conn, &hash).await?
        };
        let Some(holder) = holder.filter(|h| tokens::hashes_match(&h.token_hash, &hash)) else {
            return Ok(Authentication::Unknown);
        };
        let now = time::OffsetDateTime::now_utc();
        if access::expired(holder.expires_at, now) {
            return Ok(Authentication::Expired);
        }
        self.note_use(&holder.caller.name, holder.last_used_at, now);
        Ok(Authentication::Valid(holder.caller))
    }

    /// Records a use of `name`'s access at `now` if the last one recorded
    /// (in the database, `stored`, or noted by this process) is a minute old.
    fn note_use(
        &self,
        name: &str,
        stored: Option<time::OffsetDateTime>,
        now: time::OffsetDateTime,
    ) {
        let due = {
            let mut noted = self.last_use.lock().unwrap_or_else(|p| p.into_inner());
            let last = noted.get(name).copied().max(stored);
            let due = access::last_use_due(last, now);
            if due {
                noted.insert(name.to_owned(), now);
            }
            due
        };
        if due {
            let depot = self.clone();
            let name = name.to_owned();
            tokio::spawn(async move {
                if let Err(error) = depot.submit(Command::NoteUse { name }).await {
                    tracing::debug!(%error, "the last use of a token was not recorded");
                }
            });
        }
    }

    /// Books one movement (or one set of items) through the writer.
    pub async fn book(&self, submission: Submission) -> Result<BookingAnswer, DepotError> {
        require(&submission.caller, Action::Book)?;
        match self.submit(Command::Book(submission)).await? {
            Done::Booked(answer) => Ok(answer),
            other => Err(unexpected(other)),
        }
    }

    /// Stores one read of a gateway's events (passes, bookings, cursor) in
    /// one transaction; the answer's cursor is what may be acknowledged to
    /// the gateway, now that it is committed.
    pub async fn ingest_gate_read(&self, read: GateRead) -> Result<GateIngest, DepotError> {
        match self.submit(Command::IngestGate(read)).await? {
            Done::Ingested(ingest) => Ok(ingest),
            other => Err(unexpected(other)),
        }
    }

    /// Changes what the gate poller reports of a gateway (added when new).
    pub fn report_gateway(&self, state: GatewayState) {
        self.gateways
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(state.id.clone(), state);
    }

    /// Every polled gateway's state, by id.
    pub fn gateways(&self, caller: &Caller) -> Result<Vec<GatewayState>, DepotError> {
        require(caller, Action::ReadStock)?;
        Ok(self.gateway_summary())
    }

    /// The newest pass of each of `gateway`'s first `gates` gates that the
    /// caller may see, by gate index.
    pub async fn last_gate_passes(
        &self,
        caller: &Caller,
        gateway: &str,
        gates: usize,
    ) -> Result<Vec<Option<GatePass>>, DepotError> {
        require(caller, Action::ReadLedger)?;
        let mut conn = self.pool.acquire().await?;
        let mut last = Vec::with_capacity(gates);
        for gate in 0..gates {
            let gate = i64::try_from(gate).unwrap_or(i64::MAX);
            last.push(
                store::gates::last_pass_at_gate(&mut conn, gateway, gate, caller.restricted)
                    .await?,
            );
        }
        Ok(last)
    }

    /// Every polled gateway's state, for `/healthz` (no caller).
    pub fn gateway_summary(&self) -> Vec<GatewayState> {
        let board = self.gateways.lock().unwrap_or_else(|p| p.into_inner());
        board.values().cloned().collect()
    }

    /// The newest gate pass record's id (0 when none), so that a page can
    /// show the passes just below it.
    pub async fn last_gate_pass_id(&self, caller: &Caller) -> Result<i64, DepotError> {
        require(caller, Action::ReadLedger)?;
        let mut conn = self.pool.acquire().await?;
        Ok(store::gates::last_pass_id(&mut conn).await?)
    }

    /// The stored cursor of a gateway: the boot and seq stored last.
    pub async fn gate_cursor(&self, gateway: &str) -> Result<Option<Cursor>, DepotError> {
        let mut conn = self.pool.acquire().await?;
        Ok(store::gates::cursor(&mut conn, gateway).await?)
    }

    /// Gate passes after record `after_id`, oldest first, those of restricted
    /// items only for a cleared caller.
    pub async fn gate_passes(
        &self,
        caller: &Caller,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<GatePass>, DepotError> {
        require(caller, Action::ReadLedger)?;
        let mut conn = self.pool.acquire().await?;
        let restricted = caller.restricted;
        Ok(store::gates::passes_after(&mut conn, after_id, limit, restricted, false).await?)
    }

    /// Gate passes that wait for a manager (an EPC of no known article, a
    /// lot-tracked article without a lot) after record `after_id`, oldest
    /// first; see [`GatePass::waiting`].
    pub async fn waiting_gate_passes(
        &self,
        caller: &Caller,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<GatePass>, DepotError> {
        require(caller, Action::ReadLedger)?;
        let mut conn = self.pool.acquire().await?;
        let restricted = caller.restricted;
        Ok(store::gates::passes_after(&mut conn, after_id, limit, restricted, true).await?)
    }

    /// A manager names the article and/or lot of a waiting gate pass, which
    /// books its receipt to the gate's dock (source `gate`). Resolving the
    /// same pass the same way again answers the first booking and books
    /// nothing; another way is a conflict.
    pub async fn resolve_gate_pass(
        &self,
        caller: &Caller,
        pass_id: i64,
        request: ResolutionRequest,
    ) -> Result<BookingAnswer, DepotError> {
        require(caller, Action::ResolveGatePass)?;
        let command = Command::ResolvePass {
            caller: caller.clone(),
            pass_id,
            request,
        };
        match self.submit(command).await? {
            Done::Booked(answer) => Ok(answer),
            other => Err(unexpected(other)),
        }
    }

    /// Registers an expected delivery (managers); `true` when new, `false`
    /// when the same notice was registered before. Another notice under a
    /// taken reference is [`DepotError::Exists`]; an unknown dock or article,
    /// or a lot where none belongs, is [`DepotError::Invalid`].
    pub async fn create_delivery(
        &self,
        caller: &Caller,
        delivery: Delivery,
    ) -> Result<bool, DepotError> {
        require(caller, Action::KeepMasterData)?;
        let command = Command::CreateDelivery {
            caller: caller.clone(),
            delivery,
        };
        applied(self.submit(command).await?)
    }

    /// Closes an open expected delivery short (managers): from then on its
    /// dock's receipts are not matched against it, and what did not arrive
    /// stays missing. `true` when it was open, `false` when it was complete
    /// or closed already; an unknown reference is [`DepotError::NotFound`].
    pub async fn close_delivery(
        &self,
        caller: &Caller,
        reference: &str,
    ) -> Result<bool, DepotError> {
        require(caller, Action::KeepMasterData)?;
        // A delivery the caller may not read at all does not exist for it.
        self.delivery(caller, reference).await?;
        let reference = crate::domain::delivery::DeliveryRef::parse(reference)
            .map_err(|_| not_found("delivery", reference))?;
        applied(self.submit(Command::CloseDelivery { reference }).await?)
    }

    /// One expected delivery, reconciled against what its dock's gate
    /// received, as the caller may see it.
    pub async fn delivery(
        &self,
        caller: &Caller,
        reference: &str,
    ) -> Result<DeliveryReport, DepotError> {
        require(caller, Action::ReadLedger)?;
        let mut conn = self.pool.acquire().await?;
        delivery::report(&mut conn, caller, reference)
            .await?
            .ok_or_else(|| not_found("delivery", reference))
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

    /// The article with this GTIN (as GTIN-14), if there is one the caller may see.
    pub async fn article_by_gtin(
        &self,
        caller: &Caller,
        gtin14: &str,
    ) -> Result<Option<Article>, DepotError> {
        require(caller, Action::ReadStock)?;
        let mut conn = self.pool.acquire().await?;
        Ok(store::articles::by_gtin14(&mut conn, gtin14)
            .await?
            .filter(|a| caller.sees(a.classification)))
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

    /// Creates an article; [`DepotError::Exists`] if its SKU is taken.
    ///
    /// SKUs and GTINs are one namespace across open and restricted articles.
    /// A manager without clearance keeps open articles only; a clash with a
    /// restricted article's SKU or GTIN is a [`DepotError::Conflict`] that
    /// names neither the article nor its classification.
    pub async fn create_article(
        &self,
        caller: &Caller,
        article: Article,
    ) -> Result<(), DepotError> {
        require_article_writer(caller, std::slice::from_ref(&article))?;
        let cleared = caller.restricted;
        self.submit(Command::CreateArticle { article, cleared })
            .await?;
        Ok(())
    }

    /// Creates or replaces an article; returns whether it was new. As
    /// [`Depot::create_article`] for a manager without clearance.
    pub async fn put_article(&self, caller: &Caller, article: Article) -> Result<bool, DepotError> {
        require_article_writer(caller, std::slice::from_ref(&article))?;
        let cleared = caller.restricted;
        applied(
            self.submit(Command::PutArticle { article, cleared })
                .await?,
        )
    }

    /// Creates or replaces many articles in one transaction, all or none;
    /// returns how many.
    pub async fn import_articles(
        &self,
        caller: &Caller,
        articles: Vec<Article>,
    ) -> Result<usize, DepotError> {
        require_article_writer(caller, &articles)?;
        let cleared = caller.restricted;
        counted(
            self.submit(Command::ImportArticles { articles, cleared })
                .await?,
        )
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

    /// Creates a location; [`DepotError::Exists`] if its code is taken.
    pub async fn create_location(
        &self,
        caller: &Caller,
        location: Location,
    ) -> Result<(), DepotError> {
        require(caller, Action::KeepMasterData)?;
        self.submit(Command::CreateLocation(location)).await?;
        Ok(())
    }

    /// Creates or replaces a location; returns whether it was new.
    pub async fn put_location(
        &self,
        caller: &Caller,
        location: Location,
    ) -> Result<bool, DepotError> {
        require(caller, Action::KeepMasterData)?;
        applied(self.submit(Command::PutLocation(location)).await?)
    }

    /// Creates or replaces many locations in one transaction, all or none;
    /// returns how many.
    pub async fn import_locations(
        &self,
        caller: &Caller,
        locations: Vec<Location>,
    ) -> Result<usize, DepotError> {
        require(caller, Action::KeepMasterData)?;
        counted(self.submit(Command::ImportLocations(locations)).await?)
    }

    /// Adds a user (or re-activates a revoked one) whose access ends at
    /// `expires_at` (`None` = never) and returns the new API token, shown
    /// once and stored hashed; [`DepotError::Exists`] if an active user has
    /// the name.
    pub async fn add_user(
        &self,
        name: &str,
        role: Role,
        restricted: bool,
        expires_at: Option<time::OffsetDateTime>,
    ) -> Result<String, DepotError> {
        let token = tokens::generate();
        let command = Command::AddUser {
            name: name.to_owned(),
            role,
            restricted,
            token_hash: tokens::hash(&token),
            expires_at,
        };
        if applied(self.submit(command).await?)? {
            Ok(token)
        } else {
            Err(DepotError::Exists {
                what: "user",
                key: name.to_owned(),
            })
        }
    }

    /// Revokes a user's token; [`DepotError::NotFound`] if no active user has the name.
    pub async fn revoke_user(&self, name: &str) -> Result<(), DepotError> {
        let command = Command::RevokeUser {
            name: name.to_owned(),
        };
        if applied(self.submit(command).await?)? {
            Ok(())
        } else {
            Err(not_found("active user", name))
        }
    }

    /// Every user by name (never with a token).
    pub async fn users(&self) -> Result<Vec<User>, DepotError> {
        let mut conn = self.pool.acquire().await?;
        Ok(store::users::list(&mut conn).await?)
    }

    /// Every user by name, for a caller who may read them (managers,
    /// auditors); never with a token.
    pub async fn users_as(&self, caller: &Caller) -> Result<Vec<User>, DepotError> {
        require(caller, Action::ReadUsers)?;
        self.users().await
    }

    /// A manager adds a user (or re-activates a revoked one) with a web
    /// password and returns the new API token, shown once. Only a cleared
    /// manager grants clearance. Name and password are checked before
    /// anything is written.
    pub async fn add_user_as(
        &self,
        caller: &Caller,
        name: &str,
        role: Role,
        restricted: bool,
        password: &str,
    ) -> Result<String, DepotError> {
        require(caller, Action::KeepMasterData)?;
        if restricted && !caller.restricted {
            return Err(DepotError::NeedsClearance);
        }
        let mut errors = Vec::new();
        if !crate::domain::article::is_key(name) {
            errors.push(crate::domain::FieldError::new(
                "name",
                "must be 1 to 64 characters of A-Z, a-z, 0-9, '.', '_', '-'",
            ));
        }
        let chars = password.chars().count();
        if !(crate::passwords::MIN_CHARS..=crate::passwords::MAX_CHARS).contains(&chars) {
            errors.push(crate::domain::FieldError::new(
                "password",
                crate::passwords::PasswordError::Length.to_string(),
            ));
        }
        if !errors.is_empty() {
            return Err(DepotError::Invalid(errors));
        }
        let token = self.add_user(name, role, restricted, None).await?;
        self.set_password(name, password).await?;
        Ok(token)
    }

    /// A manager revokes another user's token (their own is refused as a
    /// conflict, so a depot cannot lock out its last manager by a slip).
    pub async fn revoke_user_as(&self, caller: &Caller, name: &str) -> Result<(), DepotError> {
        require(caller, Action::KeepMasterData)?;
        if caller.name == name {
            return Err(DepotError::Conflict("you cannot revoke yourself".into()));
        }
        self.revoke_user(name).await
    }

    /// Writes one database metadata value.
    pub async fn set_meta(&self, key: &str, value: &str) -> Result<(), DepotError> {
        let command = Command::SetMeta {
            key: key.to_owned(),
            value: value.to_owned(),
        };
        self.submit(command).await?;
        Ok(())
    }

    /// A round trip through the writer's queue and one (empty) transaction:
    /// returns once the writer has taken it, whatever the answer. It waits as
    /// long as the writer is busy, so a wedged writer never answers.
    pub async fn ping_writer(&self) -> Result<(), DepotError> {
        match self.submit(Command::Ping).await {
            Err(DepotError::ShuttingDown) => Err(DepotError::ShuttingDown),
            _ => Ok(()),
        }
    }

    /// One page of the stock levels the caller may see, filtered, at most
    /// `limit` lines in report order (SKU, location, lot).
    pub async fn stock(
        &self,
        caller: &Caller,
        filter: &StockFilter,
        page: &StockPage,
        limit: i64,
    ) -> Result<Vec<StockLine>, DepotError> {
        require(caller, Action::ReadStock)?;
        let mut conn = self.pool.acquire().await?;
        Ok(store::ledger::stock(&mut conn, filter, caller.restricted, page, limit).await?)
    }

    /// The newest `limit` items of an article the caller may see (stored,
    /// issued or in transit), by their last movement.
    pub async fn items_of(
        &self,
        caller: &Caller,
        sku: &str,
        limit: i64,
    ) -> Result<Vec<Item>, DepotError> {
        require(caller, Action::ReadLedger)?;
        self.article(caller, sku).await?;
        let mut conn = self.pool.acquire().await?;
        Ok(store::ledger::items_of(&mut conn, sku, limit).await?)
    }

    /// The newest `limit` movements of an article the caller may see, newest first.
    pub async fn article_movements(
        &self,
        caller: &Caller,
        sku: &str,
        limit: i64,
    ) -> Result<Vec<Movement>, DepotError> {
        require(caller, Action::ReadLedger)?;
        self.article(caller, sku).await?;
        let mut conn = self.pool.acquire().await?;
        Ok(store::ledger::movements_of(&mut conn, sku, limit).await?)
    }

    /// The item a scanned or typed code names (an EPC in any notation), if
    /// it is one the caller may see; `None` for a code that is no EPC.
    pub async fn item_by_code(
        &self,
        caller: &Caller,
        code: &str,
    ) -> Result<Option<Item>, DepotError> {
        let Ok(epc) = crate::epc::parse(code) else {
            return Ok(None);
        };
        match self.item(caller, &epc.id).await {
            Ok(item) => Ok(Some(item)),
            Err(DepotError::NotFound { .. }) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Articles in stock, stock lines and their total quantity, of what the caller may see.
    pub async fn stock_summary(&self, caller: &Caller) -> Result<StockSummary, DepotError> {
        require(caller, Action::ReadStock)?;
        let mut conn = self.pool.acquire().await?;
        let (articles, lines, total) =
            store::ledger::stock_summary(&mut conn, caller.restricted).await?;
        Ok(StockSummary {
            articles,
            lines,
            total,
        })
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

    /// The newest `limit` movements the caller may see, newest first.
    pub async fn recent_movements(
        &self,
        caller: &Caller,
        limit: i64,
    ) -> Result<Vec<Movement>, DepotError> {
        require(caller, Action::ReadLedger)?;
        let mut conn = self.pool.acquire().await?;
        Ok(store::ledger::movements_before(&mut conn, i64::MAX, limit, caller.restricted).await?)
    }

    /// Of `movements` (e.g. from [`Depot::subscribe`]), those the caller may
    /// see: none without the right to read the ledger, no restricted
    /// article's without clearance.
    pub async fn visible_movements(
        &self,
        caller: &Caller,
        movements: &[Movement],
    ) -> Result<Vec<Movement>, DepotError> {
        if !caller.role.may(Action::ReadLedger) {
            return Ok(Vec::new());
        }
        if caller.restricted {
            return Ok(movements.to_vec());
        }
        let mut conn = self.pool.acquire().await?;
        let mut open: Vec<(&str, bool)> = Vec::new();
        let mut visible = Vec::with_capacity(movements.len());
        for movement in movements {
            let sku = movement.sku.as_str();
            let sees = match open.iter().find(|(s, _)| *s == sku) {
                Some((_, sees)) => *sees,
                None => {
                    let sees = store::articles::get(&mut conn, sku)
                        .await?
                        .is_some_and(|a| caller.sees(a.classification));
                    open.push((sku, sees));
                    sees
                }
            };
            if sees {
                visible.push(movement.clone());
            }
        }
        Ok(visible)
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

    /// How full one location is: all stock lying there counts, whatever the
    /// caller may see of it, as in [`Depot::utilization`].
    pub async fn location_fill(
        &self,
        caller: &Caller,
        location: &Location,
    ) -> Result<Utilization, DepotError> {
        require(caller, Action::ReadStock)?;
        let mut conn = self.pool.acquire().await?;
        let used = store::ledger::usage_at(&mut conn, location.code.as_str()).await?;
        Ok(Utilization::of(location.capacity, used))
    }

    /// One serialised item, if the caller may see its article.
    pub async fn item(&self, caller: &Caller, epc_id: &str) -> Result<Item, DepotError> {
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

    /// The newest ledger seq and the database's size and cap in KiB; also
    /// proves the database answers.
    pub async fn storage_status(&self) -> Result<(i64, (u64, Option<u64>)), DepotError> {
        let mut conn = self.pool.acquire().await?;
        let seq = store::ledger::last_seq(&mut conn).await?;
        Ok((seq, store::size_kib(&mut conn).await?))
    }

    /// Records `depot_id` as the depot this database belongs to, or checks
    /// it against the one recorded: a database never serves under another
    /// depot's id (its feed would go to that depot's topics).
    /// A database without a feed epoch (new, or from before epochs) gets
    /// its first one here, so every depot that serves has one.
    pub async fn claim(&self, depot_id: &str) -> Result<(), DepotError> {
        let mut conn = self.pool.acquire().await?;
        match store::meta(&mut conn, store::DEPOT_ID_KEY).await? {
            Some(recorded) if recorded == depot_id => {}
            Some(recorded) => {
                return Err(DepotError::Conflict(format!(
                "this database belongs to depot '{recorded}', not '{depot_id}' (check depot_id / DEPOT_ID)"
            )))
            }
            None => self.set_meta(store::DEPOT_ID_KEY, depot_id).await?,
        }
        if store::meta(&mut conn, store::EPOCH_KEY).await?.is_none() {
            let first = FeedEpoch::first(fresh_epoch_id());
            self.set_meta(store::EPOCH_KEY, &first.encode()).await?;
        }
        Ok(())
    }

    /// The feed's epoch (`claim` made one if the database had none).
    pub async fn feed_epoch(&self) -> Result<FeedEpoch, DepotError> {
        let mut conn = self.pool.acquire().await?;
        let text = store::meta(&mut conn, store::EPOCH_KEY)
            .await?
            .ok_or_else(|| DepotError::Conflict("the database has no feed epoch yet".into()))?;
        Ok(store::checked("depot_meta", FeedEpoch::decode(&text))?)
    }

    /// The ledger's chain head as committed (the last sealed movement).
    pub async fn chain_head(&self) -> Result<ChainHead, DepotError> {
        let mut conn = self.pool.acquire().await?;
        Ok(store::chain::sealed_head(&mut conn).await?)
    }

    /// Writes an online, consistent copy of the database to `path` (which must not exist).
    pub async fn backup(&self, path: &Path) -> Result<(), DepotError> {
        sqlx::query("VACUUM INTO ?")
            .bind(path.to_string_lossy().into_owned())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Closes the read connections.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// A fresh random epoch id (128 bits from the OS's random source).
pub fn fresh_epoch_id() -> EpochId {
    let mut bytes = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    EpochId::from_bytes(bytes)
}

/// 256 fresh random bits as hex (a CSRF token before there is a session).
pub fn fresh_secret() -> String {
    tokens::random_hex()
}

/// Whether two secrets (tokens, CSRF values) are equal, in constant time.
pub fn same_secret(a: &str, b: &str) -> bool {
    tokens::hashes_match(a, b)
}

fn require(caller: &Caller, action: Action) -> Result<(), DepotError> {
    if caller.role.may(action) {
        Ok(())
    } else {
        Err(DepotError::Forbidden { role: caller.role })
    }
}

/// Managers keep articles; only a cleared one writes a restricted article.
fn require_article_writer(caller: &Caller, articles: &[Article]) -> Result<(), DepotError> {
    require(caller, Action::KeepMasterData)?;
    if articles.iter().all(|a| caller.sees(a.classification)) {
        Ok(())
    } else {
        Err(DepotError::NeedsClearance)
    }
}

fn not_found(what: &'static str, key: &str) -> DepotError {
    DepotError::NotFound {
        what,
        key: key.to_owned(),
    }
}

fn applied(done: Done) -> Result<bool, DepotError> {
    match done {
        Done::Applied(applied) => Ok(applied),
        other => Err(unexpected(other)),
    }
}

fn counted(done: Done) -> Result<usize, DepotError> {
    match done {
        Done::Count(count) => Ok(count),
        other => Err(unexpected(other)),
    }
}

/// The writer answered a command with another command's kind of answer: a bug.
fn unexpected(done: Done) -> DepotError {
    DepotError::Storage(sqlx::Error::Protocol(format!(
        "the writer answered {done:?} to another command"
    )))
}
