//! A wall clock that may be wrong. A Pi has no battery-backed clock: it may
//! boot offline at 1970 or at its last shutdown time, and NTP may later step
//! it. The ledger's order is its `seq`, never the clock; this watch only
//! tells whether the times being written are plausible, so that the server
//! can say so (`/healthz`, the log) and hold back what a wrong clock would
//! break (expiring idempotency records by age).

use time::{Duration, OffsetDateTime};

/// How far the clock may step back without counting (NTP slews and small steps).
pub const TOLERANCE: Duration = Duration::seconds(2);

/// What the clock looks like now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClockState {
    /// Not before the build, not behind a time already written.
    #[default]
    Plausible,
    /// Before this program was built: certainly wrong.
    BeforeBuild,
    /// Behind the latest time already written, by this much.
    Behind(Duration),
}

impl ClockState {
    /// `ok`, `before_build` or `behind`, as `/healthz` says it.
    pub fn as_str(self) -> &'static str {
        match self {
            ClockState::Plausible => "ok",
            ClockState::BeforeBuild => "before_build",
            ClockState::Behind(_) => "behind",
        }
    }
}

/// Watches the times the writer stamps movements with.
#[derive(Debug, Clone)]
pub struct ClockWatch {
    not_before: OffsetDateTime,
    latest: Option<OffsetDateTime>,
}

impl ClockWatch {
    /// A watch for a program built at `built`, with the latest time already
    /// written (the newest movement), if any.
    pub fn new(built: OffsetDateTime, latest: Option<OffsetDateTime>) -> Self {
        Self {
            not_before: built,
            latest,
        }
    }

    /// Judges `now` and remembers it if it is the latest so far.
    pub fn observe(&mut self, now: OffsetDateTime) -> ClockState {
        let state = if now < self.not_before {
            ClockState::BeforeBuild
        } else {
            match self.latest {
                Some(latest) if now < latest - TOLERANCE => ClockState::Behind(latest - now),
                _ => ClockState::Plausible,
            }
        };
        if self.latest.is_none_or(|latest| now > latest) && state != ClockState::BeforeBuild {
            self.latest = Some(now);
        }
        state
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(seconds: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000 + seconds).unwrap()
    }

    #[test]
    fn a_pi_booted_at_1970_is_before_the_build() {
        let mut watch = ClockWatch::new(at(0), None);
        assert_eq!(
            watch.observe(OffsetDateTime::UNIX_EPOCH),
            ClockState::BeforeBuild
        );
        assert_eq!(watch.observe(at(10)), ClockState::Plausible);
    }

    #[test]
    fn a_clock_behind_the_last_shutdown_is_behind_until_it_catches_up() {
        // The ledger's newest movement was written at +1000; the box boots
        // with its clock at +400 (its last saved time), NTP comes later.
        let mut watch = ClockWatch::new(at(0), Some(at(1_000)));
        assert_eq!(
            watch.observe(at(400)),
            ClockState::Behind(Duration::seconds(600))
        );
        assert_eq!(
            watch.observe(at(999)),
            ClockState::Plausible,
            "within tolerance"
        );
        assert_eq!(watch.observe(at(1_500)), ClockState::Plausible);
        assert_eq!(
            watch.observe(at(1_499)),
            ClockState::Plausible,
            "a small step back"
        );
        assert_eq!(
            watch.observe(at(1_200)),
            ClockState::Behind(Duration::seconds(300))
        );
    }

    proptest! {
        #[test]
        fn behind_means_behind_the_latest_plausible_time(
            times in prop::collection::vec(-100i64..10_000, 1..50),
        ) {
            let mut watch = ClockWatch::new(at(0), None);
            let mut latest: Option<i64> = None;
            for t in times {
                let state = watch.observe(at(t));
                let expected = if t < 0 {
                    ClockState::BeforeBuild
                } else {
                    match latest {
                        Some(l) if t < l - 2 => ClockState::Behind(Duration::seconds(l - t)),
                        _ => ClockState::Plausible,
                    }
                };
                prop_assert_eq!(state, expected);
                if t >= 0 && latest.is_none_or(|l| t > l) {
                    latest = Some(t);
                }
            }
        }
    }
}
