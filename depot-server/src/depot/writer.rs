//! The writer: one task that owns the only write connection and runs every
//! change to the database (bookings, master data, users, metadata) in group
//! commits.
//!
//! It takes every command that is waiting (up to [`MAX_BATCH`]), runs each in
//! its own SAVEPOINT, commits once (WAL, `synchronous=FULL`), and only then
//! answers each caller and publishes what changed. A command that fails on
//! its own (a constraint the domain did not catch, a record that does not
//! decode) rolls back only its savepoint; only storage errors that hit the
//! whole transaction (disk full, I/O, locked) abort the batch. A panic while
//! committing is caught: the batch is answered with an error, the connection
//! is dropped (rolling back) and reopened, and the writer goes on.

use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::FutureExt;
use sqlx::SqliteConnection;
use time::OffsetDateTime;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::time::Instant;

use super::booking::{self, BookingAnswer, Submission};
use super::gate::{self, GateIngest, GateRead, GateWindows};
use super::DepotError;
use crate::domain::access::Role;
use crate::domain::article::{Article, Classification};
use crate::domain::chain::ChainHead;
use crate::domain::clock::{ClockState, ClockWatch};
use crate::domain::ledger::Movement;
use crate::domain::location::Location;
use crate::domain::login::LoginRecord;
use crate::metrics::Metrics;
use crate::repeat_log::RepeatLog;
use crate::store::{self, StoreOptions};

/// How many waiting commands one group commit takes at most.
pub const MAX_BATCH: usize = 256;

/// Expired idempotency records deleted per purge transaction, so a purge
/// never holds the write lock for long.
const PURGE_CHUNK: i64 = 5_000;

/// How often expired idempotency records are looked for.
const PURGE_EVERY: Duration = Duration::from_secs(3_600);

/// A change the writer makes.
#[derive(Debug)]
pub(crate) enum Command {
    /// One booking.
    Book(Submission),
    /// A new article; [`DepotError::Exists`] if the SKU is taken.
    CreateArticle { article: Article, cleared: bool },
    /// Creates or replaces an article.
    PutArticle { article: Article, cleared: bool },
    /// A new location; [`DepotError::Exists`] if the code is taken.
    CreateLocation(Location),
    /// Creates or replaces a location.
    PutLocation(Location),
    /// Creates or replaces many articles, all or none.
    ImportArticles {
        articles: Vec<Article>,
        cleared: bool,
    },
    /// Creates or replaces many locations, all or none.
    ImportLocations(Vec<Location>),
    /// Adds a user (or re-activates a revoked one) with a token hash.
    AddUser {
        name: String,
        role: Role,
        restricted: bool,
        token_hash: String,
        expires_at: Option<OffsetDateTime>,
    },
    /// Revokes a user's token.
    RevokeUser { name: String },
    /// Records that a user's access was used (now).
    NoteUse { name: String },
    /// Writes one `depot_meta` value.
    SetMeta { key: String, value: String },
    /// Sets a user's password hash and ends their web sessions.
    SetPassword { name: String, password_hash: String },
    /// Counts a failed login (and locks it if the rules say so).
    LoginFailed { name: String },
    /// Opens a web session (and resets the user's failure count).
    OpenSession {
        name: String,
        id_hash: String,
        csrf_token: String,
    },
    /// Ends a web session.
    CloseSession { id_hash: String },
    /// One read of a gateway's events: pass records, their bookings and the
    /// gateway's cursor (`gate.rs`).
    IngestGate(GateRead),
    /// Moves the feed's cursor after PUBACKs (`feed.rs`).
    AdvanceFeed(super::feed::FeedCursor),
    /// A manager names the article or lot of a waiting gate pass, which
    /// books it (`gate.rs`).
    ResolvePass {
        caller: crate::domain::access::Caller,
        pass_id: i64,
        request: crate::domain::gate::ResolutionRequest,
    },
    /// Registers an expected delivery (`delivery.rs`).
    CreateDelivery {
        caller: crate::domain::access::Caller,
        delivery: crate::domain::delivery::Delivery,
    },
    /// Closes an open expected delivery short: its dock's receipts are no
    /// longer matched against it.
    CloseDelivery {
        reference: crate::domain::delivery::DeliveryRef,
    },
    /// Writes nothing: its answer proves the writer takes commands (the
    /// systemd watchdog's keep-alive, `service.rs`).
    Ping,
    /// Panics inside the batch: tests of the writer's supervision.
    #[cfg(test)]
    Panic,
}

/// What a command did.
#[derive(Debug)]
pub(crate) enum Done {
    Booked(BookingAnswer),
    /// For puts: whether the row was new; for add/revoke: whether it took effect.
    Applied(bool),
    /// Rows written by an import.
    Count(usize),
    /// A user's login record after a failed attempt.
    Login(LoginRecord),
    /// What a gate read stored, and the cursor to acknowledge.
    Ingested(GateIngest),
}

/// What one group commit changed, published after COMMIT (never before).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Committed {
    /// New ledger movements, in seq order.
    pub movements: Vec<Movement>,
    /// Articles created or changed.
    pub articles: Vec<Article>,
    /// Locations created or changed.
    pub locations: Vec<Location>,
}

impl Committed {
    fn is_empty(&self) -> bool {
        self.movements.is_empty() && self.articles.is_empty() && self.locations.is_empty()
    }

