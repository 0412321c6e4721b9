//! The words of an edit request's life: its status, a reviewer's decision and review, and the
//! outcome of its execution. The rules that move a request between statuses live in
//! [`crate::lifecycle`]; who may move it, in [`crate::permission`].

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::names::named_enum;

named_enum! {
    /// Where an edit request is in its lifecycle (docs/lifecycle.md). Stored as [`Self::as_str`].
    pub enum RequestStatus ("request status") {
        /// Submitted or revised; waiting for its named reviewers.
        PendingReview = "pending_review",
        /// Enough approvals on the current revision; may be executed.
        Approved = "approved",
        /// A named reviewer rejected the current revision; the author may revise it.
        Rejected = "rejected",
        /// Withdrawn by its author or an admin. Final.
        Withdrawn = "withdrawn",
        /// Claimed for execution: the system is running (or ran, before a crash) its SQL.
        Executing = "executing",
        /// The transaction committed. Final.
        Executed = "executed",
        /// The run did not commit, or whether it did is unknown. Final: never retried.
        Failed = "failed",
    }
}

impl RequestStatus {
    /// The status in words for sentences and pages ("pending review").
    pub const fn label(self) -> &'static str {
        match self {
            Self::PendingReview => "pending review",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::Withdrawn => "withdrawn",
            Self::Executing => "executing",
            Self::Executed => "executed",
            Self::Failed => "failed",
        }
    }

    /// Whether nothing can happen to the request any more.
    pub const fn is_final(self) -> bool {
        matches!(self, Self::Withdrawn | Self::Executed | Self::Failed)
    }
}

named_enum! {
    /// A named reviewer's decision on one revision.
    pub enum ReviewDecision ("review decision") {
        Approve = "approve",
        Reject = "reject",
    }
}

/// A named reviewer's decision on one revision, bound to the SHA-256 of that revision's SQL so
/// that it can never count for other SQL (docs/lifecycle.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Review {
    /// The reviewer's user name.
    pub reviewer: String,
    pub decision: ReviewDecision,
    /// Required for a rejection (see [`crate::validation::NewReview`]); may be empty otherwise.
    pub comment: String,
    /// The revision reviewed.
    pub revision: i64,
    /// [`sql_sha256`] of the SQL of the revision reviewed.
    pub sql_sha256: String,
    #[serde(with = "crate::timestamp_serde")]
    pub created_at: OffsetDateTime,
    /// The rehearsal the reviewer saw: the latest of the revision when they reviewed.
    #[serde(default)]
    pub rehearsal_id: Option<i64>,
}

named_enum! {
    /// How an execution ended (docs/lifecycle.md).
    pub enum ExecutionOutcome ("execution outcome") {
        /// The transaction committed.
        Committed = "committed",
        /// The transaction was rolled back without a database error (for example, found
        /// aborted when reconciling after a crash).
        RolledBack = "rolled_back",
        /// The database refused a statement; the transaction was rolled back.
        Error = "error",
        /// The row-count guard fired: the actual total differed from the expected rows.
        Guard = "guard",
        /// A statement or lock timeout of the target's policy fired.
        Timeout = "timeout",
        /// The run was interrupted and the target cannot tell whether it committed.
        Unknown = "unknown",
        /// Undo is required on the target and the run's before-images could not be taken;
        /// nothing was changed.
        NoUndo = "no_undo",
    }
}

impl ExecutionOutcome {
    /// Whether the SQL's changes are in the target.
    pub const fn is_committed(self) -> bool {
        matches!(self, Self::Committed)
    }
}

named_enum! {
    /// Where a rehearsal is, or how it ended (design §10).
    pub enum RehearsalStatus ("rehearsal status") {
        /// Started, not yet finished.
        Running = "running",
        /// Every statement ran (up to one it had to skip); all rolled back.
        Done = "done",
        /// It could not run to its end (unreachable target, a statement refused, a server
        /// that stopped meanwhile); rolled back.
        Error = "error",
        /// A statement or lock timeout, or the rehearsal's own timeout, ended it; rolled back.
        Timeout = "timeout",
        /// Not run at all (the target is not rehearsed).
        Skipped = "skipped",
    }
}

impl RehearsalStatus {
    /// Whether the rehearsal has ended.
    pub const fn is_finished(self) -> bool {
        !matches!(self, Self::Running)
    }
}

