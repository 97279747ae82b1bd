//! A depot's applied movements as a cursor: every seq up to `contiguous` is
//! applied, plus a sparse set above it that arrived early. Applying a seq
//! twice is refused; the seqs missing between `contiguous` and the newest
//! applied one are the feed's gaps, filled when the depot resends them.

use std::collections::BTreeSet;
use std::ops::RangeInclusive;

/// What applying a seq did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// Not seen before: apply its effects.
    New,
    /// Already applied: apply nothing.
    Duplicate,
    /// Seq 0 is no movement (the ledger starts at 1): refused.
    Invalid,
}

/// The applied seqs of one depot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeqCursor {
    contiguous: u64,
    above: BTreeSet<u64>,
}

impl SeqCursor {
    /// A cursor from its stored parts; seqs at or below `contiguous` in
    /// `above` are dropped and the cursor advanced over any run that follows.
    pub fn new(contiguous: u64, above: impl IntoIterator<Item = u64>) -> Self {
        let mut cursor = Self {
            contiguous,
            above: above.into_iter().filter(|s| *s > contiguous).collect(),
        };
        cursor.advance();
        cursor
    }

    /// Every seq up to this one is applied.
    pub fn contiguous(&self) -> u64 {
        self.contiguous
    }

    /// Applied seqs above [`Self::contiguous`], ascending.
    pub fn above(&self) -> impl Iterator<Item = u64> + '_ {
        self.above.iter().copied()
    }

    /// The newest applied seq (0 if none).
    pub fn newest(&self) -> u64 {
        self.above.last().copied().unwrap_or(self.contiguous)
    }

    /// Applies `seq` once.
    pub fn apply(&mut self, seq: u64) -> Applied {
        if seq == 0 {
            return Applied::Invalid;
        }
        if seq <= self.contiguous || !self.above.insert(seq) {
            return Applied::Duplicate;
        }
        self.advance();
        Applied::New
    }

    /// The missing seqs below the newest applied one, as ranges.
    pub fn gaps(&self) -> Vec<RangeInclusive<u64>> {
        let mut gaps = Vec::new();
        let mut expected = self.contiguous + 1;
        for &seq in &self.above {
            if seq > expected {
                gaps.push(expected..=seq - 1);
            }
            expected = seq + 1;
        }
        gaps
    }

    fn advance(&mut self) {
        while self.above.first() == Some(&(self.contiguous + 1)) {
            self.above.pop_first();
            self.contiguous += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn in_order_duplicates_and_a_gap_filled_later() {
        let mut cursor = SeqCursor::default();
        assert_eq!(cursor.apply(1), Applied::New);
        assert_eq!(cursor.apply(2), Applied::New);
        assert_eq!(cursor.apply(2), Applied::Duplicate);
        assert_eq!(cursor.apply(5), Applied::New);
        assert_eq!(cursor.apply(7), Applied::New);
        assert_eq!(cursor.contiguous(), 2);
        assert_eq!(cursor.newest(), 7);
        assert_eq!(cursor.gaps(), vec![3..=4, 6..=6]);
        assert_eq!(cursor.apply(5), Applied::Duplicate);
        assert_eq!(cursor.apply(4), Applied::New);
        assert_eq!(cursor.apply(3), Applied::New);
        assert_eq!(cursor.contiguous(), 5);
        assert_eq!(cursor.gaps(), vec![6..=6]);
        assert_eq!(cursor.apply(6), Applied::New);
        assert_eq!(cursor.contiguous(), 7);
        assert!(cursor.gaps().is_empty());
        assert_eq!(cursor.apply(0), Applied::Invalid);
    }

    #[test]
    fn restored_from_stored_parts() {
        let cursor = SeqCursor::new(3, [2, 4, 5, 9]);
        assert_eq!(cursor.contiguous(), 5);
        assert_eq!(cursor.above().collect::<Vec<_>>(), vec![9]);
        assert_eq!(cursor.gaps(), vec![6..=8]);
    }

    /// Seqs 1..=n, each delivered one or more times, in any order, with a
    /// restart (the cursor rebuilt from its stored parts) at any point.
    fn deliveries() -> impl Strategy<Value = (u64, Vec<u64>, usize)> {
        (1u64..60).prop_flat_map(|n| {
            let seqs: Vec<u64> = (1..=n).collect();
            (
                Just(n),
                (Just(seqs.clone()), proptest::collection::vec(1..=n, 0..40))
                    .prop_map(|(mut all, extra)| {
                        all.extend(extra);
                        all
                    })
                    .prop_shuffle(),
                0usize..200,
            )
        })
    }

    proptest! {
        #[test]
        fn each_seq_applied_once_whatever_the_order_and_restarts((n, delivered, restart_at) in deliveries()) {
            let mut cursor = SeqCursor::default();
            let mut applied = Vec::new();
            for (i, &seq) in delivered.iter().enumerate() {
                if i == restart_at {
                    cursor = SeqCursor::new(cursor.contiguous(), cursor.above().collect::<Vec<_>>());
                }
                if cursor.apply(seq) == Applied::New {
                    applied.push(seq);
                }
                // The gaps are exactly the seqs not applied below the newest.
                let missing: Vec<u64> = (1..cursor.newest()).filter(|s| !applied.contains(s)).collect();
                let gaps: Vec<u64> = cursor.gaps().into_iter().flatten().collect();
                prop_assert_eq!(gaps, missing);
            }
            applied.sort_unstable();
            prop_assert_eq!(applied, (1..=n).collect::<Vec<_>>());
            prop_assert_eq!(cursor.contiguous(), n);
            prop_assert!(cursor.gaps().is_empty());
        }

        #[test]
        fn a_prefix_leaves_exactly_its_missing_seqs_as_gaps((_n, delivered, cut) in deliveries()) {
            let cut = cut % (delivered.len() + 1);
            let mut cursor = SeqCursor::default();
            for &seq in &delivered[..cut] {
                cursor.apply(seq);
            }
            let seen: BTreeSet<u64> = delivered[..cut].iter().copied().collect();
            let newest = seen.last().copied().unwrap_or(0);
            prop_assert_eq!(cursor.newest(), newest);
            let contiguous = (1..=newest).take_while(|s| seen.contains(s)).last().unwrap_or(0);
            prop_assert_eq!(cursor.contiguous(), contiguous);
        }
    }
}