    fn extend(&mut self, other: Committed) {
        self.movements.extend(other.movements);
        self.articles.extend(other.articles);
        self.locations.extend(other.locations);
    }
}

/// The writer's health as `/healthz` reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriterHealth {
    /// False when the writer has no working connection (it retries before each batch).
    pub stopped: bool,
    /// The last group commit failed because the database is full (disk or
    /// `max_db_size_kib`); cleared by the next commit that writes.
    pub database_full: bool,
    /// Times the writer recovered from a panic.
    pub restarts: u64,
    /// The last failure: when and what.
    pub last_failure: Option<(OffsetDateTime, String)>,
    /// The ledger's sealed chain head after the last commit (`domain::chain`).
    pub chain_head: Option<ChainHead>,
    /// Whether the wall clock the writer stamps movements with is plausible
    /// (`domain::clock`), and since when it is as it is.
    pub clock: ClockState,
    pub clock_since: Option<OffsetDateTime>,
}

pub(crate) struct Job {
    pub command: Command,
    pub reply: oneshot::Sender<Result<Done, DepotError>>,
}

/// What the writer needs besides its commands.
pub(crate) struct WriterContext {
    pub path: PathBuf,
    pub options: StoreOptions,
    pub idempotency_retention: Duration,
    pub metrics: Arc<Metrics>,
    pub health: Arc<Mutex<WriterHealth>>,
    pub committed: broadcast::Sender<Arc<Committed>>,
}

/// Starts the writer on its own thread: opens the write connection there
/// (so SQLite's worker thread is its sibling), then runs [`run`] until every
/// sender is gone. The receiver fires when the writer has stopped.
///
/// The thread and the connection's worker are kept on one CPU: a booking
/// hands about ten statements to the worker and back, and a hand-off
/// between two threads on one core costs a few microseconds where one
/// across cores costs tens (BENCHMARKS.md, "The writer's thread").
pub(crate) async fn spawn(
    jobs: mpsc::Receiver<Job>,
    context: WriterContext,
) -> Result<oneshot::Receiver<()>, sqlx::Error> {
    let (opened_tx, opened) = oneshot::channel();
    let (stopped_tx, stopped) = oneshot::channel();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .map_err(sqlx::Error::Io)?;
    std::thread::Builder::new()
        .name("depot-writer".into())
        .spawn(move || {
            pin_to_one_cpu();
            runtime.block_on(async move {
                match store::open_writer(&context.path, &context.options).await {
                    Ok(conn) => {
                        // Sealed before the depot opens: `/healthz` shows the head from the start.
                        let mut conn = Some(conn);
                        let chain = seal_backlog(&mut conn, &context).await;
                        if opened_tx.send(Ok(())).is_ok() {
                            run(conn, chain, jobs, context).await;
                        }
                    }
                    Err(error) => {
                        let _ = opened_tx.send(Err(error));
                    }
                }
            });
            let _ = stopped_tx.send(());
        })
        .map_err(sqlx::Error::Io)?;
    match opened.await {
        Ok(Ok(())) => Ok(stopped),
        Ok(Err(error)) => Err(error),
        Err(_) => Err(sqlx::Error::Protocol(
            "the writer thread ended while opening".into(),
        )),
    }
}

/// Binds the calling thread (and the threads it starts later) to the last
/// CPU it may run on; leaves it alone where that cannot be done.
fn pin_to_one_cpu() {
    use nix::sched::{sched_getaffinity, sched_setaffinity, CpuSet};
    use nix::unistd::Pid;
    let Ok(allowed) = sched_getaffinity(Pid::from_raw(0)) else {
        return;
    };
    let Some(last) = (0..CpuSet::count())
        .rev()
        .find(|&cpu| allowed.is_set(cpu).unwrap_or(false))
    else {
        return;
    };
    let mut one = CpuSet::new();
    if one.set(last).is_ok() {
        if let Err(error) = sched_setaffinity(Pid::from_raw(0), &one) {
            tracing::debug!(%error, "the writer thread could not be pinned");
        }
    }
}

/// The writer loop: take what waits, run it in one transaction, commit,
/// answer, publish; purge expired idempotency records now and then.
async fn run(
    mut conn: Option<SqliteConnection>,
    mut chain: Option<ChainHead>,
    mut jobs: mpsc::Receiver<Job>,
    context: WriterContext,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let failures = RepeatLog::new(Duration::from_secs(60));
    let mut clock = ClockWatch::new(built(), newest_movement_time(&mut conn).await);
    let mut windows = GateWindows::default();
    note_clock(&mut clock, &context, OffsetDateTime::now_utc());
    // Purge before the first command, so a retry after a long stop is judged
    // by the retention period, whatever arrives first.
    let mut next_purge = Instant::now() + purge(&mut conn, &context).await;
    loop {
        tokio::select! {
            biased;
            received = jobs.recv_many(&mut batch, MAX_BATCH) => {
                if received == 0 {
                    break;
                }
            }
            () = tokio::time::sleep_until(next_purge) => {
                next_purge = Instant::now() + purge(&mut conn, &context).await;
                continue;
            }
        }
        let state = (&mut chain, &mut clock, &mut windows);
        process(&mut conn, state, &mut batch, &context, &failures).await;
        // Under steady load the select above always finds commands waiting.
        if Instant::now() >= next_purge {
            next_purge = Instant::now() + purge(&mut conn, &context).await;
        }
    }
    tracing::debug!("writer stopped");
}

