//! A target's policy (docs/lifecycle.md, docs/configuration.md) and the two rules it drives: how many approvals a
//! request needs and has, and which analyses refuse a submission outright.
//!
//! This module knows nothing of the analyzer's types: the risk level comes in as [`RiskLevel`]
//! and findings as [`FindingRef`], which callers build from whatever the analyzer returns.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::names::named_enum;
use crate::request::{Review, ReviewDecision};

named_enum! {
    /// The risk of a script, as the analyzer rates it; ordered `Low < Medium < High`.
    pub enum RiskLevel ("risk level") {
        Low = "low",
        Medium = "medium",
        High = "high",
    }
}

/// No policy can let a request through with fewer approvals than this: every edit is reviewed.
pub const MIN_APPROVALS: u32 = 1;

/// Approvals needed per risk level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approvals {
    pub low: u32,
    pub medium: u32,
    pub high: u32,
}

impl Default for Approvals {
    /// 1 for `low` and `medium`, 2 for `high` (docs/lifecycle.md).
    fn default() -> Self {
        Self {
            low: 1,
            medium: 1,
            high: 2,
        }
    }
}

/// A target's policy.
///
/// Serialized with the timeouts as whole milliseconds under `statement_timeout_ms` and
/// `lock_timeout_ms` (`null` when unset): the configuration file's human forms (`"30s"`) are
/// parsed by the configuration code, which builds this struct. Missing fields deserialize to
/// their defaults; unknown ones are ignored, so that API clients read newer servers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Policy {
    pub approvals: Approvals,
    /// Rule ids whose findings refuse a submission to this target.
    pub blocked_rules: Vec<String>,
    /// Whether a request with expected rows may hold statements whose effect on rows the
    /// database does not count (TRUNCATE, DROP TABLE …), so that its guard cannot hold them to
    /// the number (see [`check_counted`]). Off by default.
    #[serde(default)]
    pub allow_uncounted: bool,
    #[serde(rename = "statement_timeout_ms", with = "optional_millis")]
    pub statement_timeout: Option<Duration>,
    #[serde(rename = "lock_timeout_ms", with = "optional_millis")]
    pub lock_timeout: Option<Duration>,
}

/// A policy that cannot be used as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidPolicy {
    #[error(
        "approvals.{risk} is 0, but every edit needs at least {MIN_APPROVALS} approval: \
         set it to {MIN_APPROVALS} or more"
    )]
    NoApprovalsNeeded { risk: RiskLevel },
}

impl Policy {
    /// Checks the policy before it is used; configuration loading should call this so that a
    /// mistake is reported rather than silently corrected by [`required_approvals`].
    pub fn validate(&self) -> Result<(), InvalidPolicy> {
        match RiskLevel::ALL
            .iter()
            .find(|&&risk| configured_approvals(&self.approvals, risk) < MIN_APPROVALS)
        {
            Some(&risk) => Err(InvalidPolicy::NoApprovalsNeeded { risk }),
            None => Ok(()),
        }
    }
}

fn configured_approvals(approvals: &Approvals, risk: RiskLevel) -> u32 {
    match risk {
        RiskLevel::Low => approvals.low,
        RiskLevel::Medium => approvals.medium,
        RiskLevel::High => approvals.high,
    }
}

/// The number of approvals a request of this risk needs under this policy; never less than
/// [`MIN_APPROVALS`], even for a policy that [`Policy::validate`] would refuse.
pub fn required_approvals(policy: &Policy, risk: RiskLevel) -> u32 {
    configured_approvals(&policy.approvals, risk).max(MIN_APPROVALS)
}

/// Where the reviews of a request's current revision stand.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ApprovalState {
    /// Enough approvals and no rejection.
    Approved,
    /// At least one named reviewer's latest review rejects; `by` lists them in name order.
    Rejected { by: Vec<String> },
    /// Not yet enough approvals.
    Pending { have: u32, need: u32 },
}

