//! Password login rules: back-off and lock-out after repeated failures, and
//! how long a session lasts. Decided from values; the caller brings `now`.

use time::{Duration, OffsetDateTime};

/// Failures in a row that are free; from then on each failure locks the login.
pub const FREE_FAILURES: i64 = 4;

/// The first lock's length; each further failure doubles it, up to [`MAX_LOCK`].
pub const FIRST_LOCK: Duration = Duration::minutes(1);

/// The longest lock.
pub const MAX_LOCK: Duration = Duration::hours(1);

/// How long a web session lasts after login.
pub const SESSION_LIFETIME: Duration = Duration::hours(12);

/// A user's login record as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LoginRecord {
    /// Failed attempts since the last success.
    pub failed: i64,
    /// No attempt is checked before this instant.
    pub locked_until: Option<OffsetDateTime>,
}

impl LoginRecord {
    /// Whether the login is locked at `now` (then the password is not even checked).
    pub fn is_locked(&self, now: OffsetDateTime) -> bool {
        self.locked_until.is_some_and(|until| now < until)
    }

    /// The record after one more failed attempt at `now`: the first
    /// [`FREE_FAILURES`] cost nothing, then each locks for twice as long as
    /// the one before (1 min, 2 min, 4 min … 1 h).
    pub fn after_failure(&self, now: OffsetDateTime) -> LoginRecord {
        let failed = self.failed.saturating_add(1);
        let over = failed - FREE_FAILURES;
        let locked_until = if over > 0 {
            let doublings = u32::try_from(over - 1).unwrap_or(u32::MAX).min(10);
            let lock = FIRST_LOCK
                .checked_mul(1 << doublings)
                .unwrap_or(MAX_LOCK)
                .min(MAX_LOCK);
            Some(now + lock)
        } else {
            None
        };
        LoginRecord {
            failed,
            locked_until,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_lock_after_the_free_ones_and_the_lock_doubles_up_to_an_hour() {
        let now = OffsetDateTime::UNIX_EPOCH;
        let mut record = LoginRecord::default();
        for _ in 0..FREE_FAILURES {
            record = record.after_failure(now);
            assert!(!record.is_locked(now));
        }
        let mut locks = Vec::new();
        for _ in 0..9 {
            record = record.after_failure(now);
            assert!(record.is_locked(now));
            locks.push(record.locked_until.map(|u| (u - now).whole_minutes()));
        }
        assert_eq!(locks, [1, 2, 4, 8, 16, 32, 60, 60, 60].map(Some).to_vec());
        let until = record.locked_until.expect("locked");
        assert!(!record.is_locked(until), "the lock ends at its instant");
    }
}