/// Runs one batch and answers every command in it.
async fn process(
    conn: &mut Option<SqliteConnection>,
    (chain, clock, windows): (&mut Option<ChainHead>, &mut ClockWatch, &mut GateWindows),
    batch: &mut Vec<Job>,
    context: &WriterContext,
    failures: &RepeatLog,
) {
    {
        if conn.is_none() {
            *conn = reopen(context).await;
        }
        let Some(connection) = conn.as_mut() else {
            for job in batch.drain(..) {
                let _ = job.reply.send(Err(DepotError::WriterStopped));
            }
            return;
        };
        let now = OffsetDateTime::now_utc();
        note_clock(clock, context, now);
        let started = std::time::Instant::now();
        let result = AssertUnwindSafe(commit_batch(connection, chain, windows, batch, now))
            .catch_unwind()
            .await;
        context
            .metrics
            .writer_busy_seconds
            .inc_by(started.elapsed().as_secs_f64());
        if !matches!(result, Ok(Ok(_))) {
            // Whatever the batch sealed or stored was rolled back: read again.
            *chain = None;
            windows.forget();
        }
        match result {
            Ok(Ok((answers, committed))) => {
                count(&context.metrics, &answers, batch.len());
                if !committed.is_empty() {
                    if let Some(last) = committed.movements.last() {
                        context.metrics.ledger_last_seq.set(last.seq);
                    }
                    update_health(&context.health, |h| {
                        h.database_full = false;
                        h.chain_head = *chain;
                    });
                    let _ = context.committed.send(Arc::new(committed));
                }
                for (job, answer) in batch.drain(..).zip(answers) {
                    // A caller that went away (client hung up) still has its change made.
                    let _ = job.reply.send(answer);
                }
            }
            Ok(Err(error)) => {
                context.metrics.storage_errors.inc();
                let full = store::is_full(&error);
                let message = error.to_string();
                if let Some(repeats) = failures.note("group commit failed") {
                    tracing::error!(error = %message, commands = batch.len(), repeats,
                        "group commit failed; nothing of it was written");
                }
                update_health(&context.health, |h| {
                    h.database_full = full;
                    h.last_failure = Some((now, message.clone()));
                });
                let unavailable = store::is_unavailable(&error);
                for job in batch.drain(..) {
                    let cause = sqlx::Error::Protocol(message.clone());
                    let _ = job.reply.send(Err(if unavailable {
                        DepotError::Unavailable(cause)
                    } else {
                        DepotError::Storage(cause)
                    }));
                }
            }
            Err(panic) => {
                let what = panic_message(&*panic);
                tracing::error!(panic = %what, commands = batch.len(),
                    "the writer panicked; nothing of the batch was written; reopening the database");
                context.metrics.writer_restarts.inc();
                update_health(&context.health, |h| {
                    h.restarts += 1;
                    h.last_failure = Some((now, format!("writer panicked: {what}")));
                });
                for job in batch.drain(..) {
                    let cause = sqlx::Error::Protocol(format!("writer panicked: {what}"));
                    let _ = job.reply.send(Err(DepotError::Storage(cause)));
                }
                // Dropping the connection rolls back whatever the batch had begun.
                *conn = None;
                *conn = reopen(context).await;
            }
        }
    }
}

/// Opens a fresh write connection; on failure the writer counts as stopped
/// until a later attempt succeeds.
async fn reopen(context: &WriterContext) -> Option<SqliteConnection> {
    match store::open_writer(&context.path, &context.options).await {
        Ok(conn) => {
            update_health(&context.health, |h| h.stopped = false);
            Some(conn)
        }
        Err(error) => {
            tracing::error!(%error, "the writer cannot open the database; changes are refused until it can");
            update_health(&context.health, |h| {
                h.stopped = true;
                h.last_failure = Some((OffsetDateTime::now_utc(), error.to_string()));
            });
            None
        }
    }
}

