//! The rumqttc adapter, kept thin: one persistent session (clean_session
//! false, QoS 1) subscribed to every depot's feed, each message parsed and
//! applied by the store, and only then acknowledged (manual acks). What
//! arrived while the last transaction ran is applied in the next one: under
//! load one commit carries many messages. A message
//! the hub had not committed when it stopped is redelivered by the broker;
//! one it had committed but not acknowledged comes again and is a duplicate,
//! which the store applies as nothing. While the hub is down the broker
//! queues the session's messages, so nothing published meanwhile is lost.
//! `mqtts://` runs over rustls: the broker verified by the configured CA
//! and its host name or IP address, with the hub's client certificate if
//! one is configured (a broker that grades access takes its CN as the
//! hub's identity, see `deploy/mosquitto/`).

use std::sync::Arc;
use std::time::Duration;

use feed_contract::topic::filters;
pub use feed_contract::{Broker, Tls};
use feed_contract::{EpochId, ResendRequest, V2};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, Publish, QoS, TlsConfiguration, Transport};
use time::OffsetDateTime;
use tokio::sync::{mpsc, watch};

use crate::core::message;
use crate::core::resend::{Ask, DepotGaps, ResendPlanner};
use crate::metrics::Metrics;
use crate::store::{Outcome, Store};

/// How the feed connects.
#[derive(Debug, Clone)]
pub struct Settings {
    pub broker: Broker,
    /// The CA and client certificate for `mqtts://`; `None` for `mqtt://`.
    pub tls: Option<Tls>,
    /// Names the persistent session; the same across restarts.
    pub client_id: String,
    pub keep_alive: Duration,
    /// The shared-subscription group, if this instance shares the feed with others.
    pub share_group: Option<String>,
    /// How often to look for missing movements (`core::resend`).
    pub resend_after: Duration,
}

/// The topic filter the hub subscribes to: every depot's feed, through the
/// group's shared subscription when it has one. The broker then hands each
/// message to one instance of the group; messages of one depot may reach
/// different instances and arrive out of order, which the store's
/// per-depot serialisation and the (depot, seq) key make harmless. MQTT
/// delivers no retained messages to a shared subscription: a new group
/// learns each snapshot when its depot next publishes it.
pub fn filter(share_group: Option<&str>) -> String {
    match share_group {
        Some(group) => format!("$share/{group}/{}", filters::ALL),
        None => filters::ALL.to_owned(),
    }
}

/// The first and the longest wait before connecting again.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(200), Duration::from_secs(5));
/// The largest payload accepted (a utilisation snapshot of a big depot).
const MAX_PACKET_BYTES: usize = 1024 * 1024;
/// The most messages applied in one transaction. The broker's in-flight
/// window for the hub's session (`max_inflight_messages`) bounds what can
/// be waiting, so a batch is at most that many.
const MAX_BATCH: usize = 1000;

/// Runs the feed until `stop` resolves; `connected` is true from the
/// subscription's SUBACK until the link is lost; `metrics` counts.
pub async fn run(
    store: Store,
    settings: Settings,
    connected: watch::Sender<bool>,
    metrics: Arc<Metrics>,
    stop: impl std::future::Future<Output = ()>,
) {
    let mut options = MqttOptions::new(
        &settings.client_id,
        &settings.broker.host,
        settings.broker.port,
    );
    options
        .set_keep_alive(settings.keep_alive)
        .set_clean_session(false)
        .set_manual_acks(true)
        .set_max_packet_size(MAX_PACKET_BYTES, MAX_PACKET_BYTES);
    if let Some((user, password)) = &settings.broker.credentials {
        options.set_credentials(user, password);
    }
    if let Some(tls) = &settings.tls {
        options.set_transport(Transport::tls_with_config(TlsConfiguration::Simple {
            ca: tls.ca.clone(),
            alpn: None,
            client_auth: tls.client.clone(),
        }));
    }
    let filter = filter(settings.share_group.as_deref());
    let (client, mut eventloop) = AsyncClient::new(options, 64);
    let asker = ask_for_missing(
        store.clone(),
        client.clone(),
        connected.subscribe(),
        metrics.clone(),
        settings.resend_after,
    );
    eventloop.network_options.set_connection_timeout(5);
    // Unbounded, yet bounded in practice by the broker's in-flight window for
    // QoS 1: it sends no more until the hub acknowledges.
    let (received, mut to_apply) = mpsc::unbounded_channel::<Publish>();
    let poller = {
        let client = client.clone();
        let metrics = metrics.clone();
        async move {
            let mut backoff = BACKOFF.0;
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                        tracing::info!(session_present = ack.session_present, "feed connected");
                        backoff = BACKOFF.0;
                        // Subscribing again on a present session is harmless; the
                        // retained snapshots it brings are ordered by the store.
                        if let Err(error) = client.try_subscribe(&filter, QoS::AtLeastOnce) {
                            tracing::warn!(%error, "feed subscribe failed");
                        }
                    }
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        // Receiving from now on: what `/healthz` calls connected.
                        connected.send_replace(true);
                        metrics.feed_connected.set(1);
                    }
                    Ok(Event::Incoming(Packet::Publish(publish))) => {
                        if received.send(publish).is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(error) => {
                        connected.send_replace(false);
                        metrics.feed_connected.set(0);
                        tracing::warn!(%error, retry_in_ms = backoff.as_millis() as u64, "feed connection lost");
                        // A pause between attempts, not a wait for a condition.
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(BACKOFF.1);
                    }
                }
            }
        }
    };
    let applier = async move {
        let mut publishes = Vec::with_capacity(MAX_BATCH);
        while to_apply.recv_many(&mut publishes, MAX_BATCH).await > 0 {
            for outcome in apply(&store, &publishes).await {
                metrics.count(outcome);
            }
            // In the order received, as MQTT asks of QoS 1 acknowledgements.
            for publish in publishes.drain(..) {
                if let Err(error) = client.ack(&publish).await {
                    tracing::warn!(%error, "feed ack failed");
                    return;
                }
            }
        }
    };
    tokio::select! {
        () = poller => {}
        () = applier => {}
        () = asker => {}
        () = stop => {}
    }
}