/// Where the reviews of the current revision stand.
///
/// A review counts only if it is on `current_revision`, for exactly `current_sql_sha256`, and
/// by one of `named_reviewers`; of the reviews that count, each reviewer's latest (by
/// `created_at`, then by position in `reviews`) is their decision. Any rejecting decision makes
/// the state [`ApprovalState::Rejected`]; otherwise it is [`ApprovalState::Approved`] once the
/// approvals reach [`required_approvals`].
pub fn approval_state(
    policy: &Policy,
    risk: RiskLevel,
    current_revision: i64,
    current_sql_sha256: &str,
    named_reviewers: &[String],
    reviews: &[Review],
) -> ApprovalState {
    let mut latest: BTreeMap<&str, &Review> = BTreeMap::new();
    for review in reviews.iter().filter(|r| {
        r.revision == current_revision
            && r.sql_sha256 == current_sql_sha256
            && named_reviewers.contains(&r.reviewer)
    }) {
        let entry = latest.entry(review.reviewer.as_str()).or_insert(review);
        if review.created_at >= entry.created_at {
            *entry = review;
        }
    }

    let rejecters: Vec<String> = latest
        .values()
        .filter(|r| r.decision == ReviewDecision::Reject)
        .map(|r| r.reviewer.clone())
        .collect();
    if !rejecters.is_empty() {
        return ApprovalState::Rejected { by: rejecters };
    }

    let approvals = latest
        .values()
        .filter(|r| r.decision == ReviewDecision::Approve)
        .count();
    let have = u32::try_from(approvals).unwrap_or(u32::MAX);
    let need = required_approvals(policy, risk);
    if have >= need {
        ApprovalState::Approved
    } else {
        ApprovalState::Pending { have, need }
    }
}

/// One analyzer finding, as much of it as the submission check needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FindingRef<'a> {
    /// The rule's stable id (`drop-database`).
    pub rule: &'a str,
    /// Whether the finding's severity is `error`: the system cannot run the script as asked.
    pub is_error: bool,
    pub message: &'a str,
    /// 1-based line in the submitted SQL, where known.
    pub line: Option<u32>,
}

/// Why a finding refuses a submission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefusalReason {
    /// The finding is an `error`: refused whatever the policy.
    Error,
    /// The target's policy lists the finding's rule in `blocked_rules`.
    Blocked,
}

/// A finding that refuses a submission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusedFinding {
    pub rule: String,
    pub message: String,
    pub line: Option<u32>,
    pub reason: RefusalReason,
}

impl fmt::Display for RefusedFinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(line) = self.line {
            write!(f, "line {line}: ")?;
        }
        write!(f, "{} [{}] (", self.message, self.rule)?;
        f.write_str(match self.reason {
            RefusalReason::Error => "the system cannot run this",
            RefusalReason::Blocked => "this target's policy blocks this rule",
        })?;
        f.write_str(")")
    }
}

/// A submission refused because of its analysis (HTTP 422), naming every refusing finding in
/// the order the analyzer reported them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the SQL cannot be submitted: {}", RefusedList(findings))]
pub struct Refused {
    pub findings: Vec<RefusedFinding>,
}

struct RefusedList<'a>(&'a [RefusedFinding]);

impl fmt::Display for RefusedList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, finding) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{finding}")?;
        }
        Ok(())
    }
}

/// Refuses a submission (or revision) to a target when any finding is an `error`, or its rule
/// is in the target's `blocked_rules`.
pub fn check_submission<'a>(
    policy: &Policy,
    findings: impl IntoIterator<Item = FindingRef<'a>>,
) -> Result<(), Refused> {
    let refused: Vec<RefusedFinding> = findings
        .into_iter()
        .filter_map(|finding| {
            let reason = if finding.is_error {
                RefusalReason::Error
            } else if policy.blocked_rules.iter().any(|rule| rule == finding.rule) {
                RefusalReason::Blocked
            } else {
                return None;
            };
            Some(RefusedFinding {
                rule: finding.rule.to_owned(),
                message: finding.message.to_owned(),
                line: finding.line,
                reason,
            })
        })
        .collect();
    if refused.is_empty() {
        Ok(())
    } else {
        Err(Refused { findings: refused })
    }
}

/// The rule id of the refusal [`check_counted`] gives.
pub const UNCOUNTED_EFFECT: &str = "uncounted-effect";

/// A statement whose effect on rows the database does not count: the row-count guard cannot
/// hold it to the request's expected rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UncountedStatement<'a> {
    /// What it is, in words (`truncate`, `drop_table`).
    pub kind: &'a str,
    /// 1-based line in the submitted SQL.
    pub line: Option<u32>,
}

