//! `empty-script`: no statement at all — blank, or only comments and `;`.

use super::RuleInfo;
use crate::report::{Finding, Severity};
use crate::source::Pos;

pub(crate) const RULE: RuleInfo = RuleInfo {
    id: "empty-script",
    severity: Severity::Error,
    summary: "No statement at all (blank, or only comments)",
    help: "There is nothing to run: the script is blank or holds only comments. Paste the \
           statements the request should execute; a request must change something.",
};

/// Reports that `text` holds no statement.
pub(crate) fn report(findings: &mut Vec<Finding>, text: &str) {
    let message = if text.trim().is_empty() {
        "The script is empty: there is no statement to run."
    } else {
        "The script holds only comments: there is no statement to run."
    };
    findings.push(RULE.finding(0, Pos::START, message.into()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::*;

    #[test]
    fn fires_on_blank_and_comment_only_scripts() {
        for sql in [
            "",
            "   \n\t",
            "-- nothing\n/* at all */",
            ";;",
            "# mysql comment\n;",
        ] {
            let dialects: &[_] = if sql.starts_with('#') {
                &[crate::Dialect::Mysql]
            } else {
                ALL
            };
            assert_fires(&RULE, sql, dialects);
        }
    }

    #[test]
    fn does_not_fire_when_there_is_a_statement() {
        assert_silent(&RULE, "-- note\nSELECT 1", ALL);
        assert_silent(&RULE, "garbage", ALL);
    }
}
