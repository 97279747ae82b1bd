//! Process-wide counters, exposed at `/metrics` in the Prometheus text format.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counters; each is monotonic except where named a gauge.
#[derive(Debug, Default)]
pub struct Metrics {
    pub bookings_committed: AtomicU64,
    pub bookings_refused: AtomicU64,
    pub bookings_replayed: AtomicU64,
    pub booking_batches: AtomicU64,
    pub storage_errors: AtomicU64,
    /// HTTP responses by status class 1xx..5xx (index 0..4).
    pub http_responses: [AtomicU64; 5],
}

impl Metrics {
    /// Adds one to a counter.
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one HTTP response.
    pub fn count_response(&self, status: u16) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        Self::inc(&self.http_responses[class]);
    }

    /// Renders the Prometheus exposition text; `last_seq` is a gauge read from the database.
    pub fn render(&self, last_seq: i64) -> String {
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
                "Write transactions (group commits) of the booking writer.",
                &self.booking_batches,
            ),
            (
                "depot_storage_errors_total",
                "Database errors (disk full, locked, I/O).",
                &self.storage_errors,
            ),
        ];
        for (name, help, value) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                value.load(Ordering::Relaxed)
            );
        }
        let name = "depot_http_responses_total";
        let _ = writeln!(
            out,
            "# HELP {name} HTTP responses by status class.\n# TYPE {name} counter"
        );
        for (i, value) in self.http_responses.iter().enumerate() {
            let _ = writeln!(
                out,
                "{name}{{class=\"{}xx\"}} {}",
                i + 1,
                value.load(Ordering::Relaxed)
            );
        }
        let name = "depot_ledger_last_seq";
        let _ = writeln!(out, "# HELP {name} The seq of the newest ledger movement.\n# TYPE {name} gauge\n{name} {last_seq}");
        out
    }
}
