//! The lifecycle of an edit request (docs/lifecycle.md) as a pure state machine.
//!
//! | action            | from                               | to                                 |
//! |-------------------|------------------------------------|------------------------------------|
//! | revise            | pending_review, rejected           | pending_review                     |
//! | review            | pending_review                     | as the [`ApprovalState`] says      |
//! | withdraw          | pending_review, rejected, approved | withdrawn                          |
//! | claim execution   | approved                           | executing                          |
//! | finish, reconcile | executing                          | executed if committed, else failed |
//!
//! A request is born [`INITIAL`] (`pending_review`) by its submission, which is therefore not a
//! transition. Every later change is an [`Action`]: [`transition`] says where it leads or why
//! it cannot happen. Which states each action may start from is one table,
//! [`ActionKind::allowed_from`]; where it leads depends only on the action.
//!
//! Withdrawal is allowed while nothing has run: from `pending_review`, `rejected` and
//! `approved`. The diagram in docs/lifecycle.md draws it from `pending_review` only, but an author must be able
//! to give up on a rejected request, or on an approved one they no longer want run. Once
//! `executing`, the SQL may be running and the request can only finish; final states
//! (`withdrawn`, `executed`, `failed`) accept nothing.
//!
//! Who may take an action is [`crate::permission`]'s question, not this module's.

use crate::policy::ApprovalState;
use crate::request::{ExecutionOutcome, RequestStatus};

/// The status of a newly submitted request.
pub const INITIAL: RequestStatus = RequestStatus::PendingReview;

/// Something that happens to an existing request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// The author edits the request, making a new revision that needs new reviews.
    Revise,
    /// A named reviewer recorded a review; carries [`crate::policy::approval_state`] computed
    /// over the reviews *including* the new one.
    Review(ApprovalState),
    /// The author or an admin withdraws the request.
    Withdraw,
    /// An execute call claims the request; the store makes this atomic.
    ClaimExecution,
    /// The run ended with this outcome.
    FinishExecution(ExecutionOutcome),
    /// After a crash, the server found the request `executing` and established this outcome
    /// (`unknown` when the target cannot tell).
    Reconcile(ExecutionOutcome),
}

/// An [`Action`] without its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ActionKind {
    Revise,
    Review,
    Withdraw,
    ClaimExecution,
    FinishExecution,
    Reconcile,
}

impl ActionKind {
    pub const ALL: [ActionKind; 6] = [
        Self::Revise,
        Self::Review,
        Self::Withdraw,
        Self::ClaimExecution,
        Self::FinishExecution,
        Self::Reconcile,
    ];

    /// The statuses this action may start from: the whole of the state machine's guard.
    /// A store can use it for its compare-and-set (`… WHERE status IN (…)`).
    pub const fn allowed_from(self) -> &'static [RequestStatus] {
        use RequestStatus::*;
        match self {
            Self::Revise => &[PendingReview, Rejected],
            Self::Review => &[PendingReview],
            Self::Withdraw => &[PendingReview, Rejected, Approved],
            Self::ClaimExecution => &[Approved],
            Self::FinishExecution | Self::Reconcile => &[Executing],
        }
    }

    /// Whether the action may happen to a request in `status` (for example, to decide whether
    /// a page shows its button).
    pub fn is_allowed_from(self, status: RequestStatus) -> bool {
        self.allowed_from().contains(&status)
    }

    /// Refuses the action unless a request in `from` allows it: the guard of [`transition`],
    /// for callers that must check before they know where the action leads (a review's
    /// outcome depends on the reviews recorded with it).
    pub fn check(self, request_id: i64, from: RequestStatus) -> Result<(), TransitionError> {
        if self.is_allowed_from(from) {
            Ok(())
        } else {
            Err(TransitionError {
                request_id,
                from,
                action: self,
            })
        }
    }

    /// The end of "request #1 is executed; …".
    const fn refusal(self) -> &'static str {
        match self {
            Self::Revise => "it cannot be revised",
            Self::Review => "it cannot be reviewed",
            Self::Withdraw => "it cannot be withdrawn",
            Self::ClaimExecution => "it cannot be executed",
            Self::FinishExecution => "its execution cannot be finished",
            Self::Reconcile => "it cannot be reconciled",
        }
    }
}