/// Every `every`, while connected: looks at each depot's gaps and asks the
/// depots for the seqs missing at two looks in a row (`core::resend`), on
/// `hub/v1/{depot}/resend`. Several instances sharing the feed may each
/// ask; a depot sends again what is asked, and the store applies it once.
async fn ask_for_missing(
    store: Store,
    client: AsyncClient,
    connected: watch::Receiver<bool>,
    metrics: Arc<Metrics>,
    every: Duration,
) {
    let mut planner = ResendPlanner::default();
    let mut looks = tokio::time::interval(every);
    looks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        looks.tick().await;
        if !*connected.borrow() {
            continue;
        }
        let now = OffsetDateTime::now_utc();
        let depots = match store.depots(now, time::Duration::ZERO).await {
            Ok(depots) => depots,
            Err(error) => {
                tracing::warn!(%error, "cannot read the depots' gaps; looking again later");
                continue;
            }
        };
        let gaps = depots
            .into_iter()
            .filter_map(|depot| {
                Some(DepotGaps {
                    epoch: depot.epoch?.id,
                    gaps: depot.gaps.iter().map(|(from, to)| *from..=*to).collect(),
                    depot: depot.depot,
                })
            })
            .collect();
        for ask in planner.plan(gaps) {
            let Some(request) = request(&ask, now) else {
                continue;
            };
            let topic = match feed_contract::DepotId::parse(&ask.depot) {
                Some(depot) => feed_contract::resend_topic(&depot),
                None => continue,
            };
            tracing::info!(depot = %ask.depot, from = ask.seqs.start(), to = ask.seqs.end(),
                "movements still missing; asking the depot to send them again");
            if let Err(error) = client
                .publish(topic, QoS::AtLeastOnce, false, request)
                .await
            {
                tracing::warn!(%error, "cannot ask for missing movements; looking again later");
                break;
            }
            metrics.resend_requests.inc();
        }
    }
}

/// The payload of one request.
fn request(ask: &Ask, now: OffsetDateTime) -> Option<Vec<u8>> {
    let request = ResendRequest {
        v: V2,
        depot: ask.depot.clone(),
        epoch: EpochId::parse(&ask.epoch)?,
        from: *ask.seqs.start(),
        to: *ask.seqs.end(),
        time: now,
    };
    serde_json::to_vec(&request).ok()
}

/// Applies what has arrived, retrying a database failure until it
/// commits: a message is acknowledged only once applied (or refused as
/// unreadable). The readable ones go in one transaction; should that fail,
/// each is applied on its own, so one message the database refuses holds
/// up only itself. Returns each publish's outcome as a metrics label.
async fn apply(store: &Store, publishes: &[Publish]) -> Vec<&'static str> {
    let mut outcomes = vec!["refused"; publishes.len()];
    let mut readable = Vec::with_capacity(publishes.len());
    let mut messages = Vec::with_capacity(publishes.len());
    for (index, publish) in publishes.iter().enumerate() {
        match message::parse(&publish.topic, &publish.payload) {
            Ok(message) => {
                readable.push(index);
                messages.push(message);
            }
            Err(refused) => tracing::warn!(%refused, "feed message refused"),
        }
    }
    if messages.is_empty() {
        return outcomes;
    }
    match store
        .apply_batch(&messages, OffsetDateTime::now_utc())
        .await
    {
        Ok(applied) => {
            for (index, outcome) in readable.into_iter().zip(applied) {
                tracing::debug!(topic = %publishes[index].topic, ?outcome, "feed message");
                outcomes[index] = label(outcome);
            }
        }
        Err(error) => {
            tracing::warn!(%error, messages = messages.len(), "feed batch not applied; applying one by one");
            for (index, message) in readable.into_iter().zip(&messages) {
                outcomes[index] = apply_one(store, &publishes[index].topic, message).await;
            }
        }
    }
    outcomes
}

/// Applies one message, retrying a database failure until it commits.
async fn apply_one(store: &Store, topic: &str, message: &message::Message) -> &'static str {
    let mut backoff = BACKOFF.0;
    loop {
        match store.apply(message, OffsetDateTime::now_utc()).await {
            Ok(outcome) => {
                tracing::debug!(%topic, ?outcome, "feed message");
                return label(outcome);
            }
            Err(error) => {
                tracing::error!(%error, %topic, "feed message not applied; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(BACKOFF.1);
            }
        }
    }
}

/// An outcome's metrics label.
fn label(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Applied => "applied",
        Outcome::Unchanged => "unchanged",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_share_group_wraps_the_feed_filter() {
        assert_eq!(filter(None), "depot/v1/+/#");
        assert_eq!(filter(Some("hubs")), "$share/hubs/depot/v1/+/#");
    }
}
