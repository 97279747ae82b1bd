//! The feed's side of the façade: what the publisher reads (ledger
//! movements after its cursor, outbox rows, the current stock of an article,
//! utilisation), the writer command that advances the cursor after PUBACKs,
//! the outbox rows written with master-data changes, and the uplink state
//! that `/healthz`, `/metrics` and `/api/v1/uplink` report.
//!
//! It reads and writes nothing of the broker: `replication/` does that. The
//! feed reads without a caller's role: it is the depot's own uplink, and the
//! topic split (open / restricted) is its access control.

use sqlx::SqliteConnection;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::writer::{Command, Done};
use super::{Depot, DepotError};
use crate::domain::article::{Article, Classification, Sku};
use crate::domain::chain::ChainHash;
use crate::domain::ledger::Movement;
use crate::domain::location::{Location, LocationCode};
use crate::domain::utilization::Utilization;
use crate::domain::FieldError;
use crate::store;
pub use crate::store::feed::Cursor as FeedCursor;

/// A master-data change waiting in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedChange {
    /// An article changed; `reclassified` if its classification did.
    Article {
        sku: Sku,
        reclassified: bool,
    },
    Location(LocationCode),
}

/// A ledger movement as the feed publishes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedMovement {
    pub movement: Movement,
    /// Its article's classification now (picks the audience).
    pub classification: Classification,
    /// Its chain hash and the one before it.
    pub hash: ChainHash,
    pub prev: ChainHash,
}

/// One outbox row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    pub id: i64,
    pub change: FeedChange,
}

/// An article and its current stock, as a stock snapshot needs them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArticleStock {
    pub article: Article,
    /// The seq of the article's newest movement; 0 if none.
    pub last_seq: i64,
    /// Quantity per zone, zones with stock only, in zone order.
    pub zones: Vec<(String, i64)>,
}

/// The connection as the publisher last reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LinkState {
    /// No broker configured.
    #[default]
    Off,
    /// Connecting (first attempt, or again after a failure).
    Connecting,
    /// Connected: the broker acknowledged the connection.
    Online,
    /// Not connected; the publisher retries.
    Offline,
}

impl LinkState {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkState::Off => "off",
            LinkState::Connecting => "connecting",
            LinkState::Online => "online",
            LinkState::Offline => "offline",
        }
    }
}

/// What only the running publisher knows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UplinkLive {
    pub state: LinkState,
    /// When `state` last changed.
    pub since: Option<OffsetDateTime>,
    /// The last PUBACK received.
    pub last_puback: Option<OffsetDateTime>,
    /// Messages sent and not yet acknowledged.
    pub in_flight: usize,
    /// Why the last connection failed or ended (never with credentials).
    pub last_error: Option<String>,
}

/// The feed's state: the durable cursor and backlog from the database, the
/// connection from the publisher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UplinkStatus {
    pub live: UplinkLive,
    pub acked: FeedCursor,
    /// When the cursor last moved.
    pub acked_at: Option<OffsetDateTime>,
    /// The ledger's newest seq.
    pub last_seq: i64,
    /// Movements not yet acknowledged (`last_seq - acked.ledger_seq`).
    pub backlog_movements: i64,
    /// Outbox rows not yet acknowledged.
    pub backlog_outbox: i64,
    /// The oldest movement not acknowledged: its seq and when it was recorded.
    pub oldest_unacked: Option<(i64, OffsetDateTime)>,
}

impl Depot {
    /// The acknowledged feed position.
    pub async fn feed_cursor(&self) -> Result<FeedCursor, DepotError> {
        let mut conn = self.pool.acquire().await?;
        Ok(store::feed::cursor(&mut conn).await?.0)
    }

