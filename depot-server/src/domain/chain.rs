//! The ledger's hash chain: each movement's hash covers the previous
//! movement's hash and the movement's own stored content, so a movement
//! changed, removed or inserted behind the server's back breaks every hash
//! from there on, and `depot-server verify` names the first broken `seq`.
//!
//! The canonical form hashed for a movement is, in this order, each of its
//! stored columns as `name=` followed by the value's length in bytes, `:`,
//! the value and a line feed, or `name!` and a line feed for SQL NULL:
//! `seq`, `kind`, `sku`, `quantity`, `from`, `to`, `lot`, `epcs`, `actor`,
//! `source`, `idempotency_key`, `reason`, `recorded_at` (integers in
//! decimal, `epcs` as the stored JSON array, `recorded_at` as the stored
//! RFC 3339 text). The hash is SHA-256 over the 32 bytes of the previous
//! hash (zeros before `seq` 1), the line `depot-edge-ledger-v1` and the
//! canonical form. Lengths make the form unambiguous whatever the values
//! hold.

use std::fmt;

use sha2::{Digest, Sha256};

/// A link of the chain: SHA-256, shown as 64 lower-case hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChainHash(pub [u8; 32]);

impl ChainHash {
    /// What the first movement links to.
    pub const GENESIS: ChainHash = ChainHash([0; 32]);

    /// Parses 64 hex digits.
    pub fn parse(hex_text: &str) -> Option<ChainHash> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(hex_text, &mut bytes).ok()?;
        Some(ChainHash(bytes))
    }

    /// The 64 hex digits.
    pub fn to_hex(self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Debug for ChainHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChainHash({})", self.to_hex())
    }
}

impl fmt::Display for ChainHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// A movement as stored: the columns the chain covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredLine<'a> {
    pub seq: i64,
    pub kind: &'a str,
    pub sku: &'a str,
    pub quantity: i64,
    pub from: Option<&'a str>,
    pub to: Option<&'a str>,
    pub lot: &'a str,
    pub epcs: &'a str,
    pub actor: &'a str,
    pub source: &'a str,
    pub idempotency_key: Option<&'a str>,
    pub reason: Option<&'a str>,
    pub recorded_at: &'a str,
}

/// The hash of `line` linked to `previous`.
pub fn link(previous: &ChainHash, line: &StoredLine<'_>) -> ChainHash {
    let mut hasher = Sha256::new();
    hasher.update(previous.0);
    hasher.update(b"depot-edge-ledger-v1\n");
    let field = |hasher: &mut Sha256, name: &str, value: Option<&str>| {
        hasher.update(name.as_bytes());
        match value {
            Some(value) => {
                hasher.update(format!("={}:", value.len()).as_bytes());
                hasher.update(value.as_bytes());
            }
            None => hasher.update(b"!"),
        }
        hasher.update(b"\n");
    };
    field(&mut hasher, "seq", Some(&line.seq.to_string()));
    field(&mut hasher, "kind", Some(line.kind));
    field(&mut hasher, "sku", Some(line.sku));
    field(&mut hasher, "quantity", Some(&line.quantity.to_string()));
    field(&mut hasher, "from", line.from);
    field(&mut hasher, "to", line.to);
    field(&mut hasher, "lot", Some(line.lot));
    field(&mut hasher, "epcs", Some(line.epcs));
    field(&mut hasher, "actor", Some(line.actor));
    field(&mut hasher, "source", Some(line.source));
    field(&mut hasher, "idempotency_key", line.idempotency_key);
    field(&mut hasher, "reason", line.reason);
    field(&mut hasher, "recorded_at", Some(line.recorded_at));
    ChainHash(hasher.finalize().into())
}

/// The end of a verified chain: the last `seq` and its hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainHead {
    pub seq: i64,
    pub hash: ChainHash,
}

impl ChainHead {
    /// The head of an empty ledger.
    pub const EMPTY: ChainHead = ChainHead {
        seq: 0,
        hash: ChainHash::GENESIS,
    };
}

/// Where a chain stops being what its movements say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Break {
    /// A `seq` is missing or out of order: the one found where `expected` belonged.
    Gap { expected: i64, found: i64 },
    /// The movement's stored hash is not the hash of its content and its predecessor.
    Mismatch { seq: i64 },
    /// The movement has no hash although an earlier one has.
    Unhashed { seq: i64 },
}

impl Break {
    /// The first `seq` whose history cannot be trusted.
    pub fn seq(&self) -> i64 {
        match self {
            Break::Gap { expected, .. } => *expected,
            Break::Mismatch { seq } | Break::Unhashed { seq } => *seq,
        }
    }
}

/// Checks movements one by one, in `seq` order, from the start.
#[derive(Debug, Clone)]
pub struct Verifier {
    head: ChainHead,
}

