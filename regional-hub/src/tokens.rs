//! API tokens: 256 random bits, shown once, stored only as a SHA-256 hash.

use rand::RngCore;
use sha2::{Digest, Sha256};

/// The prefix that makes a hub token recognisable in logs and secret scanners.
const PREFIX: &str = "hub_";

/// A fresh token: `hub_` and 64 hex digits from the OS's random source.
pub fn generate() -> String {
    let mut secret = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    format!("{PREFIX}{}", hex::encode(secret))
}

/// The stored form of a token: SHA-256, hex. Lookup is by this hash, so the
/// comparison happens in the database's index, never on the secret itself.
pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_and_hash_stably() {
        let a = generate();
        assert_ne!(a, generate());
        assert_eq!(a.len(), 4 + 64);
        assert_eq!(hash(&a), hash(&a));
    }
}
