//! Process-wide counters, exposed at `/metrics` in the Prometheus text format.

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// A monotonic counter.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds one.
    pub fn inc(&self) {
        self.inc_by(1);
    }

    /// Adds `n`.
    pub fn inc_by(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// The current value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down.
#[derive(Debug, Default)]
pub struct Gauge(AtomicI64);

impl Gauge {
    /// Sets the value.
    pub fn set(&self, value: i64) {
        self.0.store(value, Ordering::Relaxed);
    }

    /// The current value.
    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A histogram of observations over fixed buckets.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    buckets: Vec<AtomicU64>,
    count: AtomicU64,
    sum_milli: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            buckets: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_milli: AtomicU64::new(0),
        }
    }

    /// Records one observation.
    pub fn observe(&self, value: f64) {
        for (bound, bucket) in self.bounds.iter().zip(&self.buckets) {
            if value <= *bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_milli
            .fetch_add((value * 1000.0) as u64, Ordering::Relaxed);
    }
}

/// The process's metrics.
#[derive(Debug)]
pub struct Metrics {
    pub bookings_committed: Counter,
    pub bookings_refused: Counter,
    pub bookings_replayed: Counter,
    pub booking_batches: Counter,
    pub storage_errors: Counter,
    pub writer_restarts: Counter,
    pub idempotency_expired: Counter,
    pub ledger_last_seq: Gauge,
    pub booking_batch_size: Histogram,
    /// HTTP responses by status class 1xx..5xx (index 0..4).
    http_responses: [Counter; 5],
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            bookings_committed: Counter::default(),
            bookings_refused: Counter::default(),
            bookings_replayed: Counter::default(),
            booking_batches: Counter::default(),
            storage_errors: Counter::default(),
            writer_restarts: Counter::default(),
            idempotency_expired: Counter::default(),
            ledger_last_seq: Gauge::default(),
            booking_batch_size: Histogram::new(&[
                1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0,
            ]),
            http_responses: Default::default(),
        }
    }
}

impl Metrics {
    /// Counts one HTTP response.
    pub fn count_response(&self, status: u16) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.http_responses[class].inc();
    }

    /// Renders the Prometheus exposition text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let counters = [
            (
                "depot_bookings_committed_total",
                "Bookings written to the ledger.",
                &self.bookings_committed,
            ),
            (
                "depot_bookings_refused_total",
                "Bookings refused by a domain rule.",
                &self.bookings_refused,
            ),
            (
                "depot_bookings_replayed_total",
                "Retried bookings answered from the idempotency record.",
                &self.bookings_replayed,
            ),
            (
                "depot_booking_batches_total",
                "Write transactions (group commits) of the writer.",
                &self.booking_batches,
            ),
            (
                "depot_storage_errors_total",
                "Group commits that failed (disk full, locked, I/O).",
                &self.storage_errors,
            ),
            (
                "depot_writer_restarts_total",
                "Times the writer recovered from a panic.",
                &self.writer_restarts,
            ),
            (
                "depot_idempotency_expired_total",
                "Idempotency records deleted after the retention period.",
                &self.idempotency_expired,
            ),
        ];
        for (name, help, value) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                value.get()
            );
        }
        let name = "depot_http_responses_total";
        let _ = writeln!(
            out,
            "# HELP {name} HTTP responses by status class.\n# TYPE {name} counter"
        );
        for (i, value) in self.http_responses.iter().enumerate() {
            let _ = writeln!(out, "{name}{{class=\"{}xx\"}} {}", i + 1, value.get());
        }
        let name = "depot_ledger_last_seq";
        let _ = writeln!(
            out,
            "# HELP {name} The seq of the newest ledger movement.\n# TYPE {name} gauge\n{name} {}",
            self.ledger_last_seq.get()
        );
        let name = "depot_booking_batch_size";
        let h = &self.booking_batch_size;
        let _ = writeln!(
            out,
            "# HELP {name} Commands per group commit.\n# TYPE {name} histogram"
        );
        for (bound, bucket) in h.bounds.iter().zip(&h.buckets) {
            let _ = writeln!(
                out,
                "{name}_bucket{{le=\"{bound}\"}} {}",
                bucket.load(Ordering::Relaxed)
            );
        }
        let count = h.count.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "{name}_bucket{{le=\"+Inf\"}} {count}\n{name}_sum {}\n{name}_count {count}",
            h.sum_milli.load(Ordering::Relaxed) as f64 / 1000.0
        );
        out
    }
}