impl Action {
    pub fn kind(&self) -> ActionKind {
        match self {
            Self::Revise => ActionKind::Revise,
            Self::Review(_) => ActionKind::Review,
            Self::Withdraw => ActionKind::Withdraw,
            Self::ClaimExecution => ActionKind::ClaimExecution,
            Self::FinishExecution(_) => ActionKind::FinishExecution,
            Self::Reconcile(_) => ActionKind::Reconcile,
        }
    }

    /// Where the action leads, from any status it is allowed from.
    fn target(&self) -> RequestStatus {
        match self {
            Self::Revise => RequestStatus::PendingReview,
            Self::Review(ApprovalState::Pending { .. }) => RequestStatus::PendingReview,
            Self::Review(ApprovalState::Approved) => RequestStatus::Approved,
            Self::Review(ApprovalState::Rejected { .. }) => RequestStatus::Rejected,
            Self::Withdraw => RequestStatus::Withdrawn,
            Self::ClaimExecution => RequestStatus::Executing,
            Self::FinishExecution(outcome) | Self::Reconcile(outcome) => {
                if outcome.is_committed() {
                    RequestStatus::Executed
                } else {
                    RequestStatus::Failed
                }
            }
        }
    }
}

/// An action that the request's status does not allow: a state conflict (HTTP 409).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("request #{request_id} is {}; {}", from.label(), action.refusal())]
pub struct TransitionError {
    pub request_id: i64,
    pub from: RequestStatus,
    pub action: ActionKind,
}

/// The status request `request_id` moves to from `from` by `action`.
pub fn transition(
    request_id: i64,
    from: RequestStatus,
    action: Action,
) -> Result<RequestStatus, TransitionError> {
    action.kind().check(request_id, from)?;
    Ok(action.target())
}

#[cfg(test)]
mod tests {
    use super::*;
    use RequestStatus::*;

    fn one_of_each_kind() -> [Action; 6] {
        [
            Action::Revise,
            Action::Review(ApprovalState::Approved),
            Action::Withdraw,
            Action::ClaimExecution,
            Action::FinishExecution(ExecutionOutcome::Committed),
            Action::Reconcile(ExecutionOutcome::Committed),
        ]
    }

    #[test]
    fn kinds_are_listed_in_the_same_order_as_the_sample_actions() {
        let kinds: Vec<_> = one_of_each_kind().iter().map(Action::kind).collect();
        assert_eq!(kinds, ActionKind::ALL);
    }

    /// The whole table: every status against every action.
    #[test]
    fn every_status_allows_exactly_its_actions() {
        let expected: [(RequestStatus, &[ActionKind]); 7] = [
            (
                PendingReview,
                &[ActionKind::Revise, ActionKind::Review, ActionKind::Withdraw],
            ),
            (
                Approved,
                &[ActionKind::Withdraw, ActionKind::ClaimExecution],
            ),
            (Rejected, &[ActionKind::Revise, ActionKind::Withdraw]),
            (Withdrawn, &[]),
            (
                Executing,
                &[ActionKind::FinishExecution, ActionKind::Reconcile],
            ),
            (Executed, &[]),
            (Failed, &[]),
        ];
        assert_eq!(expected.len(), RequestStatus::ALL.len());
        for (status, allowed) in expected {
            for action in one_of_each_kind() {
                let kind = action.kind();
                let result = transition(7, status, action);
                assert_eq!(
                    result.is_ok(),
                    allowed.contains(&kind),
                    "{kind:?} from {status:?}"
                );
                assert_eq!(kind.is_allowed_from(status), result.is_ok());
                if let Err(err) = result {
                    assert_eq!(
                        err,
                        TransitionError {
                            request_id: 7,
                            from: status,
                            action: kind
                        }
                    );
                }
            }
        }
    }

