//! Rate limits: the generic cell rate algorithm (GCRA) over many keys (API
//! tokens, client addresses), in bounded memory. Decided from values: the
//! caller brings `now` as nanoseconds since any fixed origin; nothing here
//! reads a clock.
//!
//! Per key only a "theoretical arrival time" (TAT) is kept: a key is allowed
//! `burst` requests at once after a quiet spell and then one per interval.
//! A key whose TAT has passed is in the same state as a key never seen, so
//! dropping it changes no decision; that is how idle keys are evicted.

use std::collections::HashMap;
use std::hash::Hash;

/// Nanoseconds in a second.
const SECOND_NS: u64 = 1_000_000_000;

/// A sustained rate with a burst allowance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Nanoseconds between two requests at the sustained rate (at least 1).
    interval_ns: u64,
    /// Requests that may come at once after a quiet spell (at least 1).
    burst: u32,
}

impl Rate {
    /// `count` requests per `period_ns` on average, `burst` at once; `None`
    /// when `count` or `burst` is 0, which means no limit.
    pub fn new(count: u32, period_ns: u64, burst: u32) -> Option<Rate> {
        if count == 0 || burst == 0 {
            return None;
        }
        Some(Rate {
            interval_ns: (period_ns / u64::from(count)).max(1),
            burst,
        })
    }

    /// `count` requests a second, `burst` at once; `None` (no limit) if either is 0.
    pub fn per_second(count: u32, burst: u32) -> Option<Rate> {
        Rate::new(count, SECOND_NS, burst)
    }

    /// `count` requests a minute, `burst` at once; `None` (no limit) if either is 0.
    pub fn per_minute(count: u32, burst: u32) -> Option<Rate> {
        Rate::new(count, 60 * SECOND_NS, burst)
    }

    /// How far a key's TAT may run ahead of `now` and still be allowed.
    fn tolerance_ns(self) -> u64 {
        self.interval_ns.saturating_mul(u64::from(self.burst - 1))
    }
}

/// The answer for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    /// Over the limit: the next request of this key is allowed after
    /// `retry_after_ns`. `log` is `Some(n)` for the first refusal of the key
    /// in a log interval, `n` being the refusals not logged since the last
    /// line; `None` when this one should stay quiet.
    Refused {
        retry_after_ns: u64,
        log: Option<u64>,
    },
}

