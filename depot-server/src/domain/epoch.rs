//! The feed's epoch: which history of the ledger the depot publishes.
//!
//! A restore from a backup rewinds the ledger: the movements booked after
//! the backup are gone and new bookings take their seqs. A hub that applied
//! the lost ones must not take a new movement for "the same seq again". So
//! every database has an epoch: a random id, a generation (0 for a depot's
//! first database, one more at each restore than the highest the depot
//! knew) and a base (the seq the epoch's history continues from: the
//! backup's last seq, 0 for generation 0). The feed names a movement by
//! (epoch, seq); within one epoch a seq is never published with other
//! content. A restored epoch also records when the restore ran and the
//! backup's chain head.
//!
//! Stored as one text value (`depot_meta.feed_epoch`):
//! `{generation} {id} {base}` and, after a restore, ` {at} {head hash | -}`
//! (`at` in RFC 3339).

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::chain::ChainHash;
use super::FieldError;

/// An epoch's random id: 128 bits, shown as 32 lower-case hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochId([u8; 16]);

impl EpochId {
    /// The id of 16 random bytes.
    pub fn from_bytes(bytes: [u8; 16]) -> EpochId {
        EpochId(bytes)
    }

    /// Parses 32 lower-case hex digits.
    pub fn parse(text: &str) -> Result<EpochId, FieldError> {
        let mut bytes = [0u8; 16];
        let lower = !text.bytes().any(|b| b.is_ascii_uppercase());
        match hex::decode_to_slice(text, &mut bytes) {
            Ok(()) if lower => Ok(EpochId(bytes)),
            _ => Err(FieldError::new(
                "feed_epoch",
                format!("epoch id {text:?} is not 32 lower-case hex digits"),
            )),
        }
    }

    pub fn bytes(self) -> [u8; 16] {
        self.0
    }

    /// The 32 hex digits.
    pub fn to_hex(self) -> String {
        hex::encode(self.0)
    }
}

/// What a restore put back, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreMark {
    pub at: OffsetDateTime,
    /// The backup's chain head hash; `None` for a backup from before the chain.
    pub head_hash: Option<ChainHash>,
}

/// One history of the depot's ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedEpoch {
    pub id: EpochId,
    pub generation: u64,
    /// The last seq shared with the epoch before (0 for generation 0).
    pub base_seq: i64,
    /// Set when this epoch began with a restore.
    pub restored: Option<RestoreMark>,
}

impl FeedEpoch {
    /// A depot's first epoch.
    pub fn first(id: EpochId) -> FeedEpoch {
        FeedEpoch {
            id,
            generation: 0,
            base_seq: 0,
            restored: None,
        }
    }

    /// The epoch a restore starts: one generation above the highest of
    /// `known` (the backup's and the replaced database's, those that have
    /// one), based on the backup's last seq and chain head.
    pub fn after_restore(
        id: EpochId,
        known: impl IntoIterator<Item = u64>,
        head_seq: i64,
        head_hash: Option<ChainHash>,
        at: OffsetDateTime,
    ) -> FeedEpoch {
        let highest = known.into_iter().max().unwrap_or(0);
        FeedEpoch {
            id,
            generation: highest.saturating_add(1),
            base_seq: head_seq,
            restored: Some(RestoreMark { at, head_hash }),
        }
    }

    /// The stored text (see the module doc).
    pub fn encode(&self) -> String {
        let mut text = format!("{} {} {}", self.generation, self.id.to_hex(), self.base_seq);
        if let Some(mark) = &self.restored {
            let at = mark.at.format(&Rfc3339).unwrap_or_default();
            let hash = mark
                .head_hash
                .map_or_else(|| "-".to_owned(), ChainHash::to_hex);
            text.push_str(&format!(" {at} {hash}"));
        }
        text
    }

    /// Parses the stored text.
    pub fn decode(text: &str) -> Result<FeedEpoch, FieldError> {
        let bad = || {
            FieldError::new(
                "feed_epoch",
                format!("{text:?} is not `generation id base [at hash]`"),
            )
        };
        let parts: Vec<&str> = text.split(' ').collect();
        let (generation, id, base) = match parts.as_slice() {
            [g, id, base] | [g, id, base, _, _] => (*g, *id, *base),
            _ => return Err(bad()),
        };
        let generation = generation.parse::<u64>().map_err(|_| bad())?;
        let base_seq = base
            .parse::<i64>()
            .ok()
            .filter(|s| *s >= 0)
            .ok_or_else(bad)?;
        let restored = match parts.as_slice() {
            [_, _, _, at, hash] => Some(RestoreMark {
                at: OffsetDateTime::parse(at, &Rfc3339).map_err(|_| bad())?,
                head_hash: match *hash {
                    "-" => None,
                    hex_text => Some(ChainHash::parse(hex_text).ok_or_else(bad)?),
                },
            }),
            _ => None,
        };
        Ok(FeedEpoch {
            id: EpochId::parse(id)?,
            generation,
            base_seq,
            restored,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn id(byte: u8) -> EpochId {
        EpochId::from_bytes([byte; 16])
    }

    #[test]
    fn a_first_epoch_and_a_restored_one_round_trip() {
        let first = FeedEpoch::first(id(1));
        assert_eq!(first.encode(), format!("0 {} 0", "01".repeat(16)));
        assert_eq!(FeedEpoch::decode(&first.encode()), Ok(first));

        let at = datetime!(2026-12-02 11:00 UTC);
        let hash = ChainHash([7; 32]);
        let restored = FeedEpoch::after_restore(id(2), [0, 3], 41, Some(hash), at);
        assert_eq!(restored.generation, 4);
        assert_eq!(restored.base_seq, 41);
        assert_eq!(FeedEpoch::decode(&restored.encode()), Ok(restored));

        let before_the_chain = FeedEpoch::after_restore(id(3), [], 5, None, at);
        assert_eq!(before_the_chain.generation, 1);
        assert!(before_the_chain.encode().ends_with(" -"));
        assert_eq!(
            FeedEpoch::decode(&before_the_chain.encode()),
            Ok(before_the_chain)
        );
    }

    #[test]
    fn a_damaged_value_is_refused() {
        let good = FeedEpoch::first(id(1)).encode();
        for bad in [
            String::new(),
            "0".into(),
            good.replace("0101", "01X1"),
            good.replacen('0', "-1", 1),
            format!("{good} 2026-12-02T11:00:00Z"),
            format!("{good} yesterday -"),
            format!("{good} 2026-12-02T11:00:00Z abc"),
            good.replace(" 0", " -3"),
        ] {
            assert!(FeedEpoch::decode(&bad).is_err(), "{bad:?}");
        }
    }
}
