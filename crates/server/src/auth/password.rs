//! Password hashing with argon2id (the crate's recommended parameters, a fresh salt per hash).
//! Hashing is deliberately slow, so callers in async code run it on a blocking thread.
//!
//! Each computation takes about 19 MiB and a core for tens of milliseconds, so the server runs
//! at most a few at once through a [`HashLimiter`]: a flood of sign-ins waits briefly for a
//! turn and is then told to come back later, instead of growing memory without bound. The
//! limiter also keeps one argon2 work area per turn and reuses it: left to the allocator, every
//! blocking thread would keep its own freed 19 MiB, and a flood would leave hundreds behind.

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;

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

/// [`verify`], computing in `memory` (grown as the hash's parameters need, then kept).
fn verify_in(password: &str, hash: &str, memory: &mut Vec<Block>) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return false;
    };
    let (Ok(algorithm), Ok(version), Ok(params)) = (
        Algorithm::try_from(parsed.algorithm.as_str()),
        parsed
            .version
            .map_or(Ok(Version::default()), Version::try_from),
        Params::try_from(&parsed),
    ) else {
        return false;
    };
    let blocks = params.block_count();
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    let mut out = vec![0u8; expected.len()];
    let argon = Argon2::new(algorithm, version, params);
    argon
        .hash_password_into_with_memory(password.as_bytes(), salt, &mut out, &mut memory[..blocks])
        .is_ok()
        && Output::new(&out).is_ok_and(|computed| &computed == expected)
}

