//! Approval expiry (design §12): a target's `approval_ttl`, the cut-off the execute claim
//! binds, the background pass that moves stale approvals back to review (`approval.expired`),
//! and what the request page says about an approval's age.

use countersign_core::audit::{AuditAction, AuditEvent};
use countersign_core::request::{RequestStatus, ReviewDecision};
use countersign_core::timestamp;
use countersign_store::{Conflict, RequestRecord, StoreError};
use time::OffsetDateTime;

use crate::AppState;
use crate::config::TargetConfig;

/// When an approval stops letting its request run, as the request page says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalDeadline {
    pub expires_at: OffsetDateTime,
    /// The deadline has passed (the pass may not have moved the request yet).
    pub expired: bool,
}

impl ApprovalDeadline {
    /// The words the request page shows.
    pub fn words(&self) -> String {
        let at = timestamp::format(self.expires_at);
        if self.expired {
            format!(
                "The approval expired at {at}: this request can no longer be executed and goes \
                 back to review."
            )
        } else {
            format!("The approval expires at {at} unless the request is executed before.")
        }
    }
}

/// The oldest approval still in time on `target` now: approvals reached at or before it have
/// expired. `None`: the target's approvals never expire.
pub fn approved_after(target: &TargetConfig, now: OffsetDateTime) -> Option<OffsetDateTime> {
    target.approval_ttl.map(|ttl| now - ttl)
}

/// When the approval of an approved `record` expires on `target`, if it does.
pub fn expires_at(record: &RequestRecord, target: &TargetConfig) -> Option<OffsetDateTime> {
    let ttl = target.approval_ttl?;
    if record.status != RequestStatus::Approved {
        return None;
    }
    let approved_at = record
        .current_reviews()
        .filter(|r| r.decision == ReviewDecision::Approve)
        .map(|r| r.created_at)
        .max()?;
    Some(approved_at + ttl)
}

/// What the request page says about the approval, as its data tells it: the page's words
/// depend on the moment it is shown ([`ApprovalNote::words`]), the note does not (a page's data
/// is kept while its request does not change).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApprovalNote {
    /// Nothing to say.
    Silent,
    /// Approved, on a target whose approvals expire at this moment.
    Until(OffsetDateTime),
    /// The pass has moved the request back to review: the approval of the revision before
    /// expired (these words).
    Expired(String),
}

impl ApprovalNote {
    /// The note of `record` (with its audit `events`) on `target`.
    pub fn of(
        record: &RequestRecord,
        target: Option<&TargetConfig>,
        events: &[AuditEvent],
    ) -> ApprovalNote {
        if let Some(at) = target.and_then(|t| expires_at(record, t)) {
            return ApprovalNote::Until(at);
        }
        if record.status != RequestStatus::PendingReview {
            return ApprovalNote::Silent;
        }
        events
            .iter()
            .rev()
            .find(|e| {
                e.action == AuditAction::ApprovalExpired.as_str()
                    && e.revision == Some(record.revision)
            })
            .map_or(ApprovalNote::Silent, |e| {
                ApprovalNote::Expired(format!(
                    "The approval of revision {} expired at {} before anyone executed it: the \
                     reviewers must approve again.",
                    record.revision - 1,
                    timestamp::format(e.at)
                ))
            })
    }

    /// What the request page says at `now`: the approval's deadline while approved (or that it
    /// has passed), or, once the pass has moved the request back, that it expired.
    pub fn words(&self, now: OffsetDateTime) -> Option<String> {
        match self {
            ApprovalNote::Silent => None,
            ApprovalNote::Until(expires_at) => Some(
                ApprovalDeadline {
                    expires_at: *expires_at,
                    expired: *expires_at <= now,
                }
                .words(),
            ),
            ApprovalNote::Expired(words) => Some(words.clone()),
        }
    }
}

/// The revisions whose approvals expired (and were voided by the revision the expiry made),
/// from a request's `approval.expired` events.
pub fn expired_revisions(events: &[AuditEvent]) -> Vec<i64> {
    events
        .iter()
        .filter(|e| e.action == AuditAction::ApprovalExpired.as_str())
        .filter_map(|e| {
            e.details["expired_revision"]
                .as_i64()
                .or_else(|| e.revision.map(|r| r - 1))
        })
        .collect()
}

/// Why a review of `revision` no longer counts, in words: its approval expired, or the request
/// was revised since.
pub fn void_reason(revision: i64, expired_revisions: &[i64]) -> &'static str {
    if expired_revisions.contains(&revision) {
        "the approval expired"
    } else {
        "the request was revised"
    }
}

impl AppState {
    /// Moves every approval older than its target's `approval_ttl` back to review. Another
    /// instance's pass or an execute claim that came first is no error.
    pub async fn expire_approvals(&self) {
        for target in &self.config.targets {
            let (Some(ttl), Some(cutoff)) = (
                target.approval_ttl,
                approved_after(target, timestamp::now()),
            ) else {
                continue;
            };
            let expired = match self.store.expired_approvals(&target.name, cutoff).await {
                Ok(expired) => expired,
                Err(e) => {
                    tracing::warn!(target = ?target.name, error = %e, "cannot look for expired approvals");
                    continue;
                }
            };
            for approval in expired {
                match self.store.expire_approval(&approval, ttl.as_secs()).await {
                    Ok(revision) => tracing::info!(
                        request = approval.id,
                        revision,
                        "approval expired; back to review"
                    ),
                    Err(StoreError::Conflict(Conflict::ChangedMeanwhile(_))) => {}
                    Err(e) => tracing::warn!(
                        request = approval.id,
                        error = %e,
                        "cannot expire an approval"
                    ),
                }
            }
        }
    }

    /// [`Self::expire_approvals`] at start-up and every `server.expire_approvals_every`.
    pub fn spawn_expiry_pass(&self) -> tokio::task::JoinHandle<()> {
        let state = self.clone();
        tokio::spawn(async move {
            loop {
                state.expire_approvals().await;
                state.wake_dispatcher();
                tokio::time::sleep(state.config.server.expire_approvals_every).await;
            }
        })
    }
}
