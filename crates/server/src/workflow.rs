//! The edit-request workflow as the server enforces it: submit, revise, review, withdraw.
//!
//! The JSON API and the HTML forms both call these functions, so every rule — who may act
//! (`core::permission`), in which state (`core::lifecycle`), with what input
//! (`core::validation`), under which policy (`core::policy`) — is checked in one place, and the
//! store's compare-and-set writes make the checks hold under concurrency.

use countersign_analyzer::{Analysis, Risk, analyze};
use countersign_core::audit::AuditAction;
use countersign_core::lifecycle::{self, Action, ActionKind};
use countersign_core::permission::{self};
use countersign_core::policy::{self, FindingRef, Policy, Refused, RiskLevel, UncountedStatement};
use countersign_core::request::{RequestStatus, Review};
use countersign_core::user::{Role, User};
use countersign_core::validation::{NewRequest, NewReview, RequestEdit};
use countersign_store::{NewEvent, RequestRecord, RevisionInput};
use serde_json::json;

use crate::AppState;
use crate::config::TargetConfig;
use crate::error::ApiError;

/// The analysis' risk as the domain names it: one exhaustive conversion, no fallback.
pub fn risk_of(analysis: &Analysis) -> RiskLevel {
    match analysis.risk {
        Risk::Low => RiskLevel::Low,
        Risk::Medium => RiskLevel::Medium,
        Risk::High => RiskLevel::High,
    }
}

/// Refuses a script that cannot run as asked (an `error` finding) or that the target's policy
/// blocks, naming the findings.
pub fn check_policy(policy: &Policy, analysis: &Analysis) -> Result<(), Refused> {
    policy::check_submission(
        policy,
        analysis.findings.iter().map(|f| FindingRef {
            rule: &f.rule,
            is_error: f.severity == countersign_analyzer::Severity::Error,
            message: &f.message,
            line: u32::try_from(f.line).ok(),
        }),
    )
}

/// Refuses expected rows on a script the database cannot count all of (see
/// [`policy::check_counted`]).
pub fn check_counted(
    policy: &Policy,
    analysis: &Analysis,
    expected_rows: Option<i64>,
) -> Result<(), Refused> {
    policy::check_counted(
        policy,
        expected_rows.is_some(),
        analysis
            .statements
            .iter()
            .filter(|s| s.kind.removes_rows_uncounted())
            .map(|s| UncountedStatement {
                kind: s.kind.as_str(),
                line: u32::try_from(s.line).ok(),
            }),
    )
}

impl AppState {
    fn target(&self, name: &str) -> Result<&TargetConfig, ApiError> {
        self.config
            .target(name)
            .ok_or_else(|| ApiError::not_found(format!("unknown target {name:?}")))
    }

    /// The policy of a request's target; the default one if the target has since left the
    /// configuration (such a request can still be reviewed, but not executed).
    pub(crate) fn policy_of(&self, target: &str) -> Policy {
        self.config
            .target(target)
            .map(|t| t.policy.clone())
            .unwrap_or_default()
    }

