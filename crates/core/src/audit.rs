//! The tamper-evident audit trail (docs/audit.md).
//!
//! Events form a hash chain: each carries the hash of the one before it (`prev_hash`; the first
//! carries [`GENESIS_HASH`]) and its own `hash`, the lower-hex SHA-256 of `prev_hash` followed by
//! the canonical JSON of its other fields (`seq, at, actor, action, request_id, revision,
//! details`). Editing an event breaks its hash; removing, inserting or reordering events breaks
//! the `seq` sequence or the `prev_hash` links. Sequence numbers start at [`FIRST_SEQ`] and
//! increase by one.
//!
//! Canonical JSON ([`canonical_json`]) is serde_json's compact form with every object's keys
//! sorted by their UTF-8 bytes, at every depth. `at` is hashed in the fixed text form of
//! [`crate::timestamp`] (UTC, six fractional digits), so an event read back from an export
//! hashes exactly as it did when written.
//!
//! Nothing here stores events: the store appends [`AuditEntry::seal`]ed events and never
//! updates or deletes them; exports and `countersign audit verify` feed them back through
//! [`verify_chain`] or a [`ChainVerifier`], in constant memory.

use std::borrow::Borrow;

use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;
use sha2::{Digest, Sha256};
use time::{OffsetDateTime, UtcOffset};

use crate::names::named_enum;

/// The `prev_hash` of the first event: 64 zeros.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The `seq` of the first event.
pub const FIRST_SEQ: i64 = 1;

named_enum! {
    /// What an audit event records. Events store the action as text ([`AuditEntry::action`]),
    /// so a chain written by a later version with more actions still verifies.
    pub enum AuditAction ("audit action") {
        UserLogin = "user.login",
        UserLoginFailed = "user.login_failed",
        UserLoginThrottled = "user.login_throttled",
        UserCreated = "user.created",
        UserDisabled = "user.disabled",
        UserEnabled = "user.enabled",
        UserPasswordChanged = "user.password_changed",
        UserRolesChanged = "user.roles_changed",
        TokenCreated = "token.created",
        TokenRevoked = "token.revoked",
        RequestSubmitted = "request.submitted",
        RequestRevised = "request.revised",
        ReviewApproved = "review.approved",
        ReviewRejected = "review.rejected",
        RequestWithdrawn = "request.withdrawn",
        ExecutionStarted = "execution.started",
        ExecutionFinished = "execution.finished",
        ExecutionReconciled = "execution.reconciled",
        RehearsalStarted = "rehearsal.started",
        RehearsalFinished = "rehearsal.finished",
        UndoPruned = "undo.pruned",
        ApprovalExpired = "approval.expired",
        CommentAdded = "comment.added",
    }
}

/// An event before it joins the chain: every field that the hash covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    /// The previous event's `seq` plus one ([`FIRST_SEQ`] for the first event).
    pub seq: i64,
    #[serde(with = "crate::timestamp_serde")]
    pub at: OffsetDateTime,
    /// The user name of who did it; `None` for the system.
    pub actor: Option<String>,
    /// Normally an [`AuditAction::as_str`].
    pub action: String,
    pub request_id: Option<i64>,
    pub revision: Option<i64>,
    pub details: Value,
}

/// An event of the chain, as stored and exported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub seq: i64,
    /// Serialized in the fixed form of [`crate::timestamp`]; any RFC 3339 time is accepted.
    #[serde(with = "crate::timestamp_serde")]
    pub at: OffsetDateTime,
    pub actor: Option<String>,
    pub action: String,
    pub request_id: Option<i64>,
    pub revision: Option<i64>,
    pub details: Value,
    /// The hash of the event before this one, or [`GENESIS_HASH`].
    pub prev_hash: String,
    /// [`compute_hash`] of `prev_hash` and the fields above.
    pub hash: String,
}

impl AuditEntry {
    /// Joins the chain after the event whose hash is `prev_hash` ([`GENESIS_HASH`] for the
    /// first). `at` is normalised to UTC and whole microseconds first, so that the event equals
    /// itself read back from text.
    pub fn seal(mut self, prev_hash: &str) -> AuditEvent {
        self.at = self
            .at
            .to_offset(UtcOffset::UTC)
            .replace_nanosecond(self.at.nanosecond() / 1_000 * 1_000)
            .unwrap_or(self.at);
        let hash = compute_hash(prev_hash, &self);
        let AuditEntry {
            seq,
            at,
            actor,
            action,
            request_id,
            revision,
            details,
        } = self;
        AuditEvent {
            seq,
            at,
            actor,
            action,
            request_id,
            revision,
            details,
            prev_hash: prev_hash.to_owned(),
            hash,
        }
    }
}

