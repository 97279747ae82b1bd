//! The feed to regional hubs (brief §6): a publisher task that sends the
//! ledger's movements and the retained stock, utilisation and status
//! snapshots to the broker at QoS 1, and moves the durable cursor only over
//! what the broker acknowledged.
//!
//! - `outbound.rs`: the sans-IO core (order, window, coalescing, cursor).
//! - `payload.rs`: domain values → topics and versioned JSON (`feed-contract`).
//! - `mqtt.rs`: the rumqttc adapter.
//!
//! This file only moves data between them: it reads through the `Depot`
//! façade, never writes except through the writer (`Depot::advance_feed`),
//! and wakes on the after-commit broadcast, never by polling the database.

mod mqtt;
pub mod outbound;
pub mod payload;

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use feed_contract::payload::LinkState as WireState;
use feed_contract::{DepotId, ResendRequest, MAX_RESEND};
use time::OffsetDateTime;
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;

pub use self::mqtt::{Broker, Tls};
use self::mqtt::{Link, LinkOptions};
use self::outbound::{Change, Outbound, Position, Send, Snapshot, Token};
use self::payload::Message;
use crate::depot::{Depot, DepotError, FeedChange, FeedCursor, FeedMovement, LinkState};
use crate::domain::article::Sku;
use crate::domain::chain::ChainHead;
use crate::domain::epoch::FeedEpoch;
use crate::repeat_log::RepeatLog;

/// How the publisher runs; from the configuration (`mqtt_*` keys).
#[derive(Debug, Clone)]
pub struct Settings {
    pub depot: DepotId,
    pub broker: Broker,
    /// For `mqtts://`.
    pub tls: Option<Tls>,
    /// Messages in flight at most.
    pub window: u16,
    pub keep_alive: Duration,
}

/// How long the cursor may lag behind the PUBACKs before it is written:
/// one small write per interval, however many messages were acknowledged.
const PERSIST_EVERY: Duration = Duration::from_millis(250);
/// Outbox rows read at once (each is only a key).
const OUTBOX_CHUNK: i64 = 1_000;
/// The first and the longest wait before connecting again.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(200), Duration::from_secs(5));
/// How long a stop waits for the broker to acknowledge `offline`.
const GOODBYE: Duration = Duration::from_secs(2);

/// A movement as the core carries it: the row, its article's
/// classification and its chain link.
type Item = FeedMovement;

/// How a session ended.
enum Ended {
    Stopped,
    Lost(String),
}

/// Runs the feed until `stop` turns true: connect, send, reconnect after
/// any failure with a growing pause, resend from the oldest unacknowledged.
pub async fn run(depot: Depot, settings: Settings, mut stop: watch::Receiver<bool>) {
    // Subscribe before the first read, so no commit falls between them.
    let mut commits = depot.subscribe();
    let failures = RepeatLog::new(Duration::from_secs(60));
    let (cursor, epoch) = loop {
        match tokio::try_join!(depot.feed_cursor(), depot.feed_epoch()) {
            Ok(read) => break read,
            Err(error) => {
                if let Some(repeats) = failures.note("feed cursor") {
                    tracing::error!(%error, repeats, "the feed cannot read its cursor; retrying");
                }
                if pause(&mut stop, Duration::from_secs(1)).await {
                    return;
                }
            }
        }
    };
    let mut core = Outbound::new(
        usize::from(settings.window),
        Position {
            ledger_seq: cursor.ledger_seq,
            outbox_id: cursor.outbox_id,
        },
    );
    let mut saved = core.cursor();
    let mut backoff = BACKOFF.0;
    tracing::info!(broker = ?settings.broker, depot = %settings.depot, from_seq = cursor.ledger_seq + 1,
        epoch = %epoch.id.to_hex(), generation = epoch.generation, "feed starting");
    loop {
        set_state(&depot, LinkState::Connecting, None);
        let mut session = Running {
            depot: &depot,
            settings: &settings,
            epoch: &epoch,
            core: &mut core,
            saved: &mut saved,
            backoff: &mut backoff,
        };
        let ended = session.run(&mut commits, &mut stop).await;
        core.disconnected();
        save(&depot, &core, &mut saved).await;
        depot.report_uplink(|live| live.in_flight = 0);
        match ended {
            Ended::Stopped => {
                set_state(&depot, LinkState::Offline, Some("stopped".into()));
                tracing::info!(acked_seq = saved.ledger_seq, "feed stopped");
                return;
            }
            Ended::Lost(error) => {
                depot.metrics().feed_disconnects.inc();
                if let Some(repeats) = failures.note("feed link") {
                    tracing::warn!(%error, repeats, retry_in_ms = backoff.as_millis() as u64,
                        "feed link lost; bookings go on and are sent when it is back");
                }
                set_state(&depot, LinkState::Offline, Some(error));
            }
        }
        if pause(&mut stop, backoff).await {
            set_state(&depot, LinkState::Offline, Some("stopped".into()));
            return;
        }
        backoff = (backoff * 2).min(BACKOFF.1);
    }
}

