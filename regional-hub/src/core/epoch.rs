//! A depot's epochs at the hub: which history of its ledger a message
//! belongs to, and what that means for a movement, a snapshot or a status.
//!
//! A depot restored from a backup starts a new epoch (feed contract,
//! `payload.rs`): its movements above the epoch's `base` are new, and the
//! movements the hub applied above `base` under an older epoch are **lost**:
//! the depot no longer has them. The hub moves those out of the current
//! picture (kept and shown as the lost range), applies the new epoch's
//! movements once each by seq, and ignores what arrives late from an epoch
//! the depot has left, except to record it as lost too.
//!
//! Within one epoch a seq never changes content. A movement or status whose
//! chain hash at a seq the hub holds differs from the held one means the
//! depot's history was rewritten without a restore: the depot is flagged
//! as diverged and the message is not applied.

use std::ops::RangeInclusive;

/// An epoch as the hub keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpochMark {
    pub id: String,
    pub generation: u64,
    /// The last seq shared with the epoch before.
    pub base: u64,
}

impl From<&feed_contract::Epoch> for EpochMark {
    fn from(epoch: &feed_contract::Epoch) -> Self {
        EpochMark {
            id: epoch.id.to_string(),
            generation: epoch.generation,
            base: epoch.base,
        }
    }
}

/// How a message's epoch stands to the depot's current one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// The first epoch the hub hears of for this depot: adopt it.
    First,
    /// The depot's current epoch.
    Current,
    /// A newer epoch: the depot was restored. Adopt it, moving what the
    /// hub holds above its base to the lost range, then apply as current.
    Newer,
    /// An epoch the depot has left: a message that arrived late.
    Superseded,
}

/// Where `incoming` stands, given the depot's `current` epoch and whether
/// the hub knows `incoming` as one the depot has left. A higher generation
/// is newer; at the same generation (a restore whose replaced database was
/// lost, so its generation could not be counted) an unknown id is taken as
/// newer: a depot never goes back to an epoch it left.
pub fn standing(current: Option<&EpochMark>, left: bool, incoming: &EpochMark) -> Standing {
    match current {
        None => Standing::First,
        Some(current) if current.id == incoming.id => Standing::Current,
        Some(_) if left => Standing::Superseded,
        Some(current) if incoming.generation < current.generation => Standing::Superseded,
        Some(_) => Standing::Newer,
    }
}

/// What the hub holds at a seq.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held<'a> {
    Nothing,
    /// A movement with this chain hash.
    Hash(&'a str),
    /// A movement applied before the feed carried hashes: nothing to compare.
    Unhashed,
}

/// What to do with a movement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// New in the current history: apply it.
    Apply,
    /// The same movement again (a redelivery, or a restored depot resending
    /// a movement the backup shared with the epoch before): nothing to do.
    Duplicate,
    /// Another movement under a seq the hub holds in the same history: the
    /// depot's history was rewritten. Not applied; the depot is flagged.
    Diverged,
    /// A late movement of a left epoch above the current base: the depot
    /// lost it. Recorded in the lost range, not applied.
    Lost,
}

/// The fate of a movement at `seq` with chain `hash` from an epoch that
/// stands as `standing` (after a `Newer` epoch was adopted, pass
/// `Current`), the current epoch being based on `current_base`.
pub fn movement_fate(
    standing: Standing,
    current_base: u64,
    seq: u64,
    held: Held<'_>,
    hash: &str,
) -> Fate {
    if standing == Standing::Superseded && seq > current_base {
        return Fate::Lost;
    }
    match held {
        Held::Nothing => Fate::Apply,
        Held::Unhashed => Fate::Duplicate,
        Held::Hash(held) if held == hash => Fate::Duplicate,
        Held::Hash(_) => Fate::Diverged,
    }
}

/// Whether a chain head (a status's, or a restore's) contradicts what the
/// hub holds at its seq.
pub fn head_diverges(held: Held<'_>, hash: &str) -> bool {
    matches!(held, Held::Hash(held) if held != hash)
}

/// The seqs a restore took away: from the lowest to the highest movement
/// the hub held above the new base (the depot had them, and no longer has);
/// `None` if it held none there.
pub fn lost_range(base: u64, held: impl IntoIterator<Item = u64>) -> Option<RangeInclusive<u64>> {
    let above: Vec<u64> = held.into_iter().filter(|seq| *seq > base).collect();
    let from = above.iter().min()?;
    let to = above.iter().max()?;
    Some(*from..=*to)
}

/// The lost range widened by a late lost movement at `seq`.
pub fn widen(range: Option<RangeInclusive<u64>>, seq: u64) -> RangeInclusive<u64> {
    match range {
        None => seq..=seq,
        Some(range) => (*range.start()).min(seq)..=(*range.end()).max(seq),
    }
}

