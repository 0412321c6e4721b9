//! `parse-error`: text the analyzer cannot parse for the dialect. Nothing else could be checked
//! in it, so it gets the scrutiny of the worst case. Raised by the driver, which also finds
//! where the unparseable statement ends so the statements after it are still analyzed.

use super::{Cx, RuleInfo};
use crate::report::Severity;
use crate::source::Pos;

pub(crate) const RULE: RuleInfo = RuleInfo {
    id: "parse-error",
    severity: Severity::Danger,
    summary: "Text the analyzer cannot parse for the dialect",
    help: "The analyzer could not read this statement, so none of its other checks ran on it: \
           review it as the worst case. Check the syntax against the target's database (a typo, \
           a missing `;`, or an unbalanced quote or parenthesis is the usual cause). If the \
           statement is valid but beyond the analyzer, read it with particular care, or split \
           it into simpler statements.",
};

/// Reports the parser's `detail` at `at` (the parser's position, or the statement's start).
pub(crate) fn report(cx: &mut Cx<'_>, detail: &str, at: Option<Pos>) {
    let message = format!(
        "The analyzer could not parse this statement as {}: {detail}",
        cx.dialect.display_name()
    );
    cx.report(&RULE, at, message);
}

/// Reports a script the analyzer refused to parse at all, with `message` saying why.
pub(crate) fn report_unchecked(cx: &mut Cx<'_>, message: String) {
    cx.report(&RULE, None, message);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::*;
    use crate::{Dialect, analyze};

    #[test]
    fn fires_with_the_parsers_message_and_position() {
        for &dialect in ALL {
            let found = hits(
                &RULE,
                "SELECT 1;\nUPDATE t SET a = 1 WHERE b = 1 garbage",
                dialect,
            );
            assert_eq!(found.len(), 1, "{dialect}");
            let f = &found[0];
            assert_eq!((f.statement, f.line, f.column), (1, 2, 32), "{dialect}");
            assert!(f.message.contains("found: garbage"), "{}", f.message);
            assert!(!f.message.contains("Line:"), "{}", f.message);
        }
    }

    #[test]
    fn fires_on_gibberish_and_unterminated_text() {
        for sql in ["hello world", "SELECT 'abc", "UPDATE", "SELECT 1 FROM"] {
            assert_fires(&RULE, sql, ALL);
        }
        // SQLite lets a block comment end with the text; the others do not.
        let unterminated = "SELECT 1 /* never closed";
        assert_fires(
            &RULE,
            unterminated,
            &[Dialect::Postgres, Dialect::Mysql, Dialect::Generic],
        );
        assert_silent(&RULE, unterminated, &[Dialect::Sqlite]);
    }

    #[test]
    fn does_not_fire_on_valid_sql() {
        assert_silent(
            &RULE,
            "UPDATE t SET a = 1 WHERE id = 2; DELETE FROM t WHERE id = 3",
            ALL,
        );
        assert_silent(&RULE, "-- only a comment\nSELECT 1 -- trailing", ALL);
    }

    #[test]
    fn a_complete_postgres_do_block_is_not_a_parse_error() {
        assert_silent(
            &RULE,
            "DO $$ BEGIN PERFORM 1; END $$;",
            &[Dialect::Postgres],
        );
        let analysis = analyze("DO $$ BEGIN PERFORM 1; END $$;", Dialect::Postgres);
        assert_eq!(analysis.statements[0].kind.as_str(), "do");
        assert_fires(&RULE, "DO $$ BEGIN END $$ oops", &[Dialect::Postgres]);
    }

    #[test]
    fn deep_nesting_is_a_parse_error_not_a_crash() {
        let sql = format!("SELECT {}1{}", "(".repeat(200), ")".repeat(200));
        let found = hits(&RULE, &sql, Dialect::Postgres);
        assert_eq!(found.len(), 1);
        assert!(
            found[0].message.contains("nested too deeply"),
            "{}",
            found[0].message
        );
    }
}