impl AuditEvent {
    /// The hash the event's contents call for; it differs from [`Self::hash`] if the event
    /// was altered.
    pub fn computed_hash(&self) -> String {
        hash_fields(
            &self.prev_hash,
            &HashedFields {
                action: &self.action,
                actor: self.actor.as_deref(),
                at: crate::timestamp::format(self.at),
                details: Canonical(&self.details),
                request_id: self.request_id,
                revision: self.revision,
                seq: self.seq,
            },
        )
    }
}

/// The lower-hex SHA-256 of `prev_hash` followed by the canonical JSON of `entry`.
pub fn compute_hash(prev_hash: &str, entry: &AuditEntry) -> String {
    hash_fields(
        prev_hash,
        &HashedFields {
            action: &entry.action,
            actor: entry.actor.as_deref(),
            at: crate::timestamp::format(entry.at),
            details: Canonical(&entry.details),
            request_id: entry.request_id,
            revision: entry.revision,
            seq: entry.seq,
        },
    )
}

/// `value` as canonical JSON: compact, with every object's keys sorted by their UTF-8 bytes.
pub fn canonical_json(value: &Value) -> String {
    to_json(&Canonical(value))
}

/// The hashed fields, declared in sorted key order so that serializing the struct gives the
/// canonical JSON of the object with these keys.
#[derive(Serialize)]
struct HashedFields<'a> {
    action: &'a str,
    actor: Option<&'a str>,
    at: String,
    details: Canonical<'a>,
    request_id: Option<i64>,
    revision: Option<i64>,
    seq: i64,
}

fn hash_fields(prev_hash: &str, fields: &HashedFields<'_>) -> String {
    let digest = Sha256::new()
        .chain_update(prev_hash.as_bytes())
        .chain_update(to_json(fields).as_bytes());
    hex::encode(digest.finalize())
}

fn to_json(value: &impl Serialize) -> String {
    serde_json::to_string(value).expect("JSON values and string-keyed structs always serialize")
}

/// Serializes a JSON value with the keys of every object in sorted order, whatever the map
/// type behind `serde_json::Map`.
struct Canonical<'a>(&'a Value);

impl Serialize for Canonical<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Object(object) => {
                let mut members: Vec<(&String, &Value)> = object.iter().collect();
                members.sort_unstable_by(|a, b| a.0.cmp(b.0));
                let mut map = serializer.serialize_map(Some(members.len()))?;
                for (key, value) in members {
                    map.serialize_entry(key, &Canonical(value))?;
                }
                map.end()
            }
            Value::Array(items) => serializer.collect_seq(items.iter().map(Canonical)),
            scalar => scalar.serialize(serializer),
        }
    }
}

/// Where the chain first breaks, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the audit chain breaks at event #{seq} (number {position} in order): {reason}")]
pub struct ChainBreak {
    /// The `seq` of the event at which the chain breaks, as the event states it.
    pub seq: i64,
    /// The event's 1-based position in the events checked.
    pub position: u64,
    pub reason: BreakReason,
}

/// Why the chain breaks at an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BreakReason {
    #[error("its hash does not match its contents, so the event was altered")]
    Altered { stored: String, computed: String },
    #[error(
        "its prev_hash is not the hash of the event before it, so events were removed, \
         inserted or reordered"
    )]
    Unlinked { expected: String, found: String },
    #[error("the chain must start at event #{FIRST_SEQ}, so the events before it were removed")]
    MissingStart,
    #[error("it follows event #{previous}, so the events between them were removed or reordered")]
    Gap { previous: i64 },
    #[error("it follows event #{previous}, which is not earlier, so events were reordered")]
    OutOfOrder { previous: i64 },
}

/// Checks events one at a time, in order, keeping only the last event's `seq` and hash.
/// Stop at the first error: later results are meaningless.
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    last: Option<(i64, String)>,
    anchored: bool,
    checked: u64,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        Self::new()
    }
}

impl ChainVerifier {
    /// For a whole chain: the first event must be [`FIRST_SEQ`] with [`GENESIS_HASH`].
    pub fn new() -> Self {
        Self {
            last: None,
            anchored: true,
            checked: 0,
        }
    }

    /// For the events that follow a trusted event (for example, the last one verified before).
    pub fn after(seq: i64, hash: impl Into<String>) -> Self {
        Self {
            last: Some((seq, hash.into())),
            anchored: true,
            checked: 0,
        }
    }