fn update_health(health: &Mutex<WriterHealth>, change: impl FnOnce(&mut WriterHealth)) {
    // A poisoned lock only means a panic elsewhere while holding it; the data is plain.
    let mut guard = health.lock().unwrap_or_else(|p| p.into_inner());
    change(&mut guard);
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// Counts what a committed batch did (only now is any of it durable).
fn count(metrics: &Metrics, answers: &[Result<Done, DepotError>], size: usize) {
    metrics.booking_batches.inc();
    metrics.booking_batch_size.observe(size as f64);
    for answer in answers {
        if let Ok(Done::Booked(booked)) = answer {
            match (&booked.outcome, booked.replayed) {
                (_, true) => metrics.bookings_replayed.inc(),
                (Ok(_), false) => metrics.bookings_committed.inc(),
                (Err(_), false) => metrics.bookings_refused.inc(),
            };
        }
    }
}

/// The answers of a committed batch, and what it changed.
type BatchResult = (Vec<Result<Done, DepotError>>, Committed);

/// One group commit. An error that hits the transaction aborts it: then no
/// command of the batch was written and every caller is told so.
async fn commit_batch(
    conn: &mut SqliteConnection,
    chain: &mut Option<ChainHead>,
    windows: &mut GateWindows,
    batch: &[Job],
    now: OffsetDateTime,
) -> Result<BatchResult, sqlx::Error> {
    sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
    let mut answers = Vec::with_capacity(batch.len());
    let mut committed = Committed::default();
    for job in batch {
        match run_one(conn, windows, &job.command, now).await {
            Ok((answer, changes)) => {
                committed.extend(changes);
                answers.push(answer);
            }
            Err(error) => {
                let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
                return Err(error);
            }
        }
    }
    let sealed = match seal(conn, *chain, &committed).await {
        Ok(sealed) => sealed,
        Err(error) => {
            let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
            return Err(error);
        }
    };
    if let Err(error) = sqlx::query("COMMIT").execute(&mut *conn).await {
        let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
        return Err(error);
    }
    *chain = Some(sealed);
    Ok((answers, committed))
}

/// Seals the batch's new movements into the chain before its COMMIT.
async fn seal(
    conn: &mut SqliteConnection,
    chain: Option<ChainHead>,
    committed: &Committed,
) -> Result<ChainHead, sqlx::Error> {
    let head = match chain {
        Some(head) => head,
        None => store::chain::sealed_head(conn).await?,
    };
    if committed.movements.is_empty() && chain.is_some() {
        return Ok(head);
    }
    store::chain::seal(conn, head, -1).await
}

/// Movements sealed per transaction when a database from before the chain
/// is sealed at start.
const SEAL_CHUNK: i64 = 10_000;

/// Seals what no commit sealed yet (a database from before the chain),
/// in chunks; the head, or `None` (read again at the first batch) if the
/// database cannot be read now.
async fn seal_backlog(
    conn: &mut Option<SqliteConnection>,
    context: &WriterContext,
) -> Option<ChainHead> {
    let conn = conn.as_mut()?;
    let mut sealed = 0;
    let result: Result<ChainHead, sqlx::Error> = async {
        let mut head = store::chain::sealed_head(conn).await?;
        loop {
            sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
            let next = match store::chain::seal(conn, head, SEAL_CHUNK).await {
                Ok(next) => next,
                Err(error) => {
                    let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
                    return Err(error);
                }
            };
            sqlx::query("COMMIT").execute(&mut *conn).await?;
            sealed += next.seq - head.seq;
            if next == head {
                return Ok(head);
            }
            head = next;
        }
    }
    .await;
    match result {
        Ok(head) => {
            if sealed > 0 {
                tracing::info!(
                    sealed,
                    head_seq = head.seq,
                    "sealed the ledger's movements into the hash chain"
                );
            }
            update_health(&context.health, |h| h.chain_head = Some(head));
            Some(head)
        }
        Err(error) => {
            tracing::error!(%error, "cannot seal the ledger's hash chain now; trying again with the next commit");
            None
        }
    }
}

/// One command in its own savepoint. Its own failures roll back only the
/// savepoint and are its answer; an error that hits the whole transaction is
/// returned as `Err` and aborts the batch.
async fn run_one(
    conn: &mut SqliteConnection,
    windows: &mut GateWindows,
    command: &Command,
    now: OffsetDateTime,
) -> Result<(Result<Done, DepotError>, Committed), sqlx::Error> {
    sqlx::query("SAVEPOINT command").execute(&mut *conn).await?;
    let mut changes = Committed::default();
    let result = execute(conn, windows, command, now, &mut changes).await;
    if !matches!(result, Ok(Ok(_))) {
        // What the command stored is rolled back below: so is what was kept of it.
        windows.forget();
    }
    let answer = match result {
        Ok(Ok(done)) => {
            sqlx::query("RELEASE command").execute(&mut *conn).await?;
            return Ok((Ok(done), changes));
        }
        Ok(Err(refused)) => Err(refused),
        Err(error) if store::is_unavailable(&error) => return Err(error),
        Err(error) => {
            tracing::error!(%error, command = command.name(), "a command failed on its own; only it was rolled back");
            Err(DepotError::Storage(error))
        }
    };
    // If the transaction itself is gone, this fails and the batch aborts.
    roll_back_command(conn).await?;
    sqlx::query("RELEASE command").execute(&mut *conn).await?;
    Ok((answer, Committed::default()))
}

/// Undoes what the running command wrote so far; its savepoint stays open.
/// Bookings use it to keep a refusal's idempotency record and nothing else,
/// without a nested savepoint (two statements fewer per booking).
pub(super) async fn roll_back_command(conn: &mut SqliteConnection) -> Result<(), sqlx::Error> {
    sqlx::query("ROLLBACK TO command")
        .execute(&mut *conn)
        .await
        .map(drop)
}

impl Command {
    pub(super) fn name(&self) -> &'static str {
        match self {
            Command::Book(_) => "book",
            Command::CreateArticle { .. } => "create article",
            Command::PutArticle { .. } => "put article",
            Command::CreateLocation(_) => "create location",
            Command::PutLocation(_) => "put location",
            Command::ImportArticles { .. } => "import articles",
            Command::ImportLocations(_) => "import locations",
            Command::AddUser { .. } => "add user",
            Command::RevokeUser { .. } => "revoke user",
            Command::NoteUse { .. } => "note use",
            Command::SetMeta { .. } => "set meta",
            Command::SetPassword { .. } => "set password",
            Command::LoginFailed { .. } => "login failed",
            Command::OpenSession { .. } => "open session",
            Command::CloseSession { .. } => "close session",
            Command::IngestGate(_) => "ingest gate events",
            Command::AdvanceFeed(_) => "advance feed",
            Command::ResolvePass { .. } => "resolve gate pass",
            Command::CreateDelivery { .. } => "create delivery",
            Command::CloseDelivery { .. } => "close delivery",
            Command::Ping => "ping",
            #[cfg(test)]
            Command::Panic => "panic",
        }
    }
}

