//! Helpers for the rules' tests: analyze a script and look at one rule's findings.

use super::RuleInfo;
use crate::{Dialect, Finding, analyze};

/// Every dialect.
pub(crate) const ALL: &[Dialect] = &Dialect::ALL;

/// The findings of `rule` when `sql` is analyzed as `dialect`.
pub(crate) fn hits(rule: &RuleInfo, sql: &str, dialect: Dialect) -> Vec<Finding> {
    analyze(sql, dialect)
        .findings
        .into_iter()
        .filter(|f| f.rule == rule.id)
        .collect()
}

/// Asserts that `rule` fires on `sql` in each of `dialects`.
#[track_caller]
pub(crate) fn assert_fires(rule: &RuleInfo, sql: &str, dialects: &[Dialect]) {
    for &dialect in dialects {
        let analysis = analyze(sql, dialect);
        assert!(
            analysis.findings.iter().any(|f| f.rule == rule.id),
            "{} should fire on {sql:?} ({dialect}), got {:#?}",
            rule.id,
            analysis.findings
        );
    }
}

/// Asserts that `rule` does not fire on `sql` in any of `dialects`.
#[track_caller]
pub(crate) fn assert_silent(rule: &RuleInfo, sql: &str, dialects: &[Dialect]) {
    for &dialect in dialects {
        let found = hits(rule, sql, dialect);
        assert!(
            found.is_empty(),
            "{} should not fire on {sql:?} ({dialect}), got {found:#?}",
            rule.id
        );
    }
}
