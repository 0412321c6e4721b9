//! `multiple-statements`: the script has more than one statement, and reviewers should read
//! each. Raised once, on the first statement.

use super::RuleInfo;
use crate::report::{Finding, Severity};
use crate::source::Pos;

pub(crate) const RULE: RuleInfo = RuleInfo {
    id: "multiple-statements",
    severity: Severity::Info,
    summary: "More than one statement: reviewers should read each",
    help: "Read every statement, not just the first: each is analyzed on its own, and the \
           script's risk is that of its riskiest statement. All of them run in order in one \
           transaction, so they succeed or fail together. Keep unrelated changes in separate \
           requests.",
};

/// Reports that the script has `count` statements, at the first one's position.
pub(crate) fn report(findings: &mut Vec<Finding>, count: usize, first: Pos) {
    let message =
        format!("The script has {count} statements; each runs in turn, in one transaction.");
    findings.push(RULE.finding(0, first, message));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::*;

    #[test]
    fn fires_once_on_the_first_statement() {
        for &dialect in ALL {
            let found = hits(&RULE, "\n  SELECT 1; SELECT 2; SELECT 3", dialect);
            assert_eq!(found.len(), 1);
            assert_eq!(
                (found[0].statement, found[0].line, found[0].column),
                (0, 2, 3)
            );
            assert!(found[0].message.contains("3 statements"));
        }
    }

    #[test]
    fn counts_statements_that_failed_to_parse() {
        assert_fires(&RULE, "SELECT 1; garbage", ALL);
    }

    #[test]
    fn does_not_fire_on_one_statement() {
        assert_silent(&RULE, "SELECT 1;", ALL);
        assert_silent(&RULE, "SELECT ';'; -- ; SELECT 2", ALL);
    }
}