async fn execute(
    conn: &mut SqliteConnection,
    windows: &mut GateWindows,
    command: &Command,
    now: OffsetDateTime,
    changes: &mut Committed,
) -> Result<Result<Done, DepotError>, sqlx::Error> {
    Ok(match command {
        Command::Book(submission) => match booking::book(conn, submission, now).await? {
            Ok(answer) => {
                if let (Ok(movements), false) = (&answer.outcome, answer.replayed) {
                    changes.movements.extend(movements.iter().cloned());
                }
                Ok(Done::Booked(answer))
            }
            Err(error) => Err(error),
        },
        Command::CreateArticle { article, cleared } => {
            if let Some(existing) = store::articles::get(conn, article.sku.as_str()).await? {
                return Ok(Err(
                    if *cleared || existing.classification == Classification::Open {
                        DepotError::Exists {
                            what: "article",
                            key: article.sku.to_string(),
                        }
                    } else {
                        hidden_clash()
                    },
                ));
            }
            put_articles(conn, std::slice::from_ref(article), *cleared, now, changes).await?
        }
        Command::PutArticle { article, cleared } => {
            put_articles(conn, std::slice::from_ref(article), *cleared, now, changes).await?
        }
        Command::ImportArticles { articles, cleared } => {
            match put_articles(conn, articles, *cleared, now, changes).await? {
                Ok(_) => Ok(Done::Count(articles.len())),
                Err(error) => Err(error),
            }
        }
        Command::CreateLocation(location) => {
            if store::locations::get(conn, location.code.as_str())
                .await?
                .is_some()
            {
                return Ok(Err(DepotError::Exists {
                    what: "location",
                    key: location.code.to_string(),
                }));
            }
            put_locations(conn, std::slice::from_ref(location), now, changes).await?
        }
        Command::PutLocation(location) => {
            put_locations(conn, std::slice::from_ref(location), now, changes).await?
        }
        Command::ImportLocations(locations) => {
            match put_locations(conn, locations, now, changes).await? {
                Ok(_) => Ok(Done::Count(locations.len())),
                Err(error) => Err(error),
            }
        }
        Command::AddUser {
            name,
            role,
            restricted,
            token_hash,
            expires_at,
        } => Ok(Done::Applied(
            store::users::add(conn, name, *role, *restricted, token_hash, *expires_at, now).await?,
        )),
        Command::NoteUse { name } => {
            store::users::note_use(conn, name, now).await?;
            Ok(Done::Applied(true))
        }
        Command::RevokeUser { name } => {
            let revoked = store::users::revoke(conn, name, now).await?;
            store::sessions::close_all_of(conn, name).await?;
            Ok(Done::Applied(revoked))
        }
        Command::SetMeta { key, value } => {
            store::set_meta(conn, key, value).await?;
            Ok(Done::Applied(true))
        }
        Command::SetPassword { .. }
        | Command::LoginFailed { .. }
        | Command::OpenSession { .. }
        | Command::CloseSession { .. } => super::sessions::execute(conn, command, now).await?,
        Command::IngestGate(read) => Ok(Done::Ingested(
            gate::ingest(conn, windows, read, now, changes).await?,
        )),
        Command::AdvanceFeed(cursor) => super::feed::advance(conn, *cursor, now).await?,
        Command::ResolvePass {
            caller,
            pass_id,
            request,
        } => {
            // A resolution names a pass's article: its weight counts from now on.
            windows.forget();
            gate::resolve(conn, caller, *pass_id, request, now, changes)
                .await?
                .map(Done::Booked)
        }
        Command::CreateDelivery { caller, delivery } => {
            super::delivery::create(conn, caller, delivery, now)
                .await?
                .map(Done::Applied)
        }
        Command::CloseDelivery { reference } => super::delivery::close(conn, reference, now)
            .await?
            .map(Done::Applied),
        Command::Ping => Ok(Done::Applied(true)),
        #[cfg(test)]
        Command::Panic => panic!("injected by a test"),
    })
}

/// The conflict an uncleared writer gets for a clash with a restricted
/// article: it names neither that article nor its classification.
fn hidden_clash() -> DepotError {
    DepotError::Conflict("the SKU or GTIN is already in use".into())
}

/// Creates or replaces articles; a GTIN that belongs to another article is a
/// conflict, and so, for a writer without clearance, is any clash with a
/// restricted article. Answers whether the (last) article was new.
async fn put_articles(
    conn: &mut SqliteConnection,
    articles: &[Article],
    cleared: bool,
    now: OffsetDateTime,
    changes: &mut Committed,
) -> Result<Result<Done, DepotError>, sqlx::Error> {
    let hidden = |a: &Article| !cleared && a.classification == Classification::Restricted;
    let mut created = false;
    for article in articles {
        if store::articles::get(conn, article.sku.as_str())
            .await?
            .is_some_and(|existing| hidden(&existing))
        {
            return Ok(Err(hidden_clash()));
        }
        if let Some(gtin) = &article.gtin {
            if let Some(owner) = store::articles::by_gtin14(conn, &gtin.to_gtin14()).await? {
                if owner.sku != article.sku && hidden(&owner) {
                    return Ok(Err(hidden_clash()));
                }
                if owner.sku != article.sku {
                    return Ok(Err(DepotError::Conflict(format!(
                        "GTIN {} belongs to article '{}'",
                        gtin.as_str(),
                        owner.sku
                    ))));
                }
            }
        }
        super::feed::article_changing(conn, article, now).await?;
        created = store::articles::upsert(conn, article, now).await?;
        changes.articles.push(article.clone());
    }
    Ok(Ok(Done::Applied(created)))
}