/// Refuses a request that states expected rows but holds statements the database does not
/// count, unless the target's policy allows it: a guard must never promise what it cannot
/// check. Without expected rows there is no promise, and nothing to refuse.
pub fn check_counted<'a>(
    policy: &Policy,
    expects_rows: bool,
    uncounted: impl IntoIterator<Item = UncountedStatement<'a>>,
) -> Result<(), Refused> {
    if !expects_rows || policy.allow_uncounted {
        return Ok(());
    }
    let findings: Vec<RefusedFinding> = uncounted
        .into_iter()
        .map(|statement| RefusedFinding {
            rule: UNCOUNTED_EFFECT.to_owned(),
            message: format!(
                "a {} statement removes rows the database does not count, so the row-count \
                 guard cannot hold it to the expected rows: submit it without expected rows, or \
                 on a target with allow_uncounted = true",
                statement.kind
            ),
            line: statement.line,
            reason: RefusalReason::Error,
        })
        .collect();
    if findings.is_empty() {
        Ok(())
    } else {
        Err(Refused { findings })
    }
}

/// `Option<Duration>` as whole milliseconds (`null` when `None`).
mod optional_millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(d) => s.serialize_some(&u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.map(Duration::from_millis))
    }
}

#[cfg(test)]
mod tests {
    use time::OffsetDateTime;
    use time::macros::datetime;

    use super::*;
    use crate::request::sql_sha256;

    const SQL: &str = "UPDATE t SET a = 1 WHERE id = 2";

    fn named() -> Vec<String> {
        vec!["bob".into(), "carol".into(), "dave".into()]
    }

    fn review(who: &str, decision: ReviewDecision, at: OffsetDateTime) -> Review {
        Review {
            reviewer: who.into(),
            decision,
            comment: String::new(),
            revision: 3,
            sql_sha256: sql_sha256(SQL),
            created_at: at,
            rehearsal_id: None,
        }
    }

    fn approve(who: &str) -> Review {
        review(
            who,
            ReviewDecision::Approve,
            datetime!(2025-01-01 10:00 UTC),
        )
    }

    fn reject(who: &str) -> Review {
        review(who, ReviewDecision::Reject, datetime!(2025-01-01 10:00 UTC))
    }

    fn state(risk: RiskLevel, reviews: &[Review]) -> ApprovalState {
        approval_state(
            &Policy::default(),
            risk,
            3,
            &sql_sha256(SQL),
            &named(),
            reviews,
        )
    }

    #[test]
    fn default_policy_needs_one_approval_for_low_and_medium_and_two_for_high() {
        let policy = Policy::default();
        assert_eq!(required_approvals(&policy, RiskLevel::Low), 1);
        assert_eq!(required_approvals(&policy, RiskLevel::Medium), 1);
        assert_eq!(required_approvals(&policy, RiskLevel::High), 2);
    }

    #[test]
    fn the_policy_sets_the_count_per_risk() {
        let policy = Policy {
            approvals: Approvals {
                low: 2,
                medium: 3,
                high: 4,
            },
            ..Policy::default()
        };
        assert_eq!(required_approvals(&policy, RiskLevel::Low), 2);
        assert_eq!(required_approvals(&policy, RiskLevel::Medium), 3);
        assert_eq!(required_approvals(&policy, RiskLevel::High), 4);
    }

    #[test]
    fn no_policy_makes_a_request_need_no_approval() {
        let policy = Policy {
            approvals: Approvals {
                low: 0,
                medium: 1,
                high: 0,
            },
            ..Policy::default()
        };
        assert_eq!(required_approvals(&policy, RiskLevel::Low), MIN_APPROVALS);
        assert_eq!(required_approvals(&policy, RiskLevel::High), MIN_APPROVALS);
        let err = policy.validate().unwrap_err();
        assert_eq!(
            err,
            InvalidPolicy::NoApprovalsNeeded {
                risk: RiskLevel::Low
            }
        );
        assert_eq!(
            err.to_string(),
            "approvals.low is 0, but every edit needs at least 1 approval: set it to 1 or more"
        );
        assert_eq!(Policy::default().validate(), Ok(()));
    }

