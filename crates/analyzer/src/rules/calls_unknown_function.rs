//! `calls-unknown-function`: a call, in a part of a statement that runs now, of a function
//! that is not a read-only built-in of the dialect (see `builtins.rs`). Such a function may
//! write to any table, and the analyzer cannot see into it. Functions `dangerous-function`
//! names are its business, not this rule's.

use sqlparser::ast::{ObjectName, ObjectNamePart};

use super::{Cx, RuleInfo, dangerous_function, name_pos, snippet};
use crate::builtins::is_read_only_builtin;
use crate::report::Severity;

pub(crate) const RULE: RuleInfo = RuleInfo {
    id: "calls-unknown-function",
    severity: Severity::Warning,
    summary: "A call of a function that is not a known read-only built-in: it may change data",
    help: "A user-defined function can do anything a script can — update or delete rows in any \
           table, call other functions — and none of it is visible in the statement, so the \
           analysis and the reviewers see only its name. Check what the function does (and \
           that it is the version you expect on this target), or write the edit as plain \
           statements.",
};

/// Checks a call of the function `name`; returns whether it is one the analyzer cannot see
/// into.
pub(crate) fn check(name: &ObjectName, cx: &mut Cx<'_>) -> bool {
    if is_read_only_builtin(name, cx.dialect) || dangerous_function::is_dangerous(name) {
        return false;
    }
    let shown = match name.0.last() {
        Some(ObjectNamePart::Identifier(_)) => snippet(name, 80),
        _ => return false,
    };
    let message = format!(
        "This statement calls `{shown}`, which the analyzer cannot see into; it may change data."
    );
    cx.report(&RULE, name_pos(name), message);
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Dialect::*;
    use crate::analyze;
    use crate::report::StatementKind;
    use crate::rules::testing::*;

    #[test]
    fn fires_on_user_functions_anywhere_that_runs() {
        for sql in [
            "SELECT archive_old(1)",
            "UPDATE t SET a = app.fix(b) WHERE id = 1",
            "DELETE FROM t WHERE id IN (SELECT purge(id) FROM u)",
            "SELECT * FROM cleanup_rows(10) AS x",
        ] {
            assert_fires(&RULE, sql, &[Postgres, Generic]);
        }
        assert_fires(&RULE, "SELECT my_func(1)", &[Mysql, Sqlite]);
        let found = hits(&RULE, "SELECT 1,\n  archive_old(1)", Postgres);
        assert_eq!((found[0].line, found[0].column), (2, 3));
        assert!(
            found[0].message.contains("`archive_old`"),
            "{}",
            found[0].message
        );
    }

    #[test]
    fn a_select_that_calls_one_is_a_call() {
        let analysis = analyze("SELECT archive_old(1)", Postgres);
        assert_eq!(analysis.statements[0].kind, StatementKind::Call);
        assert!(
            !analysis
                .findings
                .iter()
                .any(|f| f.rule == "select-in-script")
        );
        let analysis = analyze("UPDATE t SET a = fix(b) WHERE id = 1", Postgres);
        assert_eq!(analysis.statements[0].kind, StatementKind::Update);
    }

    #[test]
    fn does_not_fire_on_builtins_dangerous_functions_or_code_that_runs_later() {
        for sql in [
            "SELECT count(*), max(id), coalesce(a, 0), lower(name), now() FROM t",
            "UPDATE t SET name = upper(trim(name)), n = length(name) WHERE id = 1",
            "SELECT pg_catalog.lower('A')",
            "SELECT pg_sleep(1)",
            "EXPLAIN SELECT archive_old(1)",
            "CREATE VIEW v AS SELECT archive_old(id) FROM t",
        ] {
            assert_silent(&RULE, sql, &[Postgres]);
        }
        assert_silent(
            &RULE,
            "SELECT date_format(now(), '%Y'), ifnull(a, 1), group_concat(a) FROM t",
            &[Mysql],
        );
        assert_silent(
            &RULE,
            "SELECT strftime('%Y', 'now'), ifnull(a, 1) FROM t",
            &[Sqlite],
        );
        assert_silent(&RULE, "SELECT 'archive_old(1)' -- archive_old(1)", ALL);
    }
}