/// Creates or replaces locations; answers whether the (last) one was new.
async fn put_locations(
    conn: &mut SqliteConnection,
    locations: &[Location],
    now: OffsetDateTime,
    changes: &mut Committed,
) -> Result<Result<Done, DepotError>, sqlx::Error> {
    let mut created = false;
    for location in locations {
        created = store::locations::upsert(conn, location, now).await?;
        super::feed::location_changed(conn, location, now).await?;
        changes.locations.push(location.clone());
    }
    Ok(Ok(Done::Applied(created)))
}

/// Deletes expired idempotency records, a chunk per transaction; returns
/// when to look again (soon if there is more to delete).
async fn purge(conn: &mut Option<SqliteConnection>, context: &WriterContext) -> Duration {
    let Some(conn) = conn.as_mut() else {
        return PURGE_EVERY;
    };
    let clock = context
        .health
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clock;
    if clock != ClockState::Plausible {
        // Ages measured by a wrong clock could expire every record at once.
        tracing::warn!(
            clock = clock.as_str(),
            "the clock is not plausible; idempotency records are not expired now"
        );
        return PURGE_EVERY;
    }
    let cutoff = OffsetDateTime::now_utc() - context.idempotency_retention;
    let result = async {
        sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
        match store::idempotency::purge_older_than(conn, cutoff, PURGE_CHUNK).await {
            Ok(deleted) => {
                sqlx::query("COMMIT").execute(&mut *conn).await?;
                Ok(deleted)
            }
            Err(error) => {
                let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
                Err(error)
            }
        }
    }
    .await;
    match result {
        Ok(deleted) => {
            if deleted > 0 {
                context.metrics.idempotency_expired.inc_by(deleted);
                tracing::info!(deleted, %cutoff, "expired idempotency records deleted");
            }
            if deleted == PURGE_CHUNK as u64 {
                Duration::from_millis(200)
            } else {
                PURGE_EVERY
            }
        }
        Err(error) => {
            tracing::warn!(%error, "cannot delete expired idempotency records; trying again later");
            Duration::from_secs(60)
        }
    }
}