impl Decision {
    /// `Retry-After` in whole seconds, rounded up (at least 1); 0 when allowed.
    pub fn retry_after_s(self) -> u64 {
        match self {
            Decision::Allowed => 0,
            Decision::Refused { retry_after_ns, .. } => retry_after_ns.div_ceil(SECOND_NS).max(1),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    /// Theoretical arrival time: the key is allowed while `tat - now <= tolerance`.
    tat: u64,
    /// When a refusal of this key was last logged.
    logged_at: Option<u64>,
    /// Refusals since then that were not logged.
    unlogged: u64,
}

impl Entry {
    /// Whether forgetting the entry changes nothing: its TAT has passed, no
    /// log interval of it is open and no refusal waits to be counted in a line.
    fn idle(&self, now: u64, log_interval_ns: u64) -> bool {
        self.tat <= now
            && self.unlogged == 0
            && self
                .logged_at
                .is_none_or(|at| now.saturating_sub(at) >= log_interval_ns)
    }
}

/// A rate limit per key, holding at most `max_keys` keys.
#[derive(Debug)]
pub struct Limiter<K> {
    rate: Rate,
    max_keys: usize,
    log_interval_ns: u64,
    keys: HashMap<K, Entry>,
    /// When idle keys are next swept out.
    next_sweep: u64,
}

impl<K: Hash + Eq + Clone> Limiter<K> {
    /// A limiter with `rate` per key; at most `max_keys` (at least 1) keys are
    /// tracked; a key's refusals are logged at most once per `log_interval_ns`.
    pub fn new(rate: Rate, max_keys: usize, log_interval_ns: u64) -> Self {
        Self {
            rate,
            max_keys: max_keys.max(1),
            log_interval_ns,
            keys: HashMap::new(),
            next_sweep: 0,
        }
    }

    /// Decides one request of `key` at `now`, and counts it when allowed.
    ///
    /// When all `max_keys` slots hold keys that are not idle, a new key takes
    /// the slot of the key closest to idle (the smallest TAT): that key gets
    /// a fresh burst early. Memory stays bounded; only a flood of distinct
    /// keys can buy that leniency.
    pub fn check(&mut self, key: K, now: u64) -> Decision {
        if now >= self.next_sweep {
            self.sweep(now);
            self.next_sweep = now.saturating_add(self.log_interval_ns.max(SECOND_NS));
        }
        if self.keys.len() >= self.max_keys && !self.keys.contains_key(&key) {
            self.sweep(now);
            if self.keys.len() >= self.max_keys {
                self.evict_nearest_idle();
            }
        }
        let entry = self.keys.entry(key).or_insert(Entry {
            tat: now,
            logged_at: None,
            unlogged: 0,
        });
        let tat = entry.tat.max(now);
        let ahead = tat - now;
        let tolerance = self.rate.tolerance_ns();
        if ahead > tolerance {
            let log = match entry.logged_at {
                Some(at) if now.saturating_sub(at) < self.log_interval_ns => {
                    entry.unlogged += 1;
                    None
                }
                _ => {
                    entry.logged_at = Some(now);
                    Some(std::mem::take(&mut entry.unlogged))
                }
            };
            return Decision::Refused {
                retry_after_ns: ahead - tolerance,
                log,
            };
        }
        entry.tat = tat.saturating_add(self.rate.interval_ns);
        Decision::Allowed
    }

    /// How many keys are tracked now.
    pub fn tracked(&self) -> usize {
        self.keys.len()
    }

    /// Forgets every key whose forgetting changes no decision.
    fn sweep(&mut self, now: u64) {
        let log_interval_ns = self.log_interval_ns;
        self.keys
            .retain(|_, entry| !entry.idle(now, log_interval_ns));
    }

    /// Forgets the key with the smallest TAT.
    fn evict_nearest_idle(&mut self) {
        let nearest = self
            .keys
            .iter()
            .min_by_key(|(_, entry)| entry.tat)
            .map(|(key, _)| key.clone());
        if let Some(nearest) = nearest {
            self.keys.remove(&nearest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MS: u64 = 1_000_000;
    const MINUTE: u64 = 60 * SECOND_NS;

    fn limiter(per_second: u32, burst: u32) -> Limiter<&'static str> {
        Limiter::new(Rate::per_second(per_second, burst).unwrap(), 100, MINUTE)
    }

    #[test]
    fn zero_means_no_limit() {
        assert_eq!(Rate::per_second(0, 10), None);
        assert_eq!(Rate::per_minute(10, 0), None);
    }

    #[test]
    fn a_burst_is_allowed_then_one_per_interval() {
        let mut limits = limiter(10, 5);
        for i in 0..5 {
            assert_eq!(limits.check("a", 0), Decision::Allowed, "request {i}");
        }
        let refused = limits.check("a", 0);
        assert_eq!(
            refused,
            Decision::Refused {
                retry_after_ns: 100 * MS,
                log: Some(0)
            }
        );
        assert_eq!(refused.retry_after_s(), 1);
        assert!(matches!(
            limits.check("a", 99 * MS),
            Decision::Refused { log: None, .. }
        ));
        assert_eq!(limits.check("a", 100 * MS), Decision::Allowed);
        assert!(matches!(
            limits.check("a", 100 * MS),
            Decision::Refused { .. }
        ));
        // Quiet for the whole burst's worth: the full burst again.
        for _ in 0..5 {
            assert_eq!(limits.check("a", 700 * MS), Decision::Allowed);
        }
    }

    #[test]
    fn keys_do_not_share_a_budget() {
        let mut limits = limiter(1, 2);
        assert_eq!(limits.check("a", 0), Decision::Allowed);
        assert_eq!(limits.check("a", 0), Decision::Allowed);
        assert!(matches!(limits.check("a", 0), Decision::Refused { .. }));
        assert_eq!(limits.check("b", 0), Decision::Allowed);
        assert_eq!(limits.check("b", 0), Decision::Allowed);
    }

    #[test]
    fn retry_after_is_whole_seconds_rounded_up() {
        let mut limits = Limiter::new(Rate::per_minute(2, 1).unwrap(), 10, MINUTE);
        assert_eq!(limits.check("a", 0), Decision::Allowed);
        let refused = limits.check("a", SECOND_NS + 1);
        assert_eq!(
            refused,
            Decision::Refused {
                retry_after_ns: 29 * SECOND_NS - 1,
                log: Some(0)
            }
        );
        assert_eq!(refused.retry_after_s(), 29);
        assert_eq!(limits.check("a", 30 * SECOND_NS), Decision::Allowed);
    }

    #[test]
    fn refusals_are_logged_once_per_interval_with_the_count() {
        let mut limits = limiter(1, 1);
        assert_eq!(limits.check("a", 0), Decision::Allowed);
        assert!(matches!(
            limits.check("a", 1),
            Decision::Refused { log: Some(0), .. }
        ));
        for n in 2..12 {
            assert!(matches!(
                limits.check("a", n),
                Decision::Refused { log: None, .. }
            ));
        }
        // Allowed again after a second, refused again: the same log interval.
        assert_eq!(limits.check("a", SECOND_NS), Decision::Allowed);
        assert!(matches!(
            limits.check("a", SECOND_NS),
            Decision::Refused { log: None, .. }
        ));
        // A minute on, still hammering: one line, with the 11 refusals not logged.
        assert_eq!(limits.check("a", MINUTE + 1), Decision::Allowed);
        assert!(matches!(
            limits.check("a", MINUTE + 2),
            Decision::Refused { log: Some(11), .. }
        ));
    }

    #[test]
    fn idle_keys_are_swept_and_the_number_of_keys_is_capped() {
        let mut limits = Limiter::new(Rate::per_second(1, 1).unwrap(), 3, MINUTE);
        for key in ["a", "b", "c"] {
            assert_eq!(limits.check(key, 0), Decision::Allowed);
        }
        assert_eq!(limits.tracked(), 3);
        // Full of busy keys: a new key takes the slot of the one nearest to idle.
        assert_eq!(limits.check("d", 10), Decision::Allowed);
        assert_eq!(limits.tracked(), 3);
        // Two minutes later everyone is idle: the sweep forgets them all but the asker.
        assert_eq!(limits.check("e", 2 * MINUTE), Decision::Allowed);
        assert_eq!(limits.tracked(), 1);
    }

    proptest! {
        /// Between any two allowed requests of a key, at most
        /// `burst + elapsed / interval` requests were allowed (GCRA's bound).
        #[test]
        fn never_more_than_burst_plus_rate(
            per_second in 1_u32..50,
            burst in 1_u32..20,
            requests in proptest::collection::vec((0_u8..3, 0_u64..200 * MS), 1..300),
        ) {
            let rate = Rate::per_second(per_second, burst).unwrap();
            let mut limits = Limiter::new(rate, 3, MINUTE);
            let mut now = 0;
            let mut allowed: HashMap<u8, Vec<u64>> = HashMap::new();
            for (key, gap) in requests {
                now += gap;
                if limits.check(key, now) == Decision::Allowed {
                    allowed.entry(key).or_default().push(now);
                }
            }
            for times in allowed.values() {
                for (i, &start) in times.iter().enumerate() {
                    for (j, &end) in times.iter().enumerate().skip(i) {
                        let count = (j - i + 1) as u64;
                        prop_assert!(
                            count <= u64::from(burst) + (end - start) / rate.interval_ns,
                            "{count} allowed in {} ns", end - start
                        );
                    }
                }
            }
        }

        /// However many keys come, no more than the cap are tracked.
        #[test]
        fn tracked_keys_stay_under_the_cap(
            cap in 1_usize..8,
            requests in proptest::collection::vec((0_u16..64, 0_u64..50 * MS), 1..300),
        ) {
            let mut limits = Limiter::new(Rate::per_second(2, 3).unwrap(), cap, MINUTE);
            let mut now = 0;
            for (key, gap) in requests {
                now += gap;
                limits.check(key, now);
                prop_assert!(limits.tracked() <= cap);
            }
        }

        /// A key that keeps to the sustained rate is never refused.
        #[test]
        fn keeping_to_the_rate_is_never_refused(
            per_second in 1_u32..100,
            burst in 1_u32..10,
            waits in proptest::collection::vec(0_u64..SECOND_NS, 1..100),
        ) {
            let rate = Rate::per_second(per_second, burst).unwrap();
            let mut limits = Limiter::new(rate, 10, MINUTE);
            let mut now = 0;
            for wait in waits {
                prop_assert_eq!(limits.check("k", now), Decision::Allowed);
                now += rate.interval_ns + wait;
            }
        }
    }
}