    #[test]
    fn risk_levels_are_lower_case_and_ordered() {
        assert_eq!(RiskLevel::NAMES, ["low", "medium", "high"]);
        assert!(RiskLevel::Low < RiskLevel::Medium && RiskLevel::Medium < RiskLevel::High);
        assert_eq!(
            serde_json::from_str::<RiskLevel>(r#""high""#).unwrap(),
            RiskLevel::High
        );
    }

    #[test]
    fn policy_serializes_timeouts_as_milliseconds() {
        let policy = Policy {
            blocked_rules: vec!["drop-database".into()],
            statement_timeout: Some(Duration::from_secs(30)),
            lock_timeout: None,
            ..Policy::default()
        };
        let json = serde_json::to_value(&policy).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "approvals": {"low": 1, "medium": 1, "high": 2},
                "blocked_rules": ["drop-database"],
                "allow_uncounted": false,
                "statement_timeout_ms": 30000,
                "lock_timeout_ms": null,
            })
        );
        assert_eq!(serde_json::from_value::<Policy>(json).unwrap(), policy);
    }

    #[test]
    fn policy_fields_default_when_missing() {
        let policy: Policy = serde_json::from_str(r#"{"lock_timeout_ms": 5000}"#).unwrap();
        assert_eq!(policy.approvals, Approvals::default());
        assert_eq!(policy.lock_timeout, Some(Duration::from_secs(5)));
        assert_eq!(policy.statement_timeout, None);
    }

    #[test]
    fn no_reviews_is_pending() {
        assert_eq!(
            state(RiskLevel::High, &[]),
            ApprovalState::Pending { have: 0, need: 2 }
        );
    }

    #[test]
    fn enough_approvals_approve() {
        assert_eq!(
            state(RiskLevel::Low, &[approve("bob")]),
            ApprovalState::Approved
        );
        assert_eq!(
            state(RiskLevel::High, &[approve("bob")]),
            ApprovalState::Pending { have: 1, need: 2 }
        );
        assert_eq!(
            state(RiskLevel::High, &[approve("bob"), approve("carol")]),
            ApprovalState::Approved
        );
    }

    #[test]
    fn any_rejection_rejects_whatever_the_approvals() {
        assert_eq!(
            state(
                RiskLevel::Low,
                &[approve("bob"), approve("carol"), reject("dave")]
            ),
            ApprovalState::Rejected {
                by: vec!["dave".into()]
            }
        );
        assert_eq!(
            state(RiskLevel::Low, &[reject("dave"), reject("bob")]),
            ApprovalState::Rejected {
                by: vec!["bob".into(), "dave".into()]
            }
        );
    }

    #[test]
    fn one_reviewer_counts_once() {
        assert_eq!(
            state(RiskLevel::High, &[approve("bob"), approve("bob")]),
            ApprovalState::Pending { have: 1, need: 2 }
        );
    }

    #[test]
    fn a_reviewers_latest_review_wins() {
        let early = datetime!(2025-01-01 10:00 UTC);
        let late = datetime!(2025-01-01 11:00 UTC);
        let changed_mind = [
            review("bob", ReviewDecision::Reject, early),
            review("bob", ReviewDecision::Approve, late),
        ];
        assert_eq!(
            state(RiskLevel::Low, &changed_mind),
            ApprovalState::Approved
        );

        // Order in the slice does not matter when times differ...
        let reversed = [changed_mind[1].clone(), changed_mind[0].clone()];
        assert_eq!(state(RiskLevel::Low, &reversed), ApprovalState::Approved);

        // ...and breaks ties when they are equal.
        assert_eq!(
            state(RiskLevel::Low, &[approve("bob"), reject("bob")]),
            ApprovalState::Rejected {
                by: vec!["bob".into()]
            }
        );
        assert_eq!(
            state(RiskLevel::Low, &[reject("bob"), approve("bob")]),
            ApprovalState::Approved
        );
    }

    #[test]
    fn reviews_of_an_earlier_revision_do_not_count() {
        let mut old = approve("bob");
        old.revision = 2;
        let mut old_reject = reject("carol");
        old_reject.revision = 2;
        assert_eq!(
            state(RiskLevel::Low, &[old, old_reject]),
            ApprovalState::Pending { have: 0, need: 1 }
        );
    }

    #[test]
    fn reviews_of_other_sql_do_not_count() {
        let mut other = approve("bob");
        other.sql_sha256 = sql_sha256("DELETE FROM t");
        let mut other_reject = reject("carol");
        other_reject.sql_sha256 = sql_sha256("DELETE FROM t");
        assert_eq!(
            state(RiskLevel::Low, &[other, other_reject]),
            ApprovalState::Pending { have: 0, need: 1 }
        );
    }

    #[test]
    fn reviews_by_people_not_named_do_not_count() {
        assert_eq!(
            state(RiskLevel::Low, &[approve("mallory"), reject("eve")]),
            ApprovalState::Pending { have: 0, need: 1 }
        );
    }

    #[test]
    fn approval_state_serializes_with_a_tag() {
        assert_eq!(
            serde_json::to_value(ApprovalState::Pending { have: 1, need: 2 }).unwrap(),
            serde_json::json!({"state": "pending", "have": 1, "need": 2})
        );
        assert_eq!(
            serde_json::to_value(ApprovalState::Approved).unwrap(),
            serde_json::json!({"state": "approved"})
        );
    }

    fn finding<'a>(rule: &'a str, is_error: bool, line: Option<u32>) -> FindingRef<'a> {
        FindingRef {
            rule,
            is_error,
            message: "something to see",
            line,
        }
    }

    #[test]
    fn submissions_without_errors_or_blocked_rules_pass() {
        let policy = Policy {
            blocked_rules: vec!["drop-database".into()],
            ..Policy::default()
        };
        assert_eq!(check_submission(&policy, []), Ok(()));
        assert_eq!(
            check_submission(
                &policy,
                [
                    finding("drop-table", false, Some(1)),
                    finding("truncate", false, None)
                ]
            ),
            Ok(())
        );
    }

    #[test]
    fn an_error_finding_refuses_whatever_the_policy() {
        let err = check_submission(
            &Policy::default(),
            [
                finding("multiple-statements", false, None),
                finding("transaction-control", true, Some(1)),
            ],
        )
        .unwrap_err();
        assert_eq!(
            err.findings,
            [RefusedFinding {
                rule: "transaction-control".into(),
                message: "something to see".into(),
                line: Some(1),
                reason: RefusalReason::Error,
            }]
        );
        assert_eq!(
            err.to_string(),
            "the SQL cannot be submitted: line 1: something to see [transaction-control] \
             (the system cannot run this)"
        );
    }

    #[test]
    fn a_blocked_rule_refuses_and_every_refusing_finding_is_named() {
        let policy = Policy {
            blocked_rules: vec!["drop-database".into(), "truncate".into()],
            ..Policy::default()
        };
        let err = check_submission(
            &policy,
            [
                finding("truncate", false, Some(2)),
                finding("drop-table", false, Some(3)),
                finding("drop-database", false, None),
                finding("empty-script", true, None),
            ],
        )
        .unwrap_err();
        let named: Vec<_> = err
            .findings
            .iter()
            .map(|f| (f.rule.as_str(), f.reason))
            .collect();
        assert_eq!(
            named,
            [
                ("truncate", RefusalReason::Blocked),
                ("drop-database", RefusalReason::Blocked),
                ("empty-script", RefusalReason::Error),
            ]
        );
        assert_eq!(
            err.to_string(),
            "the SQL cannot be submitted: \
             line 2: something to see [truncate] (this target's policy blocks this rule); \
             something to see [drop-database] (this target's policy blocks this rule); \
             something to see [empty-script] (the system cannot run this)"
        );
    }

    #[test]
    fn expected_rows_are_refused_where_the_database_cannot_count_the_effect() {
        let truncate = || {
            [UncountedStatement {
                kind: "truncate",
                line: Some(2),
            }]
        };
        let policy = Policy::default();
        let refused = check_counted(&policy, true, truncate()).expect_err("refused");
        assert_eq!(refused.findings.len(), 1);
        assert_eq!(refused.findings[0].rule, UNCOUNTED_EFFECT);
        assert_eq!(refused.findings[0].line, Some(2));
        assert!(refused.findings[0].message.contains("truncate"));
        assert_eq!(
            check_counted(&policy, false, truncate()),
            Ok(()),
            "no promise"
        );
        assert_eq!(check_counted(&policy, true, []), Ok(()), "all counted");
        let allowing = Policy {
            allow_uncounted: true,
            ..Policy::default()
        };
        assert_eq!(check_counted(&allowing, true, truncate()), Ok(()));
    }
}
