//! Passwords for the web login: argon2id (the `argon2` crate's defaults,
//! OWASP's minimum: 19 MiB, 2 passes), stored as a PHC string with its salt
//! and parameters. Hashing costs tens of milliseconds on purpose, so callers
//! run it on a blocking thread, never on the writer.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rand::Rng;

/// The shortest password `user add`/`user passwd` accept.
pub const MIN_CHARS: usize = 8;

/// The longest password accepted (argon2 takes any length; this bounds the work).
pub const MAX_CHARS: usize = 256;

/// Why a password is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("a password must be {MIN_CHARS} to {MAX_CHARS} characters")]
    Length,
    #[error("the password could not be hashed: {0}")]
    Hash(String),
}

/// The PHC string of `password` with a fresh salt.
pub fn hash(password: &str) -> Result<String, PasswordError> {
    let chars = password.chars().count();
    if !(MIN_CHARS..=MAX_CHARS).contains(&chars) {
        return Err(PasswordError::Length);
    }
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// Whether `password` matches the stored PHC string. A string that does not
/// parse matches nothing.
pub fn verify(stored: &str, password: &str) -> bool {
    if password.chars().count() > MAX_CHARS {
        return false;
    }
    PasswordHash::new(stored).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// A fresh one-time password for the demo users: 16 characters from an
/// alphabet without look-alikes (about 90 bits).
pub fn generate() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rngs::OsRng;
    (0..16)
        .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only() {
        let stored = hash("correct horse").expect("hash");
        assert!(stored.starts_with("$argon2id$"), "{stored}");
        assert!(verify(&stored, "correct horse"));
        assert!(!verify(&stored, "correct horsf"));
        assert!(!verify("not a phc string", "correct horse"));
        assert_eq!(hash("short"), Err(PasswordError::Length));
        assert_ne!(generate(), generate());
    }
}