    #[test]
    fn final_statuses_accept_nothing() {
        for status in RequestStatus::ALL.iter().filter(|s| s.is_final()) {
            for kind in ActionKind::ALL {
                assert!(!kind.is_allowed_from(*status));
            }
        }
    }

    #[test]
    fn a_new_request_waits_for_review() {
        assert_eq!(INITIAL, PendingReview);
    }

    #[test]
    fn revising_returns_to_review() {
        assert_eq!(
            transition(1, PendingReview, Action::Revise),
            Ok(PendingReview)
        );
        assert_eq!(transition(1, Rejected, Action::Revise), Ok(PendingReview));
    }

    #[test]
    fn a_review_moves_the_request_as_the_approval_state_says() {
        let review = |state| transition(1, PendingReview, Action::Review(state));
        assert_eq!(
            review(ApprovalState::Pending { have: 1, need: 2 }),
            Ok(PendingReview)
        );
        assert_eq!(review(ApprovalState::Approved), Ok(Approved));
        assert_eq!(
            review(ApprovalState::Rejected {
                by: vec!["bob".into()]
            }),
            Ok(Rejected)
        );
    }

    #[test]
    fn withdrawing_is_possible_until_execution() {
        for status in [PendingReview, Rejected, Approved] {
            assert_eq!(transition(1, status, Action::Withdraw), Ok(Withdrawn));
        }
    }

    #[test]
    fn only_an_approved_request_is_claimed() {
        assert_eq!(
            transition(1, Approved, Action::ClaimExecution),
            Ok(Executing)
        );
    }

    #[test]
    fn only_a_commit_executes_and_every_other_outcome_fails() {
        for &outcome in ExecutionOutcome::ALL {
            let expected = if outcome == ExecutionOutcome::Committed {
                Executed
            } else {
                Failed
            };
            assert_eq!(
                transition(1, Executing, Action::FinishExecution(outcome)),
                Ok(expected)
            );
            assert_eq!(
                transition(1, Executing, Action::Reconcile(outcome)),
                Ok(expected)
            );
        }
    }

    #[test]
    fn refusals_say_the_state_and_the_action_in_words() {
        let cases = [
            (
                Executed,
                Action::Revise,
                "request #12 is executed; it cannot be revised",
            ),
            (
                Approved,
                Action::Review(ApprovalState::Approved),
                "request #12 is approved; it cannot be reviewed",
            ),
            (
                Failed,
                Action::Withdraw,
                "request #12 is failed; it cannot be withdrawn",
            ),
            (
                PendingReview,
                Action::ClaimExecution,
                "request #12 is pending review; it cannot be executed",
            ),
            (
                Approved,
                Action::FinishExecution(ExecutionOutcome::Committed),
                "request #12 is approved; its execution cannot be finished",
            ),
            (
                Withdrawn,
                Action::Reconcile(ExecutionOutcome::Unknown),
                "request #12 is withdrawn; it cannot be reconciled",
            ),
        ];
        for (from, action, message) in cases {
            assert_eq!(
                transition(12, from, action).unwrap_err().to_string(),
                message
            );
        }
    }

    #[test]
    fn check_is_the_guard_of_transition_alone() {
        for kind in ActionKind::ALL {
            for from in RequestStatus::ALL.iter().copied() {
                let checked = kind.check(7, from);
                assert_eq!(
                    checked.is_ok(),
                    kind.is_allowed_from(from),
                    "{kind:?} from {from:?}"
                );
                if let Err(e) = checked {
                    assert_eq!((e.request_id, e.from, e.action), (7, from, kind));
                }
            }
        }
    }
}
