//! Which missing movements to ask a depot for again.
//!
//! A gap in a depot's seqs usually closes by itself: messages of one depot
//! may arrive out of order (a shared subscription, a redelivery). A gap
//! that stays is a loss the depot does not know of (a broker killed between
//! two saves of its state had acknowledged the messages), and only the
//! depot can fill it, from its ledger. So the hub looks at every depot's
//! gaps now and then and asks for the seqs that were missing the last time
//! it looked too, per depot and epoch, at most [`MAX_RESEND`] seqs per
//! request and [`REQUESTS_PER_DEPOT`] requests per depot and look.

use std::collections::HashMap;
use std::ops::RangeInclusive;

use feed_contract::MAX_RESEND;

/// Requests one depot is sent per look at most.
pub const REQUESTS_PER_DEPOT: usize = 4;

/// One depot's gaps as the store reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepotGaps {
    pub depot: String,
    /// The depot's current epoch id.
    pub epoch: String,
    /// Missing seqs, ascending, not overlapping.
    pub gaps: Vec<RangeInclusive<u64>>,
}

/// One request to send to a depot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ask {
    pub depot: String,
    pub epoch: String,
    pub seqs: RangeInclusive<u64>,
}

/// Remembers the gaps of the last look.
#[derive(Debug, Default)]
pub struct ResendPlanner {
    last: HashMap<String, DepotGaps>,
}

impl ResendPlanner {
    /// The requests for this look: the seqs missing now that were missing
    /// at the last look in the same epoch.
    pub fn plan(&mut self, now: Vec<DepotGaps>) -> Vec<Ask> {
        let mut asks = Vec::new();
        for depot in &now {
            let Some(before) = self.last.get(&depot.depot) else {
                continue;
            };
            if before.epoch != depot.epoch {
                continue;
            }
            let lasting = intersect(&before.gaps, &depot.gaps);
            asks.extend(
                lasting
                    .into_iter()
                    .flat_map(split)
                    .take(REQUESTS_PER_DEPOT)
                    .map(|seqs| Ask {
                        depot: depot.depot.clone(),
                        epoch: depot.epoch.clone(),
                        seqs,
                    }),
            );
        }
        self.last = now.into_iter().map(|d| (d.depot.clone(), d)).collect();
        asks
    }
}

/// The seqs in both lists of ascending, disjoint ranges.
fn intersect(a: &[RangeInclusive<u64>], b: &[RangeInclusive<u64>]) -> Vec<RangeInclusive<u64>> {
    let mut out = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        let start = *a[i].start().max(b[j].start());
        let end = *a[i].end().min(b[j].end());
        if start <= end {
            out.push(start..=end);
        }
        if a[i].end() < b[j].end() {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

/// A range cut into pieces of at most `MAX_RESEND` seqs.
fn split(range: RangeInclusive<u64>) -> impl Iterator<Item = RangeInclusive<u64>> {
    let (start, end) = (*range.start(), *range.end());
    (start..=end)
        .step_by(MAX_RESEND as usize)
        .map(move |from| from..=end.min(from + (MAX_RESEND - 1)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn gaps(depot: &str, epoch: &str, gaps: &[RangeInclusive<u64>]) -> DepotGaps {
        DepotGaps {
            depot: depot.into(),
            epoch: epoch.into(),
            gaps: gaps.to_vec(),
        }
    }

    #[test]
    fn only_gaps_that_last_are_asked_for() {
        let mut planner = ResendPlanner::default();
        assert!(planner.plan(vec![gaps("a", "e1", &[3..=9])]).is_empty());
        // 3..=5 filled itself meanwhile; 20..=21 is new, asked next time.
        let asks = planner.plan(vec![gaps("a", "e1", &[6..=9, 20..=21])]);
        assert_eq!(
            asks,
            vec![Ask {
                depot: "a".into(),
                epoch: "e1".into(),
                seqs: 6..=9
            }]
        );
        let asks = planner.plan(vec![gaps("a", "e1", &[6..=9, 20..=21])]);
        assert_eq!(asks.len(), 2, "still missing: asked again");
        assert!(planner.plan(vec![gaps("a", "e1", &[])]).is_empty());
    }

    #[test]
    fn a_new_epoch_starts_over() {
        let mut planner = ResendPlanner::default();
        planner.plan(vec![gaps("a", "e1", &[3..=9])]);
        assert!(planner.plan(vec![gaps("a", "e2", &[3..=9])]).is_empty());
        assert_eq!(planner.plan(vec![gaps("a", "e2", &[3..=9])]).len(), 1);
    }

    #[test]
    fn big_gaps_are_asked_for_in_bounded_pieces() {
        let mut planner = ResendPlanner::default();
        let big = [1..=10_000, 20_000..=20_000];
        planner.plan(vec![gaps("a", "e1", &big)]);
        let asks = planner.plan(vec![gaps("a", "e1", &big)]);
        let seqs: Vec<_> = asks.into_iter().map(|a| a.seqs).collect();
        assert_eq!(
            seqs,
            vec![1..=1_000, 1_001..=2_000, 2_001..=3_000, 3_001..=4_000]
        );
    }

    fn ranges() -> impl Strategy<Value = Vec<RangeInclusive<u64>>> {
        proptest::collection::btree_set(1u64..200, 0..60).prop_map(|seqs| {
            let mut out: Vec<RangeInclusive<u64>> = Vec::new();
            for seq in seqs {
                match out.last_mut() {
                    Some(last) if *last.end() + 1 == seq => *last = *last.start()..=seq,
                    _ => out.push(seq..=seq),
                }
            }
            out
        })
    }

    proptest! {
        #[test]
        fn intersect_is_the_set_intersection(a in ranges(), b in ranges()) {
            let set = |r: &[RangeInclusive<u64>]| -> std::collections::BTreeSet<u64> {
                r.iter().flat_map(|r| r.clone()).collect()
            };
            let both = intersect(&a, &b);
            let expected: Vec<u64> = set(&a).intersection(&set(&b)).copied().collect();
            prop_assert_eq!(set(&both).into_iter().collect::<Vec<_>>(), expected);
            prop_assert!(both.windows(2).all(|w| w[0].end() < w[1].start()));
        }
    }
}