impl Default for Verifier {
    fn default() -> Self {
        Self {
            head: ChainHead::EMPTY,
        }
    }
}

impl Verifier {
    /// Takes the next stored movement with its stored hash.
    pub fn next(&mut self, line: &StoredLine<'_>, stored: Option<&str>) -> Result<(), Break> {
        let expected = self.head.seq + 1;
        if line.seq != expected {
            return Err(Break::Gap {
                expected,
                found: line.seq,
            });
        }
        let Some(stored) = stored else {
            return Err(Break::Unhashed { seq: line.seq });
        };
        let hash = link(&self.head.hash, line);
        if ChainHash::parse(stored) != Some(hash) {
            return Err(Break::Mismatch { seq: line.seq });
        }
        self.head = ChainHead {
            seq: line.seq,
            hash,
        };
        Ok(())
    }

    /// The last movement verified so far.
    pub fn head(&self) -> ChainHead {
        self.head
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn line(seq: i64, quantity: i64) -> StoredLine<'static> {
        StoredLine {
            seq,
            kind: "receive",
            sku: "WATER-1",
            quantity,
            from: None,
            to: Some("A-01"),
            lot: "",
            epcs: "[]",
            actor: "staff",
            source: "handheld",
            idempotency_key: Some("k1"),
            reason: None,
            recorded_at: "2026-12-02T08:00:00Z",
        }
    }

    fn chain(quantities: &[i64]) -> Vec<(StoredLine<'static>, String)> {
        let mut previous = ChainHash::GENESIS;
        quantities
            .iter()
            .enumerate()
            .map(|(i, &q)| {
                let line = line(i as i64 + 1, q);
                previous = link(&previous, &line);
                (line, previous.to_hex())
            })
            .collect()
    }

    #[test]
    fn the_canonical_form_is_fixed() {
        // Computed independently from the documented form (Python hashlib).
        // A change of the form breaks every deployed ledger: this value may
        // only change with a new format version.
        assert_eq!(
            link(&ChainHash::GENESIS, &line(1, 5)).to_hex(),
            "2a3be63db5be17906fbf290279eadc2abd28199948701847be75a4ef3e5b7431"
        );
    }

    #[test]
    fn null_and_empty_are_different() {
        let mut with_empty = line(1, 1);
        with_empty.reason = Some("");
        assert_ne!(
            link(&ChainHash::GENESIS, &line(1, 1)),
            link(&ChainHash::GENESIS, &with_empty)
        );
    }

    #[test]
    fn values_cannot_shift_between_fields() {
        let mut a = line(1, 1);
        a.sku = "AB";
        a.lot = "C";
        let mut b = line(1, 1);
        b.sku = "A";
        b.lot = "BC";
        assert_ne!(link(&ChainHash::GENESIS, &a), link(&ChainHash::GENESIS, &b));
    }

    #[test]
    fn a_hash_round_trips_as_hex() {
        let hash = link(&ChainHash::GENESIS, &line(1, 1));
        assert_eq!(ChainHash::parse(&hash.to_hex()), Some(hash));
        assert_eq!(ChainHash::parse("zz"), None);
    }

    proptest! {
        #[test]
        fn an_untouched_chain_verifies(quantities in prop::collection::vec(1i64..1000, 0..40)) {
            let mut verifier = Verifier::default();
            for (line, hash) in &chain(&quantities) {
                prop_assert_eq!(verifier.next(line, Some(hash)), Ok(()));
            }
            prop_assert_eq!(verifier.head().seq, quantities.len() as i64);
        }

        #[test]
        fn a_changed_movement_is_named(
            quantities in prop::collection::vec(1i64..1000, 1..40),
            pick in any::<prop::sample::Index>(),
        ) {
            let mut lines = chain(&quantities);
            let changed = pick.index(lines.len());
            lines[changed].0.quantity += 1;
            let mut verifier = Verifier::default();
            let first_break = lines
                .iter()
                .find_map(|(line, hash)| verifier.next(line, Some(hash)).err());
            prop_assert_eq!(first_break, Some(Break::Mismatch { seq: changed as i64 + 1 }));
        }

        #[test]
        fn a_removed_movement_is_named(
            quantities in prop::collection::vec(1i64..1000, 2..40),
            pick in any::<prop::sample::Index>(),
        ) {
            let mut lines = chain(&quantities);
            let removed = pick.index(lines.len() - 1);
            lines.remove(removed);
            let mut verifier = Verifier::default();
            let first_break = lines
                .iter()
                .find_map(|(line, hash)| verifier.next(line, Some(hash)).err());
            prop_assert_eq!(first_break.map(|b| b.seq()), Some(removed as i64 + 1));
        }
    }
}
