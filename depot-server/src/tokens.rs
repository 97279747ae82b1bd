//! API tokens and web session cookies: 256 random bits, shown once, stored
//! only as a SHA-256 hash.

use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The prefix that makes a Depot Edge token recognisable in logs and secret scanners.
const PREFIX: &str = "dpt_";

/// A fresh token: `dpt_` and 64 hex digits (256 bits from the OS's random source).
pub fn generate() -> String {
    format!("{PREFIX}{}", random_hex())
}

/// 256 bits from the OS's random source as 64 hex digits (session cookies, CSRF tokens).
pub fn random_hex() -> String {
    let mut secret = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    hex::encode(secret)
}

/// The stored form of a token: SHA-256, hex.
pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Compares two stored hashes in constant time.
pub fn hashes_match(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_and_hash_stably() {
        let a = generate();
        let b = generate();
        assert_ne!(a, b);
        assert_eq!(a.len(), 4 + 64);
        assert_eq!(hash(&a), hash(&a));
        assert!(hashes_match(&hash(&a), &hash(&a)));
        assert!(!hashes_match(&hash(&a), &hash(&b)));
    }
}