/// Waits `duration`; true if `stop` came first.
async fn pause(stop: &mut watch::Receiver<bool>, duration: Duration) -> bool {
    if *stop.borrow() {
        return true;
    }
    tokio::select! {
        () = tokio::time::sleep(duration) => false,
        _ = stop.changed() => true,
    }
}

fn set_state(depot: &Depot, state: LinkState, error: Option<String>) {
    let now = OffsetDateTime::now_utc();
    depot
        .metrics()
        .feed_connected
        .set(i64::from(state == LinkState::Online));
    depot.report_uplink(|live| {
        if live.state != state {
            live.state = state;
            live.since = Some(now);
        }
        if error.is_some() {
            live.last_error = error;
        }
    });
}

/// Writes the cursor if the core allows it to move.
async fn save(depot: &Depot, core: &Outbound<Item>, saved: &mut Position) {
    let cursor = core.cursor();
    if cursor == *saved {
        return;
    }
    let target = FeedCursor {
        ledger_seq: cursor.ledger_seq,
        outbox_id: cursor.outbox_id,
    };
    match depot.advance_feed(target).await {
        Ok(()) => *saved = cursor,
        // Not saved means only that more is resent after a restart.
        Err(error) => tracing::warn!(%error, "cannot save the feed cursor; trying again"),
    }
}

/// One connection's worth of state.
struct Running<'a> {
    depot: &'a Depot,
    settings: &'a Settings,
    /// The database's epoch: fixed while it serves (a restore needs it stopped).
    epoch: &'a FeedEpoch,
    core: &'a mut Outbound<Item>,
    saved: &'a mut Position,
    backoff: &'a mut Duration,
}

/// Packet ids ↔ the core's tokens for one connection. rumqttc numbers
/// publishes in the order they were queued; `None` is the goodbye status,
/// which the core does not track.
#[derive(Default)]
struct Numbers {
    unnumbered: VecDeque<Option<Token>>,
    numbered: HashMap<u16, Option<Token>>,
}

