//! Logging a failure that repeats per request once per interval, with a
//! count, instead of once per request: a full database refusing 2,000
//! bookings writes two lines to the SD card, not 4,000.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Decides when a repeating event is worth a log line.
#[derive(Debug)]
pub struct RepeatLog {
    interval: Duration,
    events: Mutex<HashMap<&'static str, Window>>,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    logged_at: Instant,
    suppressed: u64,
}

impl RepeatLog {
    /// Logs each kind of event at most once per `interval`.
    pub fn new(interval: Duration) -> Self {
        Self {
            interval,
            events: Mutex::new(HashMap::new()),
        }
    }

    /// Notes one occurrence of `event` now; see [`RepeatLog::note_at`].
    pub fn note(&self, event: &'static str) -> Option<u64> {
        self.note_at(event, Instant::now())
    }

    /// Notes one occurrence of `event` at `now`. Returns `Some(n)` when it
    /// should be logged, `n` being how many occurrences since the last line
    /// went unlogged; `None` when it should stay quiet.
    pub fn note_at(&self, event: &'static str, now: Instant) -> Option<u64> {
        let mut events = self.events.lock().unwrap_or_else(|p| p.into_inner());
        match events.get_mut(event) {
            Some(window) if now.saturating_duration_since(window.logged_at) < self.interval => {
                window.suppressed += 1;
                None
            }
            Some(window) => {
                let suppressed = window.suppressed;
                *window = Window {
                    logged_at: now,
                    suppressed: 0,
                };
                Some(suppressed)
            }
            None => {
                events.insert(
                    event,
                    Window {
                        logged_at: now,
                        suppressed: 0,
                    },
                );
                Some(0)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_the_first_then_one_line_per_interval_with_the_count() {
        let log = RepeatLog::new(Duration::from_secs(60));
        let start = Instant::now();
        assert_eq!(log.note_at("full", start), Some(0));
        for i in 1..=1_932 {
            let at = start + Duration::from_millis(i * 30);
            assert_eq!(log.note_at("full", at), None, "occurrence {i}");
        }
        assert_eq!(
            log.note_at("full", start + Duration::from_secs(61)),
            Some(1_932)
        );
        assert_eq!(log.note_at("full", start + Duration::from_secs(62)), None);
    }

    #[test]
    fn each_event_has_its_own_window() {
        let log = RepeatLog::new(Duration::from_secs(60));
        let now = Instant::now();
        assert_eq!(log.note_at("a", now), Some(0));
        assert_eq!(log.note_at("b", now), Some(0));
        assert_eq!(log.note_at("a", now), None);
    }
}