    /// Ledger movements after `after_seq` in seq order, at most `limit`,
    /// each with its article's classification now and its chain link.
    pub async fn feed_movements(
        &self,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<FeedMovement>, DepotError> {
        let mut conn = self.pool.acquire().await?;
        let movements = store::ledger::movements_after(&mut conn, after_seq, limit, true).await?;
        let last = movements.last().map_or(after_seq, |m| m.seq);
        let mut hashes = std::collections::HashMap::new();
        for (seq, hash) in store::chain::hashes(&mut conn, after_seq, last).await? {
            if let Some(hash) = hash {
                hashes.insert(seq, hash);
            }
        }
        hashes.insert(0, ChainHash::GENESIS);
        let mut known: Vec<(Sku, Classification)> = Vec::new();
        let mut out = Vec::with_capacity(movements.len());
        for movement in movements {
            let classification = match known.iter().find(|(sku, _)| *sku == movement.sku) {
                Some((_, classification)) => *classification,
                None => {
                    // The ledger refers to its articles (foreign key): a
                    // missing one is a damaged database, kept out of open topics.
                    let classification = store::articles::get(&mut conn, movement.sku.as_str())
                        .await?
                        .map_or(Classification::Restricted, |a| a.classification);
                    known.push((movement.sku.clone(), classification));
                    classification
                }
            };
            // Committed movements are sealed in the transaction that wrote
            // them; one without a hash is a damaged database.
            let link = |seq: i64| {
                hashes.get(&seq).copied().ok_or_else(|| {
                    store::corrupt(
                        "movements",
                        FieldError::new("hash", format!("seq {seq} has no chain hash")),
                    )
                })
            };
            out.push(FeedMovement {
                hash: link(movement.seq)?,
                prev: link(movement.seq - 1)?,
                movement,
                classification,
            });
        }
        Ok(out)
    }

    /// Outbox rows after `after_id`, oldest first, at most `limit`.
    pub async fn feed_outbox(
        &self,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<OutboxEntry>, DepotError> {
        let mut conn = self.pool.acquire().await?;
        let rows = store::feed::outbox_after(&mut conn, after_id, limit).await?;
        rows.into_iter()
            .map(|row| {
                let change = match row.kind.as_str() {
                    "article" => Sku::parse(&row.key).map(|sku| FeedChange::Article {
                        sku,
                        reclassified: row.reclassified,
                    }),
                    _ => LocationCode::parse(&row.key).map(FeedChange::Location),
                };
                let change = store::checked("feed_outbox", change)?;
                Ok(OutboxEntry { id: row.id, change })
            })
            .collect()
    }

    /// An article with its current stock; `None` if there is no such article.
    pub async fn feed_stock(&self, sku: &Sku) -> Result<Option<ArticleStock>, DepotError> {
        let mut conn = self.pool.acquire().await?;
        let Some(article) = store::articles::get(&mut conn, sku.as_str()).await? else {
            return Ok(None);
        };
        let (last_seq, zones) = store::feed::stock_by_zone(&mut conn, sku.as_str()).await?;
        Ok(Some(ArticleStock {
            article,
            last_seq,
            zones,
        }))
    }

    /// Utilisation per location (all stock), with the ledger's newest seq.
    pub async fn feed_utilization(
        &self,
    ) -> Result<(i64, Vec<(Location, Utilization)>), DepotError> {
        let mut conn = self.pool.acquire().await?;
        let seq = store::ledger::last_seq(&mut conn).await?;
        let rows = store::ledger::usage_by_location(&mut conn).await?;
        Ok((
            seq,
            rows.into_iter()
                .map(|(location, used)| {
                    let fill = Utilization::of(location.capacity, used);
                    (location, fill)
                })
                .collect(),
        ))
    }

    /// Records that the broker acknowledged everything up to `cursor`.
    pub async fn advance_feed(&self, cursor: FeedCursor) -> Result<(), DepotError> {
        self.submit(Command::AdvanceFeed(cursor)).await?;
        Ok(())
    }

    /// Lets the publisher update what it reports.
    pub fn report_uplink(&self, change: impl FnOnce(&mut UplinkLive)) {
        let mut live = self.uplink.lock().unwrap_or_else(|p| p.into_inner());
        change(&mut live);
    }

    /// What the publisher last reported (no database read).
    pub fn uplink_live(&self) -> UplinkLive {
        self.uplink
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The feed's state: cursor, backlog, lag and connection.
    pub async fn uplink_status(&self) -> Result<UplinkStatus, DepotError> {
        let live = self.uplink_live();
        let mut conn = self.pool.acquire().await?;
        let (acked, acked_at) = store::feed::cursor(&mut conn).await?;
        let last_seq = store::ledger::last_seq(&mut conn).await?;
        let backlog_outbox = store::feed::outbox_len(&mut conn).await?;
        let oldest = store::feed::recorded_after(&mut conn, acked.ledger_seq).await?;
        let parse = |text: &str| {
            store::checked(
                "feed",
                OffsetDateTime::parse(text, &Rfc3339)
                    .map_err(|e| crate::domain::FieldError::new("time", e.to_string())),
            )
        };
        Ok(UplinkStatus {
            live,
            acked,
            acked_at: acked_at.as_deref().map(parse).transpose()?,
            last_seq,
            backlog_movements: (last_seq - acked.ledger_seq).max(0),
            backlog_outbox,
            oldest_unacked: oldest
                .as_deref()
                .map(parse)
                .transpose()?
                .map(|at| (acked.ledger_seq + 1, at)),
        })
    }
}

/// The writer's part: moves the cursor (inside its transaction).
pub(super) async fn advance(
    conn: &mut SqliteConnection,
    cursor: FeedCursor,
    now: OffsetDateTime,
) -> Result<Result<Done, DepotError>, sqlx::Error> {
    store::feed::advance(conn, cursor, now).await?;
    Ok(Ok(Done::Applied(true)))
}

/// Notes an article about to be written for the feed, in the change's
/// transaction (before the write: it compares the old classification).
pub(super) async fn article_changing(
    conn: &mut SqliteConnection,
    article: &Article,
    now: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    let sku = article.sku.as_str();
    let reclassified = store::articles::get(conn, sku)
        .await?
        .is_some_and(|old| old.classification != article.classification);
    store::feed::record(conn, "article", sku, reclassified, now).await
}

/// Notes a changed location for the feed, in the change's transaction.
pub(super) async fn location_changed(
    conn: &mut SqliteConnection,
    location: &Location,
    now: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    store::feed::record(conn, "location", location.code.as_str(), false, now).await
}