impl Running<'_> {
    async fn run(
        &mut self,
        commits: &mut broadcast::Receiver<std::sync::Arc<crate::depot::Committed>>,
        stop: &mut watch::Receiver<bool>,
    ) -> Ended {
        let now = OffsetDateTime::now_utc();
        let head = match self.depot.chain_head().await {
            Ok(head) => head,
            Err(error) => return Ended::Lost(error.to_string()),
        };
        let will = payload::status(
            &self.settings.depot,
            self.epoch,
            head,
            WireState::Offline,
            now,
        );
        let options = LinkOptions {
            client_id: format!("depot-{}", self.settings.depot),
            keep_alive: self.settings.keep_alive,
            window: self.settings.window,
            requests: feed_contract::resend_topic(&self.settings.depot),
        };
        let (session, mut links) = mqtt::connect(
            &self.settings.broker,
            self.settings.tls.as_ref(),
            &options,
            &will,
        );
        // Nothing is built or queued before the broker accepts the connection.
        let mut online = false;
        let mut numbers = Numbers::default();
        let mut more_to_read = true;
        let mut save_at: Option<Instant> = None;
        let mut last_save = Instant::now();
        loop {
            if more_to_read && self.core.room() > 0 {
                match self.read().await {
                    Ok(more) => more_to_read = more,
                    Err(error) => return Ended::Lost(format!("reading the feed: {error}")),
                }
            }
            while let Some((token, send)) = online.then(|| self.core.poll_send()).flatten() {
                match self.build(send).await {
                    Ok(Some(message)) => {
                        if let Err(error) = session.publish(message) {
                            return Ended::Lost(error);
                        }
                        numbers.unnumbered.push_back(Some(token));
                        self.depot.metrics().feed_published.inc();
                    }
                    // Nothing to say (an article that no longer reads): owed nothing.
                    Ok(None) => {
                        self.core.acked(token);
                    }
                    Err(error) => return Ended::Lost(format!("reading the feed: {error}")),
                }
            }
            let in_flight = self.core.in_flight();
            self.depot.report_uplink(|live| live.in_flight = in_flight);
            if self.core.cursor() != *self.saved {
                if last_save.elapsed() >= PERSIST_EVERY {
                    save(self.depot, self.core, self.saved).await;
                    last_save = Instant::now();
                    save_at = None;
                } else if save_at.is_none() {
                    save_at = Some(last_save + PERSIST_EVERY);
                }
            }
            if more_to_read && self.core.room() > 0 {
                continue;
            }
            tokio::select! {
                link = links.recv() => {
                    if link == Some(Link::Connected) {
                        online = true;
                        self.core.connected();
                    }
                    if let Some(Link::Request(payload)) = link {
                        if let Err(error) = self.resend(&payload).await {
                            return Ended::Lost(format!("reading the feed: {error}"));
                        }
                    } else if let Some(ended) = self.handle(link, &mut numbers) {
                        return ended;
                    }
                }
                commit = commits.recv() => match commit {
                    // A receiver that lagged has missed wake-ups, not data: the ledger has it.
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => more_to_read = true,
                    Err(broadcast::error::RecvError::Closed) => {
                        return self.goodbye(session, &mut links, &mut numbers, head).await;
                    }
                },
                _ = stop.changed() => return self.goodbye(session, &mut links, &mut numbers, head).await,
                () = sleep_until(save_at) => save_at = None,
            }
        }
    }

    /// Applies one link event; `Some` when the session is over.
    fn handle(&mut self, link: Option<Link>, numbers: &mut Numbers) -> Option<Ended> {
        match link {
            Some(Link::Connected) => {
                *self.backoff = BACKOFF.0;
                set_state(self.depot, LinkState::Online, None);
                tracing::info!(broker = ?self.settings.broker, "feed connected");
            }
            Some(Link::Sent(pkid)) => {
                if let Some(token) = numbers.unnumbered.pop_front() {
                    numbers.numbered.insert(pkid, token);
                }
            }
            Some(Link::Acked(pkid)) => {
                if let Some(Some(token)) = numbers.numbered.remove(&pkid) {
                    self.core.acked(token);
                    self.depot.metrics().feed_acked.inc();
                    let now = OffsetDateTime::now_utc();
                    self.depot
                        .report_uplink(|live| live.last_puback = Some(now));
                }
            }
            // Answered in `run`; while saying goodbye, not at all.
            Some(Link::Request(_)) => {}
            Some(Link::Lost(error)) => return Some(Ended::Lost(error)),
            None => return Some(Ended::Lost("the MQTT event loop ended".into())),
        }
        None
    }

    /// A clean stop: `offline` (retained) instead of the Last Will. Waits
    /// briefly for its PUBACK, taking the PUBACKs before it on the way (so
    /// the cursor saved next covers them), then DISCONNECT.
    async fn goodbye(
        &mut self,
        session: mqtt::Session,
        links: &mut tokio::sync::mpsc::UnboundedReceiver<Link>,
        numbers: &mut Numbers,
        head_at_connect: ChainHead,
    ) -> Ended {
        let now = OffsetDateTime::now_utc();
        // The head at connect (the Last Will's) if the database does not answer.
        let head = self.depot.chain_head().await.unwrap_or(head_at_connect);
        let offline = payload::status(
            &self.settings.depot,
            self.epoch,
            head,
            WireState::Offline,
            now,
        );
        if session.publish(offline).is_ok() {
            numbers.unnumbered.push_back(None);
            let deadline = Instant::now() + GOODBYE;
            loop {
                let waiting = numbers.unnumbered.contains(&None)
                    || numbers.numbered.values().any(Option::is_none);
                if !waiting {
                    break;
                }
                match tokio::time::timeout_at(deadline, links.recv()).await {
                    Ok(link) => {
                        if self.handle(link, numbers).is_some() {
                            break;
                        }
                    }
                    Err(_) => break,
                }
            }
        }
        session.disconnect();
        Ended::Stopped
    }

    /// A hub's request to send movements again that it misses
    /// (`feed_contract::ResendRequest`): for this depot's epoch, only seqs
    /// the broker acknowledged (later ones go out anyway), at most
    /// `MAX_RESEND`. A request that does not read or is not for this
    /// depot's epoch is logged and ignored.
    async fn resend(&mut self, payload: &[u8]) -> Result<(), DepotError> {
        let request: ResendRequest = match serde_json::from_slice(payload) {
            Ok(request) => request,
            Err(error) => {
                tracing::warn!(%error, "a resend request that does not read; ignored");
                return Ok(());
            }
        };
        let epoch = self.epoch.id.to_hex();
        if request.depot != self.settings.depot.as_str() || request.epoch.as_str() != epoch {
            tracing::info!(depot = %request.depot, epoch = %request.epoch,
                "a resend request for another depot or epoch; ignored");
            return Ok(());
        }
        let acknowledged = self.core.cursor().ledger_seq.max(0).unsigned_abs();
        let from = request.from.max(1);
        let to = request.to.min(acknowledged).min(from + (MAX_RESEND - 1));
        if to < from {
            return Ok(());
        }
        let (after, count) = (i64::try_from(from - 1), i64::try_from(to - from + 1));
        let (Ok(after), Ok(count)) = (after, count) else {
            return Ok(());
        };
        let movements = self.depot.feed_movements(after, count).await?;
        let taken = self.core.push_resends(
            movements
                .into_iter()
                .map(|item| (item.movement.seq, item.movement.sku.to_string(), item)),
        );
        self.depot.metrics().feed_resent.inc_by(taken as u64);
        tracing::info!(
            from,
            to,
            taken,
            "the hub misses movements; sending them again"
        );
        Ok(())
    }

    /// Reads what the core has room for; true if the ledger may hold more.
    async fn read(&mut self) -> Result<bool, DepotError> {
        let read = self.core.read();
        let outbox = self.depot.feed_outbox(read.outbox_id, OUTBOX_CHUNK).await?;
        let full_outbox = outbox.len() as i64 == OUTBOX_CHUNK;
        self.core.push_outbox(outbox.into_iter().map(|entry| {
            let change = match entry.change {
                FeedChange::Article { sku, reclassified } => Change::Article {
                    sku: sku.to_string(),
                    reclassified,
                },
                FeedChange::Location(_) => Change::Location,
            };
            (entry.id, change)
        }));
        let room = self.core.room();
        let limit = i64::try_from(room).unwrap_or(i64::MAX);
        let movements = self.depot.feed_movements(read.ledger_seq, limit).await?;
        let full = movements.len() == room;
        self.core.push_movements(
            movements
                .into_iter()
                .map(|item| (item.movement.seq, item.movement.sku.to_string(), item)),
        );
        Ok(full || full_outbox)
    }

    /// The message for what the core wants sent; `None` if there is nothing to say.
    async fn build(&self, send: Send<Item>) -> Result<Option<Message>, DepotError> {
        let depot = &self.settings.depot;
        let now = OffsetDateTime::now_utc();
        Ok(match send {
            Send::Status => {
                let head = self.depot.chain_head().await?;
                Some(payload::status(
                    depot,
                    self.epoch,
                    head,
                    WireState::Online,
                    now,
                ))
            }
            Send::Movement(_, item) => Some(payload::movement(depot, self.epoch, &item)),
            Send::Snapshot(Snapshot::Stock(sku)) => match Sku::parse(&sku) {
                Ok(sku) => self
                    .depot
                    .feed_stock(&sku)
                    .await?
                    .map(|stock| payload::stock(depot, self.epoch, &stock, now)),
                Err(_) => None,
            },
            Send::Snapshot(Snapshot::Clear(sku)) => match Sku::parse(&sku) {
                Ok(sku) => self
                    .depot
                    .feed_stock(&sku)
                    .await?
                    .map(|stock| payload::clear(depot, &stock.article)),
                Err(_) => None,
            },
            Send::Snapshot(Snapshot::Utilization) => {
                let (seq, locations) = self.depot.feed_utilization().await?;
                Some(payload::utilization(
                    depot, self.epoch, seq, &locations, now,
                ))
            }
        })
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
