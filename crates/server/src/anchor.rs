//! Anchoring the audit trail: Ed25519-signed checkpoints of its head.
//!
//! The hash chain shows any edit made by someone who cannot also recompute the hashes — but
//! whoever can write to the store can. A checkpoint is the chain's `seq` and `hash` at one
//! moment, signed with a key the store never holds (`audit.signing_key_env`): a chain rewritten
//! before a checkpoint no longer has the signed hash, and a chain cut short before it no longer
//! reaches its `seq`. The server signs one every `audit.checkpoint_every` events and at shutdown,
//! and sends each to `audit.checkpoint_sink` if one is configured ([`crate::checkpoint_sink`]);
//! exports made with the key end with a signed trailer, so a truncated export fails to verify.
//!
//! Keys travel as base64 (standard alphabet, padded) of their 32 bytes: the private key is the
//! seed, the public key the Ed25519 verifying key. `countersign audit keygen` makes a pair.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::stoppable::Stoppable;

/// What is signed: a fixed prefix (so no other Ed25519 signature can pass for a checkpoint),
/// the sequence number and the hash.
fn message(seq: i64, hash: &str) -> String {
    format!("countersign audit checkpoint\n{seq}\n{hash}\n")
}

/// A key that does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an Ed25519 key: expected the base64 of 32 bytes")]
pub struct BadKey;

/// The private key that signs checkpoints. Its `Debug` shows only the public key.
#[derive(Clone)]
pub struct AuditKey(SigningKey);

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AuditKey(public {})", self.public())
    }
}

impl PartialEq for AuditKey {
    fn eq(&self, other: &AuditKey) -> bool {
        self.public() == other.public()
    }
}

impl Eq for AuditKey {}

impl AuditKey {
    /// A new random key.
    pub fn generate() -> AuditKey {
        let mut seed = [0u8; 32];
        rand::fill(&mut seed);
        AuditKey(SigningKey::from_bytes(&seed))
    }

    /// Decodes a private key (base64 of its 32-byte seed).
    pub fn parse(text: &str) -> Result<AuditKey, BadKey> {
        let seed: [u8; 32] = decode32(text)?;
        Ok(AuditKey(SigningKey::from_bytes(&seed)))
    }

    /// The private key as base64: for `audit keygen` only.
    pub fn private_base64(&self) -> String {
        STANDARD.encode(self.0.to_bytes())
    }

    /// The public key as base64: what `audit verify --public-key` takes.
    pub fn public(&self) -> String {
        STANDARD.encode(self.0.verifying_key().to_bytes())
    }

    /// A checkpoint of the chain at `seq` whose event hash is `hash`.
    pub fn sign(&self, seq: i64, hash: &str) -> Checkpoint {
        Checkpoint {
            seq,
            hash: hash.to_owned(),
            public_key: self.public(),
            signature: STANDARD.encode(self.0.sign(message(seq, hash).as_bytes()).to_bytes()),
        }
    }
}

/// A signed statement that event `seq` of the chain has hash `hash`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    pub seq: i64,
    pub hash: String,
    /// The signer's public key (base64), for people; verification uses the key it is given.
    pub public_key: String,
    /// The Ed25519 signature (base64).
    pub signature: String,
}

/// A public key that checks checkpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    pub fn parse(text: &str) -> Result<PublicKey, BadKey> {
        let bytes: [u8; 32] = decode32(text)?;
        VerifyingKey::from_bytes(&bytes)
            .map(PublicKey)
            .map_err(|_| BadKey)
    }

    /// Whether `checkpoint` was signed by this key (and says what it was signed over).
    pub fn signed(&self, checkpoint: &Checkpoint) -> bool {
        let Ok(bytes) = STANDARD.decode(checkpoint.signature.trim()) else {
            return false;
        };
        let Ok(signature) = Signature::from_slice(&bytes) else {
            return false;
        };
        self.0
            .verify(
                message(checkpoint.seq, &checkpoint.hash).as_bytes(),
                &signature,
            )
            .is_ok()
    }
}