/// [`hash`], computing in `memory` (grown as the default parameters need, then kept).
fn hash_in(password: &str, memory: &mut Vec<Block>) -> Result<String, HashError> {
    let failed = |e: &dyn std::fmt::Display| HashError(e.to_string());
    let params = Params::default();
    let blocks = params.block_count();
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    let mut salt = [0u8; Salt::RECOMMENDED_LENGTH];
    rand::fill(&mut salt);
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    let (algorithm, version) = (Algorithm::Argon2id, Version::V0x13);
    Argon2::new(algorithm, version, params.clone())
        .hash_password_into_with_memory(password.as_bytes(), &salt, &mut out, &mut memory[..blocks])
        .map_err(|e| failed(&e))?;
    let phc = PasswordHash {
        algorithm: algorithm.ident(),
        version: Some(version.into()),
        params: ParamsString::try_from(&params).map_err(|e| failed(&e))?,
        salt: Some(Salt::new(&salt).map_err(|e| failed(&e))?),
        hash: Some(Output::new(&out).map_err(|e| failed(&e))?),
    };
    Ok(phc.to_string())
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

/// How long a sign-in waits for a free hasher before it is told to come back later.
pub const DEFAULT_HASH_WAIT: Duration = Duration::from_millis(1500);

/// Every hasher was busy for longer than the limiter lets a caller wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("every password hasher is busy")]
pub struct Busy;

/// Bounds how many password computations (verifications and hashes) run at once; the rest
/// wait a little, then give up.
#[derive(Debug)]
pub struct HashLimiter {
    permits: Arc<Semaphore>,
    wait: Duration,
    /// Work areas not in use; never more than there are turns.
    memory: Arc<Mutex<Vec<Vec<Block>>>>,
}

impl HashLimiter {
    /// At most `concurrent` computations at once (at least one); a caller waits up to `wait`.
    pub fn new(concurrent: usize, wait: Duration) -> HashLimiter {
        HashLimiter {
            permits: Arc::new(Semaphore::new(concurrent.max(1))),
            wait,
            memory: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// One computation per available core, [`DEFAULT_HASH_WAIT`] to wait.
    pub fn per_core() -> HashLimiter {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        HashLimiter::new(cores, DEFAULT_HASH_WAIT)
    }

    /// [`verify`] on a blocking thread once a hasher is free, or [`Busy`] after the wait.
    /// The turn is held by the computation itself, so a caller that goes away early does
    /// not free it before the work is done.
    pub async fn verify(&self, password: String, hash: String) -> Result<bool, Busy> {
        Ok(self
            .in_turn(move |memory| verify_in(&password, &hash, memory))
            .await?
            .unwrap_or(false))
    }

    /// [`hash`] (the same parameters, a fresh salt) on a blocking thread once a hasher is
    /// free, or [`Busy`] after the wait: an admin setting passwords counts against the same
    /// bound as sign-ins.
    pub async fn hash(&self, password: String) -> Result<Result<String, HashError>, Busy> {
        Ok(self
            .in_turn(move |memory| hash_in(&password, memory))
            .await?
            .unwrap_or_else(|| Err(HashError("the hashing thread failed".into()))))
    }

    /// Runs `work` on a blocking thread with a turn and a reused work area; `None` if the
    /// thread panicked.
    async fn in_turn<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static,
    ) -> Result<Option<T>, Busy> {
        let permit = tokio::time::timeout(self.wait, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| Busy)?
            .map_err(|_| Busy)?;
        let pool = self.memory.clone();
        Ok(tokio::task::spawn_blocking(move || {
            let _turn = permit;
            let mut memory = pool
                .lock()
                .ok()
                .and_then(|mut free| free.pop())
                .unwrap_or_default();
            let out = work(&mut memory);
            if let Ok(mut free) = pool.lock() {
                free.push(memory);
            }
            out
        })
        .await
        .ok())
    }

    /// How many computations could start right now.
    pub fn available(&self) -> usize {
        self.permits.available_permits()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_limiter_runs_no_more_than_its_permits_and_turns_the_rest_away() {
        let limiter = Arc::new(HashLimiter::new(2, Duration::from_millis(50)));
        let h = hash("pw").expect("hash");
        // Hold both turns, as two running computations would.
        let held = limiter
            .permits
            .clone()
            .acquire_many_owned(2)
            .await
            .expect("permits");
        assert_eq!(limiter.verify("pw".into(), h.clone()).await, Err(Busy));
        drop(held);
        assert_eq!(limiter.verify("pw".into(), h.clone()).await, Ok(true));
        assert_eq!(limiter.verify("no".into(), h).await, Ok(false));
        assert_eq!(limiter.available(), 2, "every turn is given back");
    }

    #[tokio::test]
    async fn a_waiting_caller_gets_a_turn_freed_within_its_wait() {
        let limiter = Arc::new(HashLimiter::new(1, Duration::from_secs(5)));
        let h = hash("pw").expect("hash");
        let held = limiter
            .permits
            .clone()
            .acquire_owned()
            .await
            .expect("permit");
        let waiter = {
            let limiter = limiter.clone();
            tokio::spawn(async move { limiter.verify("pw".into(), h).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            !waiter.is_finished(),
            "it waits while the only hasher is busy"
        );
        drop(held);
        assert_eq!(waiter.await.expect("task"), Ok(true));
    }

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
    fn verifying_in_reused_memory_agrees_with_the_plain_verification() {
        let mut memory = Vec::new();
        let h = hash("correct horse").expect("hash");
        for _ in 0..2 {
            assert!(verify_in("correct horse", &h, &mut memory));
            assert!(!verify_in("correct horse ", &h, &mut memory));
        }
        assert!(!verify_in("x", "not a hash", &mut memory));
        assert!(!verify_in(
            "x",
            "$argon2id$v=19$m=19456,t=2,p=1",
            &mut memory
        ));
        // A hash made with other parameters verifies too.
        let params = Params::new(8, 1, 1, None).expect("params");
        let small = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(b"pw")
            .expect("hash")
            .to_string();
        assert!(verify_in("pw", &small, &mut memory));
        assert!(!verify_in("pw2", &small, &mut memory));
    }

    #[tokio::test]
    async fn the_limiter_hashes_with_the_default_parameters_in_its_turns() {
        let limiter = HashLimiter::new(1, Duration::from_millis(50));
        let h = limiter
            .hash("correct horse".into())
            .await
            .expect("a turn")
            .expect("hash");
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify("correct horse", &h));
        assert!(!verify("correct horse ", &h));
        let again = limiter.hash("correct horse".into()).await.expect("turn");
        assert_ne!(again.expect("hash"), h, "a fresh salt each time");
        let held = limiter
            .permits
            .clone()
            .acquire_owned()
            .await
            .expect("permit");
        assert!(matches!(limiter.hash("pw".into()).await, Err(Busy)));
        drop(held);
        assert_eq!(limiter.available(), 1);
    }

    #[test]
    fn a_malformed_hash_matches_nothing() {
        assert!(!verify("x", "not a hash"));
        assert!(!verify("x", ""));
        assert!(!verify("decoy password nobody has ", decoy_hash()));
    }
}
