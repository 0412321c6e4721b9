//! Password hashing with argon2id (the crate's recommended parameters, a fresh salt per hash).
//! Hashing is deliberately slow, so callers in async code run it on a blocking thread.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

/// A password could not be hashed (only on exhausted randomness or memory).
#[derive(Debug, thiserror::Error)]
#[error("cannot hash the password: {0}")]
pub struct HashError(String);

/// Hashes `password` into a PHC string (`$argon2id$v=19$…`) with a random salt.
pub fn hash(password: &str) -> Result<String, HashError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| HashError(e.to_string()))
}

/// Whether `password` matches the PHC string `hash`. A malformed hash matches nothing.
pub fn verify(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// A fixed hash to verify against when the user does not exist, so that a wrong user name takes
/// as long as a wrong password and the two cannot be told apart by timing.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash("decoy password nobody has").unwrap_or_default())
}

/// Runs [`hash`] on a blocking thread.
pub async fn hash_blocking(password: String) -> Result<String, HashError> {
    tokio::task::spawn_blocking(move || hash(&password))
        .await
        .map_err(|e| HashError(e.to_string()))?
}

/// Runs [`verify`] on a blocking thread.
pub async fn verify_blocking(password: String, hash: String) -> bool {
    tokio::task::spawn_blocking(move || verify(&password, &hash))
        .await
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only_and_never_equals_it() {
        let h = hash("correct horse").expect("hash");
        assert_ne!(h, "correct horse");
        assert!(!h.contains("correct horse"));
        assert!(h.starts_with("$argon2id$v=19$"), "{h}");
        assert!(verify("correct horse", &h));
        assert!(!verify("correct horse ", &h));
        assert!(!verify("", &h));
    }

    #[test]
    fn every_hash_has_its_own_salt() {
        assert_ne!(hash("same").expect("hash"), hash("same").expect("hash"));
    }

    #[test]
    fn a_malformed_hash_matches_nothing() {
        assert!(!verify("x", "not a hash"));
        assert!(!verify("x", ""));
        assert!(!verify("decoy password nobody has ", decoy_hash()));
    }
}