    /// For an excerpt (an export from a start time): the first event is taken as it states
    /// its `seq` and `prev_hash`, and only its hash and what follows are checked. Events removed
    /// just before the excerpt cannot be detected this way.
    pub fn excerpt() -> Self {
        Self {
            last: None,
            anchored: false,
            checked: 0,
        }
    }

    /// Checks the next event.
    pub fn check(&mut self, event: &AuditEvent) -> Result<(), ChainBreak> {
        let position = self.checked + 1;
        let broken = |reason| ChainBreak {
            seq: event.seq,
            position,
            reason,
        };

        let expected_prev = match &self.last {
            Some((previous, hash)) => {
                if event.seq <= *previous {
                    return Err(broken(BreakReason::OutOfOrder {
                        previous: *previous,
                    }));
                }
                if event.seq != previous + 1 {
                    return Err(broken(BreakReason::Gap {
                        previous: *previous,
                    }));
                }
                Some(hash.as_str())
            }
            None if self.anchored => {
                if event.seq != FIRST_SEQ {
                    return Err(broken(BreakReason::MissingStart));
                }
                Some(GENESIS_HASH)
            }
            None => None,
        };
        if let Some(expected) = expected_prev.filter(|&expected| expected != event.prev_hash) {
            return Err(broken(BreakReason::Unlinked {
                expected: expected.to_owned(),
                found: event.prev_hash.clone(),
            }));
        }

        let computed = event.computed_hash();
        if computed != event.hash {
            return Err(broken(BreakReason::Altered {
                stored: event.hash.clone(),
                computed,
            }));
        }

        self.last = Some((event.seq, event.hash.clone()));
        self.checked = position;
        Ok(())
    }

    /// How many events have passed.
    pub fn verified(&self) -> u64 {
        self.checked
    }
}

