//! Process-wide metrics, registered once with `prometheus-client` and exposed
//! at `/metrics` in the Prometheus text format (version 0.0.4). It owns no
//! logic: the booking writer and the HTTP middleware count, this renders.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// The `Content-Type` of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// HTTP status classes, in the order of `count_response`'s index.
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// The scopes of `depot_http_rate_limited_total`, shown from the start.
const RATE_LIMIT_SCOPES: [&str; 3] = ["token", "address", "login"];

/// A label set naming one gateway.
pub type GatewayLabel = [(&'static str, String); 1];

/// The gate poller's figures, each a family by gateway.
#[derive(Debug, Default)]
pub struct GateMetrics {
    /// `depot_gate_passes_stored_total`: passes stored (booked or not).
    pub passes_stored: Family<GatewayLabel, Counter>,
    /// `depot_gate_events_repeated_total`: events read again after a lost acknowledgement.
    pub events_repeated: Family<GatewayLabel, Counter>,
    /// `depot_gate_events_lost_total`: events the gateway dropped (ring
    /// overflow) or freed before the server stored them.
    pub events_lost: Family<GatewayLabel, Counter>,
    /// `depot_gate_link_errors_total`: timeouts and transport failures.
    pub link_errors: Family<GatewayLabel, Counter>,
    /// `depot_gate_exceptions_total`: Modbus exception answers.
    pub exceptions: Family<GatewayLabel, Counter>,
    /// `depot_gate_malformed_total`: answers that did not decode.
    pub malformed: Family<GatewayLabel, Counter>,
    /// `depot_gate_boots_total`: gateway boots the server named.
    pub boots: Family<GatewayLabel, Counter>,
    /// `depot_gate_online`: 1 while the last poll was answered.
    pub online: Family<GatewayLabel, Gauge>,
    /// `depot_gate_weight_implausible_total`: passes whose scale weight did
    /// not fit the unit weights of the passes in the window.
    pub weight_implausible: Family<GatewayLabel, Counter>,
    /// `depot_gate_gateway_crc_errors`: Modbus frames the gateway dropped
    /// for a bad CRC since its boot, as its status block last said.
    pub gateway_crc_errors: Family<GatewayLabel, Gauge>,
}

impl GateMetrics {
    /// Shows every figure of a gateway from the start, at 0.
    pub fn add_gateway(&self, label: &GatewayLabel) {
        for family in [
            &self.passes_stored,
            &self.events_repeated,
            &self.events_lost,
            &self.link_errors,
            &self.exceptions,
            &self.malformed,
            &self.boots,
            &self.weight_implausible,
        ] {
            drop(family.get_or_create(label));
        }
        drop(self.online.get_or_create(label));
        drop(self.gateway_crc_errors.get_or_create(label));
    }

    fn register(&self, registry: &mut Registry) {
        registry.register(
            "gate_passes_stored",
            "Gate passes stored, booked or not",
            self.passes_stored.clone(),
        );
        registry.register(
            "gate_events_repeated",
            "Gate events read again after a lost acknowledgement (booked nothing)",
            self.events_repeated.clone(),
        );
        registry.register(
            "gate_events_lost",
            "Gate events lost before the server stored them (ring overflow, freed by another master)",
            self.events_lost.clone(),
        );
        registry.register(
            "gate_link_errors",
            "Gateway polls that timed out or hit a transport error",
            self.link_errors.clone(),
        );
        registry.register(
            "gate_exceptions",
            "Gateway polls answered with a Modbus exception",
            self.exceptions.clone(),
        );
        registry.register(
            "gate_malformed",
            "Gateway answers that did not decode",
            self.malformed.clone(),
        );
        registry.register(
            "gate_boots",
            "Gateway boots named by the server",
            self.boots.clone(),
        );
        registry.register(
            "gate_weight_implausible",
            "Gate passes whose scale weight does not fit the unit weights of the passes in the window",
            self.weight_implausible.clone(),
        );
        registry.register(
            "gate_online",
            "1 while the gateway answers its polls",
            self.online.clone(),
        );
        registry.register(
            "gate_gateway_crc_errors",
            "Modbus frames the gateway dropped for a bad CRC since its boot (its status block)",
            self.gateway_crc_errors.clone(),
        );
    }
}

/// The label of one gateway.
pub fn gateway_label(id: &str) -> GatewayLabel {
    [("gateway", id.to_owned())]
}

/// The metrics. Each field is a handle on a metric in the registry (cloning a
/// handle shares the value), so counting is one atomic add.
#[derive(Debug)]
pub struct Metrics {
    /// `depot_bookings_committed_total`.
    pub bookings_committed: Counter,
    /// `depot_bookings_refused_total`.
    pub bookings_refused: Counter,
    /// `depot_bookings_replayed_total`.
    pub bookings_replayed: Counter,
    /// `depot_booking_batches_total`.
    pub booking_batches: Counter,
    /// `depot_storage_errors_total`.
    pub storage_errors: Counter,
    /// `depot_writer_restarts_total`.
    pub writer_restarts: Counter,
    /// `depot_idempotency_expired_total`.
    pub idempotency_expired: Counter,
    /// `depot_backups_taken_total`: scheduled backups written.
    pub backups_taken: Counter,
    /// `depot_backups_failed_total`: scheduled backups that failed.
    pub backups_failed: Counter,
    /// `depot_ledger_last_seq`, set by the booking writer after each commit.
    pub ledger_last_seq: Gauge,
    /// `depot_feed_published_total`: feed messages sent to the broker, resends included.
    pub feed_published: Counter,
    /// `depot_feed_acked_total`: feed messages the broker acknowledged (PUBACK).
    pub feed_acked: Counter,
    /// `depot_feed_resent_total`: movements sent again at a hub's request.
    pub feed_resent: Counter,
    /// `depot_feed_disconnects_total`: feed connections lost or refused.
    pub feed_disconnects: Counter,
    /// `depot_feed_connected`: 1 while the broker has accepted the feed's connection.
    pub feed_connected: Gauge,
    /// `depot_feed_acked_seq`: the ledger seq up to which the broker acknowledged the feed.
    pub feed_acked_seq: Gauge,
    /// `depot_feed_backlog_movements`: movements not yet acknowledged.
    pub feed_backlog_movements: Gauge,
    /// `depot_feed_backlog_outbox`: master-data changes not yet acknowledged.
    pub feed_backlog_outbox: Gauge,
    /// `depot_feed_lag_seconds`: age of the oldest movement not yet acknowledged.
    pub feed_lag_seconds: Gauge,
    /// `depot_booking_batch_size`: bookings per group commit.
    pub booking_batch_size: Histogram,
    /// `depot_writer_busy_seconds_total`: time the writer spent on batches
    /// (from the first statement to the COMMIT's return): with the bookings
    /// committed, the writer's own cost per booking, whatever waits outside it.
    pub writer_busy_seconds: Counter<f64, AtomicU64>,
    /// Per-gateway figures of the gate poller, by `gateway` label.
    pub gates: GateMetrics,
    /// `depot_http_request_timeouts_total`: requests answered 503 after the request timeout.
    pub http_request_timeouts: Counter,
    /// `depot_http_responses_total{class}`, one handle per class 1xx..5xx.
    http_responses: [Counter; 5],
    /// `depot_http_rate_limited_total{scope}`: requests refused with 429.
    http_rate_limited: Family<[(&'static str, &'static str); 1], Counter>,
    registry: Registry,
}

impl Default for Metrics {
    fn default() -> Self {
        // prometheus-client adds `_total` to counter names and `.` to help texts.
        let mut registry = Registry::with_prefix("depot");
        let mut counter = |name: &str, help: &str| {
            let counter = Counter::default();
            registry.register(name, help, counter.clone());
            counter
        };
        let bookings_committed = counter("bookings_committed", "Bookings written to the ledger");
        let bookings_refused = counter("bookings_refused", "Bookings refused by a domain rule");
        let bookings_replayed = counter(
            "bookings_replayed",
            "Retried bookings answered from the idempotency record",
        );
        let booking_batches = counter(
            "booking_batches",
            "Write transactions (group commits) of the booking writer",
        );
        let storage_errors = counter("storage_errors", "Database errors (disk full, locked, I/O)");
        let writer_restarts = counter(
            "writer_restarts",
            "Times the booking writer was restarted after it failed",
        );
        let idempotency_expired = counter(
            "idempotency_expired",
            "Idempotency records removed after the retention period",
        );
        let backups_taken = counter("backups_taken", "Scheduled backups written");
        let backups_failed = counter("backups_failed", "Scheduled backups that failed");
        let feed_published = counter(
            "feed_published",
            "Feed messages sent to the broker, resends included",
        );
        let feed_acked = counter(
            "feed_acked",
            "Feed messages the broker acknowledged (PUBACK)",
        );
        let feed_resent = counter(
            "feed_resent",
            "Movements sent again at a hub's request (it missed them)",
        );
        let feed_disconnects = counter("feed_disconnects", "Feed connections lost or refused");
        let http_request_timeouts = counter(
            "http_request_timeouts",
            "Requests answered 503 because they passed the request timeout",
        );
        let mut gauge = |name: &str, help: &str| {
            let gauge = Gauge::default();
            registry.register(name, help, gauge.clone());
            gauge
        };
        let feed_connected = gauge(
            "feed_connected",
            "1 while the broker has accepted the feed's connection",
        );
        let feed_acked_seq = gauge(
            "feed_acked_seq",
            "The ledger seq up to which the broker acknowledged the feed",
        );
        let feed_backlog_movements = gauge(
            "feed_backlog_movements",
            "Ledger movements not yet acknowledged by the broker",
        );
        let feed_backlog_outbox = gauge(
            "feed_backlog_outbox",
            "Master-data changes not yet acknowledged by the broker",
        );
        let feed_lag_seconds = gauge(
            "feed_lag_seconds",
            "Age of the oldest movement not yet acknowledged by the broker",
        );
        let ledger_last_seq = Gauge::default();
        registry.register(
            "ledger_last_seq",
            "The seq of the newest ledger movement",
            ledger_last_seq.clone(),
        );
        // 1, 2, 4, … 256: the writer takes at most 256 bookings per commit.
        let booking_batch_size = Histogram::new(exponential_buckets(1.0, 2.0, 9));
        registry.register(
            "booking_batch_size",
            "Bookings per group commit of the booking writer",
            booking_batch_size.clone(),
        );
        let writer_busy_seconds = Counter::<f64, AtomicU64>::default();
        registry.register(
            "writer_busy_seconds",
            "Seconds the booking writer spent running batches, COMMIT included",
            writer_busy_seconds.clone(),
        );
        let family = Family::<[(&'static str, &'static str); 1], Counter>::default();
        registry.register(
            "http_responses",
            "HTTP responses by status class",
            family.clone(),
        );
        // Every class is created up front, so each is shown from the start, at 0.
        let http_responses = CLASSES.map(|class| family.get_or_create(&[("class", class)]).clone());
        let http_rate_limited = Family::<[(&'static str, &'static str); 1], Counter>::default();
        registry.register(
            "http_rate_limited",
            "Requests refused with 429 by a rate limit, by scope (token, address, login)",
            http_rate_limited.clone(),
        );
        for scope in RATE_LIMIT_SCOPES {
            drop(http_rate_limited.get_or_create(&[("scope", scope)]));
        }
        let gates = GateMetrics::default();
        gates.register(&mut registry);
        Self {
            bookings_committed,
            bookings_refused,
            bookings_replayed,
            booking_batches,
            storage_errors,
            writer_restarts,
            idempotency_expired,
            backups_taken,
            backups_failed,
            feed_published,
            feed_acked,
            feed_resent,
            feed_disconnects,
            feed_connected,
            feed_acked_seq,
            feed_backlog_movements,
            feed_backlog_outbox,
            feed_lag_seconds,
            ledger_last_seq,
            booking_batch_size,
            writer_busy_seconds,
            gates,
            http_request_timeouts,
            http_responses,
            http_rate_limited,
            registry,
        }
    }
}

impl Metrics {
    /// Counts one HTTP response by its status class (below 100 counts as 1xx, above 599 as 5xx).
    pub fn count_response(&self, status: u16) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.http_responses[class].inc();
    }

    /// Counts one request refused with 429 by the limit of `scope`.
    pub fn count_rate_limited(&self, scope: &'static str) {
        self.http_rate_limited
            .get_or_create(&[("scope", scope)])
            .inc();
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

    #[test]
    fn renders_every_metric_under_its_old_name() {
        let metrics = Metrics::default();
        metrics.bookings_committed.inc();
        metrics.bookings_refused.inc_by(2);
        metrics.ledger_last_seq.set(41);
        metrics.booking_batch_size.observe(3.0);
        metrics.count_response(201);
        metrics.count_response(409);
        metrics.count_response(409);
        metrics.count_response(999);
        metrics.count_rate_limited("login");
        let text = metrics.render();
        for line in [
            "# HELP depot_bookings_committed_total Bookings written to the ledger.\n",
            "# TYPE depot_bookings_committed_total counter\n",
            "depot_bookings_committed_total 1\n",
            "depot_bookings_refused_total 2\n",
            "depot_bookings_replayed_total 0\n",
            "depot_booking_batches_total 0\n",
            "# HELP depot_storage_errors_total Database errors (disk full, locked, I/O).\n",
            "depot_storage_errors_total 0\n",
            "depot_writer_restarts_total 0\n",
            "depot_idempotency_expired_total 0\n",
            "# HELP depot_http_responses_total HTTP responses by status class.\n",
            "depot_http_responses_total{class=\"1xx\"} 0\n",
            "depot_http_responses_total{class=\"2xx\"} 1\n",
            "depot_http_responses_total{class=\"4xx\"} 2\n",
            "depot_http_responses_total{class=\"5xx\"} 1\n",
            "depot_http_rate_limited_total{scope=\"token\"} 0\n",
            "depot_http_rate_limited_total{scope=\"login\"} 1\n",
            "depot_http_request_timeouts_total 0\n",
            "# TYPE depot_ledger_last_seq gauge\n",
            "depot_ledger_last_seq 41\n",
            "# TYPE depot_booking_batch_size histogram\n",
            "depot_booking_batch_size_bucket{le=\"2\"} 0\n",
            "depot_booking_batch_size_bucket{le=\"4\"} 1\n",
            "depot_booking_batch_size_bucket{le=\"256\"} 1\n",
            "depot_booking_batch_size_bucket{le=\"+Inf\"} 1\n",
            "depot_booking_batch_size_count 1\n",
        ] {
            assert!(text.contains(line), "{line:?} missing from\n{text}");
        }
        assert!(!text.contains("_total_total"), "{text}");
        assert!(
            !text.contains(".."),
            "help texts end with one period: {text}"
        );
    }
}