named_enum! {
    /// What the row-count guard of an execution compared against (docs/api.md): the
    /// request's expected rows, or (planned) the count its rehearsal showed the reviewers.
    pub enum GuardSource ("guard source") {
        ExpectedRows = "expected_rows",
        Rehearsal = "rehearsal",
    }
}

/// What identifies a run on its target, recorded before any statement runs, so that the run
/// can be reconciled after a crash: PostgreSQL's transaction id and backend pid; MySQL's
/// connection id and the key of the marker row the run writes inside its transaction;
/// SQLite's marker key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunIdentity {
    /// PostgreSQL: the transaction's id (`txid_current()`).
    pub txid: Option<String>,
    /// The server's id of the run's connection (PostgreSQL backend pid, MySQL connection id),
    /// so that a session a dead server left behind can be ended.
    pub session: Option<String>,
    /// MySQL/MariaDB and SQLite: the key of the row the run writes into the target's
    /// `countersign_runs` table inside its own transaction; the row is there exactly when the
    /// transaction committed.
    pub marker: Option<String>,
}

impl RunIdentity {
    /// Whether nothing was recorded (the run never got as far as beginning on its target).
    pub fn is_empty(&self) -> bool {
        self.txid.is_none() && self.session.is_none() && self.marker.is_none()
    }
}

/// The lower-hex SHA-256 of a revision's SQL text, exactly as submitted: the value reviews are
/// bound to.
pub fn sql_sha256(sql: &str) -> String {
    hex::encode(Sha256::digest(sql.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_stored_in_snake_case() {
        let names: Vec<_> = RequestStatus::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(
            names,
            [
                "pending_review",
                "approved",
                "rejected",
                "withdrawn",
                "executing",
                "executed",
                "failed"
            ]
        );
        assert_eq!(
            serde_json::to_string(&RequestStatus::PendingReview).unwrap(),
            r#""pending_review""#
        );
        assert_eq!(
            "pending_review".parse::<RequestStatus>(),
            Ok(RequestStatus::PendingReview)
        );
        assert!("pending review".parse::<RequestStatus>().is_err());
    }

    #[test]
    fn exactly_withdrawn_executed_and_failed_are_final() {
        let finals: Vec<_> = RequestStatus::ALL
            .iter()
            .copied()
            .filter(|s| s.is_final())
            .collect();
        assert_eq!(
            finals,
            [
                RequestStatus::Withdrawn,
                RequestStatus::Executed,
                RequestStatus::Failed
            ]
        );
    }

    #[test]
    fn labels_are_words() {
        assert_eq!(RequestStatus::PendingReview.label(), "pending review");
        for status in RequestStatus::ALL {
            assert!(!status.label().contains('_'));
        }
    }

    #[test]
    fn outcomes_use_the_contract_names() {
        assert_eq!(
            ExecutionOutcome::NAMES,
            [
                "committed",
                "rolled_back",
                "error",
                "guard",
                "timeout",
                "unknown",
                "no_undo"
            ]
        );
        let committed: Vec<_> = ExecutionOutcome::ALL
            .iter()
            .filter(|o| o.is_committed())
            .collect();
        assert_eq!(committed, [&ExecutionOutcome::Committed]);
    }

    #[test]
    fn decisions_use_the_api_names() {
        assert_eq!(ReviewDecision::NAMES, ["approve", "reject"]);
    }

    #[test]
    fn reviews_serialize_times_in_the_fixed_form() {
        let review = Review {
            reviewer: "bob".into(),
            decision: ReviewDecision::Approve,
            comment: String::new(),
            revision: 2,
            sql_sha256: sql_sha256("SELECT 1"),
            created_at: time::macros::datetime!(2025-01-02 03:04:05 UTC),
            rehearsal_id: Some(7),
        };
        let json = serde_json::to_value(&review).unwrap();
        assert_eq!(json["created_at"], "2025-01-02T03:04:05.000000Z");
        assert_eq!(json["decision"], "approve");
        let back: Review = serde_json::from_value(json).unwrap();
        assert_eq!(back, review);
    }

    #[test]
    fn sql_hash_is_lower_hex_sha256_of_the_exact_text() {
        assert_eq!(
            sql_sha256(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_ne!(sql_sha256("SELECT 1"), sql_sha256("SELECT 1 "));
    }
}