fn decode32(text: &str) -> Result<[u8; 32], BadKey> {
    STANDARD
        .decode(text.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(BadKey)
}

/// The last line of a JSON Lines export made with a key: `{"checkpoint": {…}}` over its last
/// event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trailer {
    pub checkpoint: Checkpoint,
}

/// How often the server looks whether a checkpoint is due.
const CHECKPOINT_POLL: std::time::Duration = std::time::Duration::from_secs(1);

impl crate::AppState {
    /// Signs and stores a checkpoint of the chain's head if it moved past the last checkpoint
    /// by at least `min_events` events; returns the checkpointed `seq`, if any. Without a key,
    /// does nothing.
    pub async fn checkpoint(
        &self,
        min_events: i64,
    ) -> Result<Option<i64>, countersign_store::StoreError> {
        let Some(key) = &self.config.audit.signing_key else {
            return Ok(None);
        };
        let (seq, hash) = self.store.audit_head().await?;
        if seq == 0 || seq - self.store.last_checkpoint_seq().await? < min_events.max(1) {
            return Ok(None);
        }
        let c = key.sign(seq, &hash);
        let signed_at = countersign_core::timestamp::now();
        let kept = self
            .store
            .record_checkpoint(
                &countersign_store::CheckpointRecord {
                    seq: c.seq,
                    hash: c.hash.clone(),
                    public_key: c.public_key.clone(),
                    signature: c.signature.clone(),
                },
                signed_at,
            )
            .await?;
        // Sent on only by the instance whose copy was kept; a failure to send is logged.
        if let (true, Some(sink)) = (kept, &self.config.audit.checkpoint_sink) {
            sink.deliver(&c, signed_at).await;
        }
        Ok(Some(seq))
    }

    /// Checkpoints the chain every `audit.checkpoint_every` events, looking once a second.
    pub fn spawn_checkpointer(&self) -> Option<Stoppable> {
        self.config.audit.signing_key.as_ref()?;
        let state = self.clone();
        // Stopped between two checkpoints, so one being stored is also sent to the sink.
        Some(Stoppable::spawn(move |mut signal| async move {
            while !signal.is_stopped() {
                if let Err(e) = state.checkpoint(state.config.audit.checkpoint_every).await {
                    tracing::warn!(error = ?e.to_string(), "cannot checkpoint the audit trail");
                }
                tokio::select! {
                    () = tokio::time::sleep(CHECKPOINT_POLL) => {}
                    () = signal.stopped() => {}
                }
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_verifies_with_its_key_only_and_only_as_signed() {
        let key = AuditKey::generate();
        let public = PublicKey::parse(&key.public()).expect("public key");
        let c = key.sign(42, "ab".repeat(32).as_str());
        assert!(public.signed(&c));
        let other = PublicKey::parse(&AuditKey::generate().public()).expect("other key");
        assert!(!other.signed(&c), "another key");
        for tampered in [
            Checkpoint {
                seq: 43,
                ..c.clone()
            },
            Checkpoint {
                hash: "cd".repeat(32),
                ..c.clone()
            },
            Checkpoint {
                signature: "AAAA".into(),
                ..c.clone()
            },
        ] {
            assert!(!public.signed(&tampered), "{tampered:?}");
        }
    }

    #[test]
    fn keys_round_trip_as_base64_and_debug_shows_no_secret() {
        let key = AuditKey::generate();
        let again = AuditKey::parse(&key.private_base64()).expect("parse");
        assert_eq!(again.public(), key.public());
        assert!(!format!("{key:?}").contains(&key.private_base64()));
        assert_eq!(AuditKey::parse("short"), Err(BadKey));
        assert_eq!(PublicKey::parse("!!"), Err(BadKey));
    }
}