    /// Request `id`, or 404.
    pub async fn load_request(&self, id: i64) -> Result<RequestRecord, ApiError> {
        self.store
            .request(id)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("request #{id} not found")))
    }

    /// The named reviewers as users: each must exist, be enabled and hold the reviewer role.
    async fn reviewers(&self, names: &[String]) -> Result<Vec<User>, ApiError> {
        let users = self.store.users_by_names(names).await?;
        let mut found = Vec::with_capacity(names.len());
        for name in names {
            let user = users
                .iter()
                .find(|u| &u.name == name)
                .filter(|u| !u.disabled)
                .ok_or_else(|| {
                    ApiError::bad_request(format!("reviewers: there is no user {name:?}"))
                })?;
            if !user.has_role(Role::Reviewer) {
                return Err(ApiError::bad_request(format!(
                    "reviewers: {name} is not a reviewer"
                )));
            }
            found.push(user.clone());
        }
        Ok(found)
    }

    /// Submits a new request by `author`; returns its id.
    pub async fn submit(&self, author: &User, new: NewRequest) -> Result<i64, ApiError> {
        self.submit_linked(author, new, None).await
    }

    /// Submits `new`, by `author`, as the revert of request `reverts` (linked both ways);
    /// checked like any submission. Returns its id.
    pub(crate) async fn submit_revert(
        &self,
        author: &User,
        new: NewRequest,
        reverts: i64,
    ) -> Result<i64, ApiError> {
        self.submit_linked(author, new, Some(reverts)).await
    }

    async fn submit_linked(
        &self,
        author: &User,
        new: NewRequest,
        reverts: Option<i64>,
    ) -> Result<i64, ApiError> {
        permission::may_submit(author)?;
        new.validate_with_limit(&author.name, self.config.server.max_sql_bytes)?;
        let target = self.target(&new.target)?;
        let checked = self.check_revision(target, &new).await?;
        let (title, input) = (new.title.trim(), checked.input(&new));
        let id = match reverts {
            None => {
                self.store
                    .submit_request(author, title, &target.name, &input)
                    .await?
            }
            Some(original) => {
                self.store
                    .submit_revert(author, title, &target.name, &input, original)
                    .await?
            }
        };
        tracing::info!(request = id, author = ?author.name, target = ?target.name, ?reverts, "submitted");
        self.rehearse_new_revision(id).await;
        Ok(id)
    }

    /// Applies `edit` to request `id` as `user`: a new title, or a new revision that re-runs the
    /// analysis and voids every earlier review.
    pub async fn revise(&self, id: i64, user: &User, edit: RequestEdit) -> Result<(), ApiError> {
        let record = self.load_request(id).await?;
        permission::may_revise(user, &record.author)?;
        lifecycle::transition(id, record.status, Action::Revise)?;
        let edited = edit.apply(&current_as_new(&record));
        let new = edited.request;
        new.validate_with_limit(&record.author, self.config.server.max_sql_bytes)?;
        let checked = if edited.new_revision {
            Some(
                self.check_revision(self.target(&record.target)?, &new)
                    .await?,
            )
        } else {
            None
        };
        let input = checked.as_ref().map(|c| c.input(&new));
        self.store
            .revise_request(
                id,
                user,
                record.status,
                record.revision,
                new.title.trim(),
                input.as_ref(),
            )
            .await?;
        if edited.new_revision {
            self.rehearse_new_revision(id).await;
        }
        Ok(())
    }

    /// What a new revision must pass before it is stored, for submission and revision alike:
    /// real reviewers, and an analysis with nothing the target refuses.
    async fn check_revision(
        &self,
        target: &TargetConfig,
        new: &NewRequest,
    ) -> Result<CheckedRevision, ApiError> {
        let reviewers = self.reviewers(&new.reviewers).await?;
        let analysis = analyze(&new.sql, target.driver.dialect());
        check_policy(&target.policy, &analysis)?;
        check_counted(&target.policy, &analysis, new.expected_rows)?;
        Ok(CheckedRevision {
            reviewers,
            risk: risk_of(&analysis),
            analysis: serde_json::to_value(&analysis).map_err(ApiError::internal)?,
        })
    }

    /// Records `user`'s review; the request is approved once the target's policy is met.
    pub async fn review(
        &self,
        id: i64,
        user: &User,
        review: NewReview,
    ) -> Result<RequestStatus, ApiError> {
        let record = self.load_request(id).await?;
        let current = record.current();
        permission::may_review(user, &record.author, &current.reviewers)?;
        review.validate(record.revision)?;
        ActionKind::Review.check(id, record.status)?;
        let policy = self.policy_of(&record.target);
        let (risk, sha, named) = (
            current.risk,
            current.sql_sha256.clone(),
            current.reviewers.clone(),
        );
        let revision = record.revision;
        let decide = move |reviews: &[Review]| {
            let state = policy::approval_state(&policy, risk, revision, &sha, &named, reviews);
            lifecycle::transition(id, RequestStatus::PendingReview, Action::Review(state))
                .unwrap_or(RequestStatus::PendingReview)
        };
        // The rehearsal the reviewer saw: the latest of the revision they review.
        let rehearsal_id = self
            .store
            .latest_rehearsal(id, record.revision, None)
            .await?
            .map(|r| r.id);
        let status = self
            .store
            .add_review(
                id,
                user,
                record.revision,
                &current.sql_sha256,
                review.decision,
                review.comment.trim(),
                rehearsal_id,
                decide,
            )
            .await?;
        Ok(status)
    }

    /// Withdraws request `id` as `user` (its author or an admin).
    pub async fn withdraw(&self, id: i64, user: &User) -> Result<(), ApiError> {
        let record = self.load_request(id).await?;
        permission::may_withdraw(user, &record.author)?;
        let to = lifecycle::transition(id, record.status, Action::Withdraw)?;
        let event = NewEvent::new(
            Some(&user.name),
            AuditAction::RequestWithdrawn,
            json!({ "from": record.status }),
        )
        .on_request(id, record.revision);
        self.store
            .change_status(id, record.status, to, event)
            .await?;
        Ok(())
    }
}

/// A revision that passed [`AppState::check_revision`].
struct CheckedRevision {
    reviewers: Vec<User>,
    risk: RiskLevel,
    analysis: serde_json::Value,
}

impl CheckedRevision {
    fn input<'a>(&'a self, new: &'a NewRequest) -> RevisionInput<'a> {
        RevisionInput {
            intent: &new.intent,
            sql: &new.sql,
            expected_rows: new.expected_rows,
            reviewers: &self.reviewers,
            risk: self.risk,
            analysis: &self.analysis,
            without_undo: new.without_undo,
        }
    }
}

/// The current revision of a request in the shape validation and edits work on.
pub fn current_as_new(record: &RequestRecord) -> NewRequest {
    let current = record.current();
    NewRequest {
        title: record.title.clone(),
        intent: current.intent.clone(),
        sql: current.sql.clone(),
        target: record.target.clone(),
        reviewers: current.reviewers.clone(),
        expected_rows: current.expected_rows,
        without_undo: current.without_undo,
    }
}
