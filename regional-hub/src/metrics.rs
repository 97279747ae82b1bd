//! The hub's metrics, registered once with `prometheus-client` and exposed
//! at `/metrics` in the Prometheus text format. The feed counts what this
//! instance applied; the per-depot figures are set from the store at each
//! scrape (so on a shared PostgreSQL every instance shows the same region).
//! It owns no logic: the feed counts, `/metrics` sets and renders.

use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use time::OffsetDateTime;

use crate::core::Freshness;
use crate::store::DepotFeed;

/// The `Content-Type` of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// A label set naming one depot.
pub type DepotLabel = [(&'static str, String); 1];
/// A label set naming what applying a feed message did.
pub type OutcomeLabel = [(&'static str, &'static str); 1];

/// Every figure of the hub.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// `hub_feed_messages_total{outcome}`: messages this instance handled:
    /// `applied`, `unchanged` (a duplicate or an older snapshot), `refused`
    /// (unreadable; acknowledged and dropped).
    pub feed_messages: Family<OutcomeLabel, Counter>,
    /// `hub_feed_connected`: 1 while subscribed to the broker.
    pub feed_connected: Gauge,
    /// `hub_resend_requests_total`: requests to depots to send missing movements again.
    pub resend_requests: Counter,
    depot_last_seq: Family<DepotLabel, Gauge>,
    depot_newest_seq: Family<DepotLabel, Gauge>,
    depot_missing_seqs: Family<DepotLabel, Gauge>,
    depot_online: Family<DepotLabel, Gauge>,
    depot_fresh: Family<DepotLabel, Gauge>,
    depot_age_seconds: Family<DepotLabel, Gauge>,
    depot_lost_movements: Family<DepotLabel, Gauge>,
    depot_history_diverged: Family<DepotLabel, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut metrics = Metrics {
            registry: Registry::default(),
            feed_messages: Family::default(),
            feed_connected: Gauge::default(),
            resend_requests: Counter::default(),
            depot_last_seq: Family::default(),
            depot_newest_seq: Family::default(),
            depot_missing_seqs: Family::default(),
            depot_online: Family::default(),
            depot_fresh: Family::default(),
            depot_age_seconds: Family::default(),
            depot_lost_movements: Family::default(),
            depot_history_diverged: Family::default(),
        };
        for outcome in ["applied", "unchanged", "refused"] {
            drop(metrics.feed_messages.get_or_create(&[("outcome", outcome)]));
        }
        let registry = &mut metrics.registry;
        registry.register(
            "hub_feed_messages",
            "Feed messages this instance handled, by outcome",
            metrics.feed_messages.clone(),
        );
        registry.register(
            "hub_feed_connected",
            "1 while the feed is subscribed at the broker",
            metrics.feed_connected.clone(),
        );
        registry.register(
            "hub_resend_requests",
            "Requests to depots to send missing movements again",
            metrics.resend_requests.clone(),
        );
        registry.register(
            "hub_depot_last_seq",
            "Every seq up to this one is applied",
            metrics.depot_last_seq.clone(),
        );
        registry.register(
            "hub_depot_newest_seq",
            "The newest seq applied or reported by the depot",
            metrics.depot_newest_seq.clone(),
        );
        registry.register(
            "hub_depot_missing_seqs",
            "Seqs missing below the newest applied one (the gaps)",
            metrics.depot_missing_seqs.clone(),
        );
        registry.register(
            "hub_depot_online",
            "1 while the depot's status is online",
            metrics.depot_online.clone(),
        );
        registry.register(
            "hub_depot_fresh",
            "1 while the depot is heard from within the stale limit",
            metrics.depot_fresh.clone(),
        );
        registry.register(
            "hub_depot_age_seconds",
            "Seconds since the hub last heard from the depot",
            metrics.depot_age_seconds.clone(),
        );
        registry.register(
            "hub_depot_lost_movements",
            "Movements the hub had applied that the depot's latest restore took away",
            metrics.depot_lost_movements.clone(),
        );
        registry.register(
            "hub_depot_history_diverged",
            "1 when a chain hash contradicted what the hub held: a history rewritten without a restore",
            metrics.depot_history_diverged.clone(),
        );
        metrics
    }
}

impl Metrics {
    /// Counts one feed message by what applying it did.
    pub fn count(&self, outcome: &'static str) {
        self.feed_messages
            .get_or_create(&[("outcome", outcome)])
            .inc();
    }

    /// Sets the per-depot figures from the depots' feeds at `now`.
    pub fn set_depots(&self, depots: &[DepotFeed], now: OffsetDateTime) {
        for depot in depots {
            let label = [("depot", depot.depot.clone())];
            let missing: u64 = depot.gaps.iter().map(|(from, to)| to - from + 1).sum();
            let online = matches!(depot.link, Some((feed_contract::LinkState::Online, _)));
            self.depot_last_seq
                .get_or_create(&label)
                .set(depot.contiguous_seq);
            self.depot_newest_seq
                .get_or_create(&label)
                .set(depot.newest_seq);
            self.depot_missing_seqs
                .get_or_create(&label)
                .set(i64::try_from(missing).unwrap_or(i64::MAX));
            self.depot_online
                .get_or_create(&label)
                .set(i64::from(online));
            self.depot_fresh
                .get_or_create(&label)
                .set(i64::from(depot.freshness == Freshness::Fresh));
            self.depot_age_seconds
                .get_or_create(&label)
                .set((now - depot.last_message).whole_seconds().max(0));
            self.depot_lost_movements
                .get_or_create(&label)
                .set(depot.restored.as_ref().map_or(0, |r| r.lost_count));
            self.depot_history_diverged
                .get_or_create(&label)
                .set(i64::from(depot.diverged.is_some()));
        }
    }

    /// Renders the Prometheus exposition text (see [`CONTENT_TYPE`]).
    pub fn render(&self) -> String {
        let mut text = String::new();
        if let Err(error) = prometheus_text::encode(&mut text, &self.registry) {
            // Writing to a String fails only if an encoder reports an error of its own.
            tracing::error!(%error, "cannot render the metrics");
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn renders_counters_and_depot_figures() {
        let metrics = Metrics::default();
        metrics.count("applied");
        metrics.count("applied");
        let now = datetime!(2026-12-01 10:00 UTC);
        metrics.set_depots(
            &[DepotFeed {
                depot: "north-1".into(),
                contiguous_seq: 4,
                newest_seq: 9,
                gaps: vec![(5, 6), (8, 8)],
                movements_applied: 6,
                duplicates: 0,
                link: Some((feed_contract::LinkState::Online, now)),
                last_message: now - time::Duration::seconds(3),
                freshness: Freshness::Fresh,
                epoch: None,
                restored: Some(crate::store::DepotRestore {
                    at: Some(now),
                    noticed: Some(now),
                    lost: Some((11, 17)),
                    lost_count: 7,
                }),
                diverged: None,
            }],
            now,
        );
        let text = metrics.render();
        for line in [
            "hub_feed_messages_total{outcome=\"applied\"} 2",
            "hub_feed_messages_total{outcome=\"refused\"} 0",
            "hub_depot_last_seq{depot=\"north-1\"} 4",
            "hub_depot_missing_seqs{depot=\"north-1\"} 3",
            "hub_depot_online{depot=\"north-1\"} 1",
            "hub_depot_age_seconds{depot=\"north-1\"} 3",
            "hub_depot_lost_movements{depot=\"north-1\"} 7",
            "hub_depot_history_diverged{depot=\"north-1\"} 0",
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
    }
}