/// Verifies a whole chain from its first event, returning how many events it holds, or where
/// it first breaks. Consumes `events` one at a time.
pub fn verify_chain<I>(events: I) -> Result<u64, ChainBreak>
where
    I: IntoIterator,
    I::Item: Borrow<AuditEvent>,
{
    let mut verifier = ChainVerifier::new();
    for event in events {
        verifier.check(event.borrow())?;
    }
    Ok(verifier.verified())
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use time::macros::datetime;

    use super::*;

    fn entry(seq: i64) -> AuditEntry {
        AuditEntry {
            seq,
            at: datetime!(2025-03-04 05:06:07.123456789 +02:00),
            actor: (seq % 3 != 0).then(|| format!("user{seq}")),
            action: AuditAction::ALL[seq as usize % AuditAction::ALL.len()]
                .as_str()
                .to_owned(),
            request_id: Some(seq / 2),
            revision: (seq % 2 == 0).then_some(1),
            details: json!({"n": seq, "z": [1, {"b": 2, "a": "é"}], "a": null}),
        }
    }

    fn chain(len: i64) -> Vec<AuditEvent> {
        let mut events: Vec<AuditEvent> = Vec::new();
        for seq in FIRST_SEQ..FIRST_SEQ + len {
            let prev = events.last().map_or(GENESIS_HASH, |e| e.hash.as_str());
            let event = entry(seq).seal(prev);
            events.push(event);
        }
        events
    }

    fn break_of(events: &[AuditEvent]) -> ChainBreak {
        verify_chain(events).unwrap_err()
    }

    #[test]
    fn genesis_is_64_zeros() {
        assert_eq!(GENESIS_HASH.len(), 64);
        assert!(GENESIS_HASH.bytes().all(|b| b == b'0'));
    }

    #[test]
    fn actions_use_the_contract_names() {
        assert_eq!(
            AuditAction::NAMES,
            [
                "user.login",
                "user.login_failed",
                "user.login_throttled",
                "user.created",
                "user.disabled",
                "user.enabled",
                "user.password_changed",
                "user.roles_changed",
                "token.created",
                "token.revoked",
                "request.submitted",
                "request.revised",
                "review.approved",
                "review.rejected",
                "request.withdrawn",
                "execution.started",
                "execution.finished",
                "execution.reconciled",
                "rehearsal.started",
                "rehearsal.finished",
                "undo.pruned",
                "approval.expired",
                "comment.added",
            ]
        );
        assert_eq!(
            "review.rejected".parse::<AuditAction>(),
            Ok(AuditAction::ReviewRejected)
        );
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_depth_and_has_no_whitespace() {
        let value: Value =
            serde_json::from_str(r#"{ "b": 1, "a": { "y": [ {"d": 1, "c": 2} ], "x": "é\n" } }"#)
                .unwrap();
        assert_eq!(
            canonical_json(&value),
            r#"{"a":{"x":"é\n","y":[{"c":2,"d":1}]},"b":1}"#
        );
    }

    #[test]
    fn canonical_json_is_independent_of_key_order() {
        let one: Value = serde_json::from_str(r#"{"a":1,"b":{"c":[1,2],"d":null}}"#).unwrap();
        let other: Value = serde_json::from_str(r#"{"b":{"d":null,"c":[1,2]},"a":1}"#).unwrap();
        assert_eq!(canonical_json(&one), canonical_json(&other));
    }

    #[test]
    fn the_hash_is_sha256_of_prev_hash_then_the_canonical_fields() {
        let entry = AuditEntry {
            seq: 1,
            at: datetime!(2025-01-02 03:04:05.5 UTC),
            actor: None,
            action: "user.created".into(),
            request_id: None,
            revision: None,
            details: json!({"name": "bob", "roles": ["reviewer"]}),
        };
        let fields = r#"{"action":"user.created","actor":null,"at":"2025-01-02T03:04:05.500000Z","details":{"name":"bob","roles":["reviewer"]},"request_id":null,"revision":null,"seq":1}"#;
        assert_eq!(
            canonical_json(&serde_json::to_value(&entry).unwrap()),
            fields
        );
        let expected = hex::encode(Sha256::digest(format!("{GENESIS_HASH}{fields}")));
        assert_eq!(compute_hash(GENESIS_HASH, &entry), expected);
        assert_eq!(entry.seal(GENESIS_HASH).hash, expected);
    }

    #[test]
    fn the_hash_does_not_depend_on_details_key_order() {
        let mut one = entry(1);
        one.details = serde_json::from_str(r#"{"a":1,"b":2}"#).unwrap();
        let mut other = entry(1);
        other.details = serde_json::from_str(r#"{"b":2,"a":1}"#).unwrap();
        assert_eq!(
            compute_hash(GENESIS_HASH, &one),
            compute_hash(GENESIS_HASH, &other)
        );
    }

    #[test]
    fn every_field_is_covered_by_the_hash() {
        let base = entry(2);
        let hash = compute_hash(GENESIS_HASH, &base);
        let changes: [fn(&mut AuditEntry); 7] = [
            |e| e.seq += 1,
            |e| e.at += time::Duration::microseconds(1),
            |e| e.actor = None,
            |e| e.action.push('x'),
            |e| e.request_id = None,
            |e| e.revision = Some(2),
            |e| e.details["n"] = json!(3),
        ];
        for change in changes {
            let mut changed = base.clone();
            change(&mut changed);
            assert_ne!(compute_hash(GENESIS_HASH, &changed), hash);
        }
        assert_ne!(compute_hash(&"1".repeat(64), &base), hash);
    }

    #[test]
    fn sealing_normalises_time_to_utc_microseconds() {
        let event = entry(1).seal(GENESIS_HASH);
        assert_eq!(event.at, datetime!(2025-03-04 03:06:07.123456 UTC));
        assert_eq!(event.prev_hash, GENESIS_HASH);
        assert_eq!(event.computed_hash(), event.hash);
    }

    #[test]
    fn an_untouched_chain_verifies() {
        assert_eq!(verify_chain(chain(10)), Ok(10));
        assert_eq!(verify_chain(Vec::<AuditEvent>::new()), Ok(0));
    }

    #[test]
    fn a_chain_survives_a_round_trip_through_json_lines() {
        let lines: Vec<String> = chain(5)
            .iter()
            .map(|e| serde_json::to_string(e).unwrap())
            .collect();
        assert!(lines[0].contains(r#""at":"2025-03-04T03:06:07.123456Z""#));
        let parsed = lines
            .iter()
            .map(|line| serde_json::from_str::<AuditEvent>(line).unwrap());
        assert_eq!(verify_chain(parsed), Ok(5));
    }

    #[test]
    fn one_changed_byte_names_the_altered_event() {
        let mut events = chain(6);
        let line = serde_json::to_string(&events[3])
            .unwrap()
            .replace(r#""n":4"#, r#""n":5"#);
        events[3] = serde_json::from_str(&line).unwrap();
        let err = break_of(&events);
        assert_eq!((err.seq, err.position), (4, 4));
        assert!(matches!(err.reason, BreakReason::Altered { .. }));
        assert_eq!(
            err.to_string(),
            "the audit chain breaks at event #4 (number 4 in order): \
             its hash does not match its contents, so the event was altered"
        );
    }

    #[test]
    fn a_rewritten_hash_breaks_the_link_to_the_next_event() {
        let mut events = chain(6);
        events[2].details = json!("forged");
        events[2].hash = events[2].computed_hash();
        let err = break_of(&events);
        assert_eq!(err.seq, 4);
        assert!(matches!(err.reason, BreakReason::Unlinked { .. }));
    }

    #[test]
    fn a_deleted_event_names_the_event_after_the_gap() {
        let mut events = chain(6);
        events.remove(2);
        let err = break_of(&events);
        assert_eq!(
            err,
            ChainBreak {
                seq: 4,
                position: 3,
                reason: BreakReason::Gap { previous: 2 }
            }
        );
        assert_eq!(
            err.to_string(),
            "the audit chain breaks at event #4 (number 3 in order): \
             it follows event #2, so the events between them were removed or reordered"
        );
    }

    #[test]
    fn a_deleted_last_event_cannot_be_seen_but_a_deleted_first_one_can() {
        let mut events = chain(4);
        events.pop();
        assert_eq!(verify_chain(&events), Ok(3));
        events.remove(0);
        assert_eq!(
            break_of(&events),
            ChainBreak {
                seq: 2,
                position: 1,
                reason: BreakReason::MissingStart
            }
        );
    }

    #[test]
    fn a_renumbered_deletion_breaks_the_link() {
        let mut events = chain(6);
        events.remove(2);
        for event in &mut events[2..] {
            event.seq -= 1;
            event.hash = event.computed_hash();
        }
        let err = break_of(&events);
        assert_eq!((err.seq, err.position), (3, 3));
        assert!(matches!(err.reason, BreakReason::Unlinked { .. }));
    }

    #[test]
    fn swapped_events_name_the_first_out_of_place() {
        let mut events = chain(6);
        events.swap(2, 3);
        assert_eq!(
            break_of(&events),
            ChainBreak {
                seq: 4,
                position: 3,
                reason: BreakReason::Gap { previous: 2 }
            }
        );

        // Renumbered and rehashed to hide the swap: the links still tell.
        let mut events = chain(6);
        events.swap(2, 3);
        for (event, seq) in events[2..4].iter_mut().zip(3..) {
            event.seq = seq;
            event.hash = event.computed_hash();
        }
        let err = break_of(&events);
        assert_eq!((err.seq, err.position), (3, 3));
        assert!(matches!(err.reason, BreakReason::Unlinked { .. }));
    }

    #[test]
    fn a_repeated_or_earlier_seq_is_out_of_order() {
        let mut events = chain(4);
        events.insert(3, events[1].clone());
        assert_eq!(
            break_of(&events),
            ChainBreak {
                seq: 2,
                position: 4,
                reason: BreakReason::OutOfOrder { previous: 3 }
            }
        );
    }

    #[test]
    fn the_first_event_must_link_to_genesis() {
        let mut events = chain(2);
        events[0].prev_hash = "f".repeat(64);
        events[0].hash = events[0].computed_hash();
        let err = break_of(&events);
        assert_eq!((err.seq, err.position), (1, 1));
        assert_eq!(
            err.reason,
            BreakReason::Unlinked {
                expected: GENESIS_HASH.into(),
                found: "f".repeat(64)
            }
        );
    }

    #[test]
    fn a_verifier_can_continue_after_a_trusted_event() {
        let events = chain(6);
        let mut verifier = ChainVerifier::after(3, events[2].hash.clone());
        for event in &events[3..] {
            verifier.check(event).unwrap();
        }
        assert_eq!(verifier.verified(), 3);

        let mut wrong = ChainVerifier::after(3, GENESIS_HASH);
        assert!(matches!(
            wrong.check(&events[3]).unwrap_err().reason,
            BreakReason::Unlinked { .. }
        ));
    }

    #[test]
    fn an_excerpt_verifies_from_wherever_it_starts() {
        let events = chain(6);
        let mut verifier = ChainVerifier::excerpt();
        for event in &events[2..] {
            verifier.check(event).unwrap();
        }
        assert_eq!(verifier.verified(), 4);

        let mut altered = events[2].clone();
        altered.actor = Some("mallory".into());
        let err = ChainVerifier::excerpt().check(&altered).unwrap_err();
        assert!(matches!(err.reason, BreakReason::Altered { .. }));
    }

    #[test]
    fn events_deserialize_times_in_any_rfc3339_form() {
        let mut value = serde_json::to_value(&chain(1)[0]).unwrap();
        value["at"] = json!("2025-03-04T05:06:07.123456+02:00");
        let event: AuditEvent = serde_json::from_value(value).unwrap();
        assert_eq!(verify_chain([event]), Ok(1));
    }
}