/// Whether a snapshot from an epoch that stands as `standing` replaces the
/// held one: never from a left epoch; always over one held from another
/// (older) epoch, whatever the seqs (a restored depot's seqs start lower);
/// within one epoch when `newer` (its (seq, time) is higher).
pub fn snapshot_wins(standing: Standing, held_same_epoch: Option<bool>, newer: bool) -> bool {
    match (standing, held_same_epoch) {
        (Standing::Superseded, _) => false,
        (_, None) | (_, Some(false)) => true,
        (_, Some(true)) => newer,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn mark(id: &str, generation: u64, base: u64) -> EpochMark {
        EpochMark {
            id: id.into(),
            generation,
            base,
        }
    }

    #[test]
    fn newer_generations_win_and_left_epochs_stay_left() {
        let a = mark("a", 0, 0);
        let b = mark("b", 1, 10);
        assert_eq!(standing(None, false, &a), Standing::First);
        assert_eq!(standing(Some(&a), false, &a), Standing::Current);
        assert_eq!(standing(Some(&a), false, &b), Standing::Newer);
        assert_eq!(standing(Some(&b), true, &a), Standing::Superseded);
        // Lower generation, never seen: older all the same.
        assert_eq!(standing(Some(&b), false, &a), Standing::Superseded);
        // Same generation, another id: a restore that could not count the
        // replaced database's generation.
        let c = mark("c", 1, 4);
        assert_eq!(standing(Some(&b), false, &c), Standing::Newer);
        assert_eq!(standing(Some(&c), true, &b), Standing::Superseded);
    }

    #[test]
    fn movements_by_what_is_held() {
        let current = Standing::Current;
        assert_eq!(
            movement_fate(current, 0, 5, Held::Nothing, "h5"),
            Fate::Apply
        );
        assert_eq!(
            movement_fate(current, 0, 5, Held::Hash("h5"), "h5"),
            Fate::Duplicate
        );
        assert_eq!(
            movement_fate(current, 0, 5, Held::Hash("x5"), "h5"),
            Fate::Diverged
        );
        assert_eq!(
            movement_fate(current, 0, 5, Held::Unhashed, "h5"),
            Fate::Duplicate
        );
        // Late, from the left epoch: above the base lost, at or below shared.
        let late = Standing::Superseded;
        assert_eq!(movement_fate(late, 10, 11, Held::Nothing, "h"), Fate::Lost);
        assert_eq!(movement_fate(late, 10, 10, Held::Nothing, "h"), Fate::Apply);
        assert_eq!(
            movement_fate(late, 10, 9, Held::Hash("h"), "h"),
            Fate::Duplicate
        );
    }

    #[test]
    fn heads_lost_ranges_and_snapshots() {
        assert!(!head_diverges(Held::Nothing, "h"));
        assert!(!head_diverges(Held::Unhashed, "h"));
        assert!(!head_diverges(Held::Hash("h"), "h"));
        assert!(head_diverges(Held::Hash("x"), "h"));

        assert_eq!(lost_range(10, [3, 11, 14, 12]), Some(11..=14));
        assert_eq!(lost_range(10, [3, 10]), None);
        assert_eq!(widen(None, 15), 15..=15);
        assert_eq!(widen(Some(11..=14), 16), 11..=16);
        assert_eq!(widen(Some(11..=14), 12), 11..=14);

        assert!(snapshot_wins(Standing::Current, None, false));
        assert!(snapshot_wins(Standing::Current, Some(false), false));
        assert!(!snapshot_wins(Standing::Current, Some(true), false));
        assert!(snapshot_wins(Standing::Current, Some(true), true));
        assert!(!snapshot_wins(Standing::Superseded, None, true));
    }

    /// A depot's picture at the hub built only from this module's rules,
    /// as the store applies them: current movements by seq, the lost ones,
    /// the current epoch and the diverged flag.
    #[derive(Debug, Clone, Default)]
    struct Picture {
        current: Option<EpochMark>,
        left: Vec<String>,
        applied: BTreeMap<u64, String>,
        lost: BTreeMap<u64, String>,
        lost_range: Option<RangeInclusive<u64>>,
        diverged: bool,
        applied_count: usize,
    }

    impl Picture {
        fn movement(&mut self, epoch: &EpochMark, seq: u64, hash: &str) {
            let left = self.left.contains(&epoch.id);
            let mut stands = standing(self.current.as_ref(), left, epoch);
            if stands == Standing::Newer {
                let range = lost_range(epoch.base, self.applied.keys().copied());
                let lost = self.applied.split_off(&(epoch.base + 1));
                self.lost.extend(lost);
                self.lost_range = range;
                if let Some(old) = self.current.take() {
                    self.left.push(old.id);
                }
                stands = Standing::Current;
            }
            if stands == Standing::First {
                stands = Standing::Current;
            }
            if stands == Standing::Current {
                self.current = Some(epoch.clone());
            }
            let base = self.current.as_ref().map_or(0, |c| c.base);
            let held = match self.applied.get(&seq) {
                Some(h) => Held::Hash(h),
                None => Held::Nothing,
            };
            match movement_fate(stands, base, seq, held, hash) {
                Fate::Apply => {
                    self.applied.insert(seq, hash.to_owned());
                    self.applied_count += 1;
                }
                Fate::Duplicate => {}
                Fate::Diverged => self.diverged = true,
                Fate::Lost => {
                    self.lost.insert(seq, hash.to_owned());
                    self.lost_range = Some(widen(self.lost_range.take(), seq));
                }
            }
        }
    }

    /// Epoch `a` (generation 0) delivers 1..=n_old; a backup at `base` is
    /// restored as epoch `b`, which resends the last seqs up to the base
    /// (shared with `a`) and books base+1..=base+n_new. Hashes differ between the epochs above the base.
    fn history(base: u64, n_old: u64, n_new: u64) -> Vec<(EpochMark, u64, String)> {
        let a = mark("a", 0, 0);
        let b = mark("b", 1, base);
        let mut out: Vec<(EpochMark, u64, String)> = (1..=n_old)
            .map(|s| (a.clone(), s, format!("a{s}")))
            .collect();
        // From the backup's feed cursor: at most a few below the base, and
        // from the first seq the hub may not have had.
        for s in (n_old + 1).min(base.saturating_sub(2)).max(1)..=base {
            out.push((b.clone(), s, format!("a{s}")));
        }
        for s in base + 1..=base + n_new {
            out.push((b.clone(), s, format!("b{s}")));
        }
        out
    }

    #[test]
    fn a_restore_mid_stream_then_late_old_messages() {
        let mut picture = Picture::default();
        for (epoch, seq, hash) in history(5, 8, 4) {
            picture.movement(&epoch, seq, &hash);
        }
        assert_eq!(picture.lost_range, Some(6..=8));
        assert_eq!(
            picture.applied.values().cloned().collect::<Vec<_>>(),
            ["a1", "a2", "a3", "a4", "a5", "b6", "b7", "b8", "b9"]
        );
        assert!(!picture.diverged);
        // Old epoch's 8 again (a redelivery) and 10, late: lost, not applied.
        let a = mark("a", 0, 0);
        picture.movement(&a, 8, "a8");
        picture.movement(&a, 10, "a10");
        assert_eq!(picture.lost_range, Some(6..=10));
        assert_eq!(picture.applied.get(&10), None);
        assert_eq!(picture.applied.get(&8).map(String::as_str), Some("b8"));
        // A rewritten seq in the current epoch is flagged, not applied.
        let b = mark("b", 1, 5);
        picture.movement(&b, 7, "forged");
        assert!(picture.diverged);
        assert_eq!(picture.applied.get(&7).map(String::as_str), Some("b7"));
    }

    proptest! {
        /// Whatever the order, with duplicates and with the picture rebuilt
        /// (a restart: only what is stored survives) at any point, every
        /// movement of the new history is applied exactly once, the lost
        /// range is what the hub held above the base of the old epoch,
        /// and nothing diverges.
        #[test]
        fn restored_histories_converge_whatever_the_order(
            base in 0u64..12,
            n_old in 0u64..16,
            n_new in 1u64..12,
            seed in proptest::collection::vec(any::<u64>(), 0..30),
            restart in 0usize..80,
        ) {
            let messages = history(base, n_old, n_new);
            // Old epoch first, in any order with duplicates, then the new.
            let (old, new): (Vec<_>, Vec<_>) = messages.iter().cloned().partition(|m| m.0.id == "a");
            let mut delivered = old.clone();
            for r in &seed {
                delivered.push(old.get((*r as usize) % old.len().max(1)).cloned().unwrap_or_else(|| new[0].clone()));
            }
            let mut shuffled_new = new.clone();
            for (i, r) in seed.iter().enumerate() {
                let n = shuffled_new.len();
                shuffled_new.swap(i % n, (*r as usize) % n);
                shuffled_new.push(new[(*r as usize) % new.len()].clone());
            }
            // A late old-epoch message in the middle of the new epoch.
            if let Some(late) = old.last() {
                shuffled_new.insert(shuffled_new.len() / 2, late.clone());
            }
            delivered.extend(shuffled_new);

            let mut picture = Picture::default();
            for (i, (epoch, seq, hash)) in delivered.iter().enumerate() {
                if i == restart {
                    let stored = picture.clone();
                    picture = Picture { applied_count: 0, ..stored };
                }
                picture.movement(epoch, *seq, hash);
            }
            let expected: Vec<String> = (1..=base)
                .map(|s| format!("a{s}"))
                .chain((base + 1..=base + n_new).map(|s| format!("b{s}")))
                .collect();
            let applied: Vec<String> = picture.applied.values().cloned().collect();
            prop_assert_eq!(applied, expected);
            prop_assert!(!picture.diverged);
            let lost_expected = (n_old > base).then(|| base + 1..=n_old);
            prop_assert_eq!(picture.lost_range.clone(), lost_expected);
            prop_assert!(picture.lost.keys().all(|s| *s > base));
        }
    }
}