/// When this program was built (`build.rs`): the earliest plausible time.
fn built() -> OffsetDateTime {
    env!("BUILD_UNIX_SECONDS")
        .parse()
        .ok()
        .and_then(|secs| OffsetDateTime::from_unix_timestamp(secs).ok())
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// The time the newest movement was stamped with, if there is one.
async fn newest_movement_time(conn: &mut Option<SqliteConnection>) -> Option<OffsetDateTime> {
    let conn = conn.as_mut()?;
    let last = store::ledger::last_seq(conn).await.ok()?;
    let newest = store::ledger::movements_by_seq(conn, &[last]).await.ok()?;
    newest.first().map(|m| m.recorded_at)
}

/// Judges the clock before a batch stamps its movements; logs and reports changes.
fn note_clock(clock: &mut ClockWatch, context: &WriterContext, now: OffsetDateTime) {
    let state = clock.observe(now);
    let previous = context
        .health
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clock;
    if state.as_str() == previous.as_str() {
        return;
    }
    match state {
        ClockState::Plausible => tracing::info!("the clock is plausible again"),
        ClockState::BeforeBuild => tracing::warn!(%now,
            "the clock is before this program's build: movements keep their seq order, their times are wrong"),
        ClockState::Behind(by) => tracing::warn!(%now, behind_s = by.whole_seconds(),
            "the clock is behind times already written: movements keep their seq order, their times are wrong"),
    }
    update_health(&context.health, |h| {
        h.clock = state;
        h.clock_since = Some(now);
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::depot::{operator, BookingInput, Depot, DepotOptions};
    use crate::domain::article::{Classification, Sku, Unit};
    use crate::domain::booking::{BookingRequest, MovementKind, Source};
    use crate::domain::location::{Capacity, LocationCode, LocationKind};
    use crate::domain::quantity::{Lot, Quantity};

    fn receive(quantity: i64, reason: Option<&str>) -> Submission {
        Submission {
            caller: operator("test"),
            source: Source::Api,
            idempotency: None,
            input: BookingInput::Count(BookingRequest {
                kind: MovementKind::Receive,
                sku: Sku::parse("ART-1").expect("sku"),
                quantity: Quantity::new(quantity).expect("quantity"),
                from: None,
                to: Some(LocationCode::parse("B-1").expect("code")),
                lot: Lot::none(),
                epcs: Vec::new(),
                reason: reason.map(str::to_owned),
            }),
        }
    }

    /// A depot with one article and one location, on a fresh file.
    async fn depot(
        dir: &tempfile::TempDir,
        options: DepotOptions,
    ) -> (Depot, super::super::Writer) {
        let path = dir.path().join("depot.db");
        let (depot, writer) = Depot::open(&path, &options, Arc::new(Metrics::default()))
            .await
            .expect("open");
        let boss = operator("test");
        depot
            .put_location(
                &boss,
                Location {
                    code: LocationCode::parse("B-1").expect("code"),
                    zone: "B".into(),
                    kind: LocationKind::Bin,
                    capacity: Capacity::default(),
                },
            )
            .await
            .expect("location");
        depot
            .put_article(
                &boss,
                Article {
                    sku: Sku::parse("ART-1").expect("sku"),
                    name: "Article".into(),
                    unit: Unit::Piece,
                    gtin: None,
                    nsn: None,
                    supply_class: None,
                    classification: Classification::Open,
                    unit_weight_g: None,
                    unit_volume_ml: None,
                    lot_tracked: false,
                    expiry_tracked: false,
                },
            )
            .await
            .expect("article");
        (depot, writer)
    }

    fn job(submission: Submission) -> Job {
        let (reply, _answer) = oneshot::channel();
        Job {
            command: Command::Book(submission),
            reply,
        }
    }

    /// Regression: any database error inside one booking used to abort the
    /// whole group commit and fail every booking batched with it.
    #[tokio::test]
    async fn a_booking_that_trips_a_database_constraint_fails_alone() {
        let dir = tempfile::tempdir().expect("dir");
        let (depot, _writer) = depot(&dir, DepotOptions::default()).await;
        let path = dir.path().join("depot.db");
        let mut conn = store::open_writer(&path, &StoreOptions::default())
            .await
            .expect("conn");
        // A rule the domain does not know: the database refuses this reason.
        sqlx::query(
            "CREATE TRIGGER poison BEFORE INSERT ON movements WHEN NEW.reason = 'poison'
             BEGIN SELECT RAISE(ABORT, 'poisoned'); END",
        )
        .execute(&mut conn)
        .await
        .expect("trigger");
        let batch = vec![
            job(receive(1, None)),
            job(receive(2, Some("poison"))),
            job(receive(3, None)),
        ];
        let (answers, committed) = commit_batch(
            &mut conn,
            &mut None,
            &mut GateWindows::default(),
            &batch,
            OffsetDateTime::now_utc(),
        )
        .await
        .expect("the batch commits");
        assert!(
            matches!(answers[1], Err(DepotError::Storage(_))),
            "{:?}",
            answers[1]
        );
        let seqs: Vec<i64> = committed.movements.iter().map(|m| m.seq).collect();
        assert_eq!(
            seqs,
            vec![1, 2],
            "gapless: the poisoned booking left no seq behind"
        );
        for (answer, quantity) in [(&answers[0], 1), (&answers[2], 3)] {
            let Ok(Done::Booked(booked)) = answer else {
                panic!("booked: {answer:?}");
            };
            let movements = booked.outcome.as_ref().expect("movements");
            assert_eq!(movements[0].quantity, quantity);
        }
        let mut read = depot.pool.acquire().await.expect("read");
        assert_eq!(store::ledger::last_seq(&mut read).await.expect("seq"), 2);
        assert!(store::ledger::ledger_mismatches(&mut read)
            .await
            .expect("check")
            .is_empty());
    }

    /// Regression: bookings were counted as committed before COMMIT, so a
    /// failed commit still showed up as written.
    #[tokio::test]
    async fn a_full_database_fails_the_batch_counts_nothing_and_says_full() {
        let dir = tempfile::tempdir().expect("dir");
        let (depot, writer) = depot(&dir, DepotOptions::default()).await;
        depot.book(receive(1, None)).await.expect("first");
        let (_, (used_kib, _)) = depot.storage_status().await.expect("size");
        depot.close().await;
        drop(depot);
        writer.finished().await;

        let mut options = DepotOptions::default();
        options.store.max_page_count = Some(used_kib / 4 + 8);
        let path = dir.path().join("depot.db");
        let metrics = Arc::new(Metrics::default());
        let (depot, _writer) = Depot::open(&path, &options, metrics.clone())
            .await
            .expect("reopen capped");
        let huge = "x".repeat(200_000);
        let error = depot
            .book(receive(1, Some(&huge)))
            .await
            .expect_err("does not fit");
        assert!(matches!(error, DepotError::Unavailable(_)), "{error:?}");
        assert_eq!(metrics.bookings_committed.get(), 0);
        assert_eq!(metrics.storage_errors.get(), 1);
        let health = depot.writer_health();
        assert!(health.database_full, "{health:?}");
        assert!(!health.stopped);
        assert_eq!(depot.last_seq().await.expect("seq"), 1);
    }

    #[tokio::test]
    async fn the_writer_recovers_from_a_panic_and_goes_on() {
        let dir = tempfile::tempdir().expect("dir");
        let (depot, _writer) = depot(&dir, DepotOptions::default()).await;
        let error = depot.submit(Command::Panic).await.expect_err("panicked");
        assert!(matches!(error, DepotError::Storage(_)), "{error:?}");
        let booked = depot.book(receive(5, None)).await.expect("booked after");
        assert_eq!(booked.outcome.expect("movements")[0].seq, 1);
        let health = depot.writer_health();
        assert_eq!(health.restarts, 1);
        assert!(!health.stopped);
        assert!(health
            .last_failure
            .is_some_and(|(_, what)| what.contains("injected by a test")));
        assert_eq!(depot.metrics().writer_restarts.get(), 1);
    }

    #[tokio::test]
    async fn each_commit_is_published_after_it_is_durable() {
        let dir = tempfile::tempdir().expect("dir");
        let (depot, _writer) = depot(&dir, DepotOptions::default()).await;
        let mut commits = depot.subscribe();
        let booked = depot.book(receive(4, None)).await.expect("booked");
        let seq = booked.outcome.expect("movements")[0].seq;
        let committed = commits.recv().await.expect("published");
        assert_eq!(committed.movements.len(), 1);
        assert_eq!(committed.movements[0].seq, seq);
        // Published means committed: a reader on another connection sees it.
        assert_eq!(depot.last_seq().await.expect("seq"), seq);
        assert_eq!(depot.metrics().ledger_last_seq.get(), seq);
        // A refusal changes nothing and publishes nothing.
        let mut issue = receive(1_000, None);
        if let BookingInput::Count(request) = &mut issue.input {
            request.kind = MovementKind::Issue;
            request.from = request.to.take();
        }
        let refused = depot.book(issue).await.expect("answered");
        assert!(refused.outcome.is_err());
        assert!(matches!(
            commits.try_recv(),
            Err(broadcast::error::TryRecvError::Empty)
        ));
    }

    #[tokio::test]
    async fn expired_idempotency_records_are_purged_at_start() {
        let dir = tempfile::tempdir().expect("dir");
        let (depot, writer) = depot(&dir, DepotOptions::default()).await;
        let mut keyed = receive(1, None);
        keyed.idempotency = Some(("key-1".into(), "hash".into()));
        let first = depot.book(keyed.clone()).await.expect("first");
        assert!(!first.replayed);
        assert!(depot.book(keyed.clone()).await.expect("again").replayed);
        sqlx::query("UPDATE idempotency_records SET created_at = '2026-01-01T00:00:00Z'")
            .execute(&depot.pool)
            .await
            .expect("age the record");
        depot.close().await;
        drop(depot);
        writer.finished().await;

        let path = dir.path().join("depot.db");
        let metrics = Arc::new(Metrics::default());
        let (depot, _writer) = Depot::open(&path, &DepotOptions::default(), metrics.clone())
            .await
            .expect("reopen");
        let after = depot.book(keyed).await.expect("after expiry");
        assert!(!after.replayed, "an expired key books anew");
        assert_eq!(after.outcome.expect("movements")[0].seq, 2);
        assert_eq!(metrics.idempotency_expired.get(), 1);
    }

    /// Records written by schema 1 (an HTTP status and body) are migrated:
    /// a 201 becomes the movements' seqs, a refusal is replayed as it was.
    #[tokio::test]
    async fn records_of_schema_1_are_migrated_and_replayed() {
        let dir = tempfile::tempdir().expect("dir");
        let v1 = dir.path().join("v1");
        std::fs::create_dir(&v1).expect("dir");
        let first = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../migrations/0001_inventory.sql"
        );
        std::fs::copy(first, v1.join("0001_inventory.sql")).expect("copy");
        let path = dir.path().join("depot.db");
        let pool = sqlx::SqlitePool::connect_with(
            sqlx::sqlite::SqliteConnectOptions::new()
                .filename(&path)
                .create_if_missing(true),
        )
        .await
        .expect("create");
        sqlx::migrate::Migrator::new(v1.as_path())
            .await
            .expect("schema 1")
            .run(&pool)
            .await
            .expect("migrate to 1");
        let problem = r#"{"type":"urn:depot-edge:problem:insufficient-stock","title":"Conflict","status":409,"detail":"only 0 of ART-1 available at B-1, 5 requested"}"#;
        for statement in [
            "INSERT INTO articles (sku, name, unit, classification, created_at, updated_at) VALUES ('ART-1', 'A', 'piece', 'open', '', '')",
            "INSERT INTO locations (code, zone, kind, created_at, updated_at) VALUES ('B-1', 'B', 'bin', '', '')",
            "INSERT INTO movements (seq, kind, sku, quantity, to_location, actor, source, idempotency_key, recorded_at) VALUES (1, 'receive', 'ART-1', 3, 'B-1', 'test', 'handheld', 'k-201', '2026-11-30T10:00:00Z')",
            "INSERT INTO idempotency (actor, key, request_hash, status, response, created_at) VALUES ('test', 'k-201', 'h1', 201, '{\"movements\":[{\"seq\":1,\"kind\":\"receive\"}]}', strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))",
        ] {
            sqlx::query(statement).execute(&pool).await.expect(statement);
        }
        sqlx::query("INSERT INTO idempotency (actor, key, request_hash, status, response, created_at) VALUES ('test', 'k-409', 'h2', 409, ?, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))")
            .bind(problem)
            .execute(&pool)
            .await
            .expect("old refusal");
        pool.close().await;

        let (depot, _writer) = Depot::open(
            &path,
            &DepotOptions::default(),
            Arc::new(Metrics::default()),
        )
        .await
        .expect("migrate to the newest schema");
        let mut retry = receive(3, None);
        retry.caller = operator("test");
        retry.idempotency = Some(("k-201".into(), "h1".into()));
        let replayed = depot.book(retry.clone()).await.expect("replayed");
        assert!(replayed.replayed);
        let movements = replayed.outcome.expect("booked");
        assert_eq!((movements[0].seq, movements[0].quantity), (1, 3));
        retry.idempotency = Some(("k-409".into(), "h2".into()));
        let refused = depot.book(retry).await.expect("replayed");
        assert!(refused.replayed);
        assert_eq!(
            refused.outcome,
            Err(crate::depot::Refusal::Recorded {
                status: 409,
                body: problem.to_owned()
            })
        );
        assert_eq!(
            depot.last_seq().await.expect("seq"),
            1,
            "nothing booked anew"
        );
    }
}
