//! Random secrets: API tokens, session ids and CSRF tokens, and the hashes under which the store
//! keeps the first two.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Every API token starts with this, so a leaked one is recognisable (and scannable).
pub const TOKEN_PREFIX: &str = "cst_";

/// 256 random bits, URL-safe base64 (43 characters).
pub fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A new API token: the prefix and 256 random bits.
pub fn new_token() -> String {
    format!("{TOKEN_PREFIX}{}", random_secret())
}

/// The lower-hex SHA-256 of a secret: what the store keeps instead of the secret. (A token has
/// 256 bits of entropy, so a fast hash is enough; no salt or stretching is needed.)
pub fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Compares two secrets in time independent of where they first differ (`subtle`).
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_prefixed_long_and_distinct() {
        let t = new_token();
        assert!(t.starts_with(TOKEN_PREFIX));
        let body = &t[TOKEN_PREFIX.len()..];
        assert_eq!(URL_SAFE_NO_PAD.decode(body).expect("base64").len(), 32);
        assert_ne!(new_token(), new_token());
    }

    #[test]
    fn the_hash_is_not_the_secret() {
        let t = new_token();
        let h = hash(&t);
        assert_eq!(h.len(), 64);
        assert!(!h.contains(&t[TOKEN_PREFIX.len()..]));
        assert_eq!(h, hash(&t));
    }

    #[test]
    fn constant_time_eq_compares_whole_strings() {
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "abcd"));
        assert!(!constant_time_eq("", "a"));
    }
}
