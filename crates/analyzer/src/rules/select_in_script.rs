//! `select-in-script`: a top-level `SELECT` (or `VALUES`/`TABLE`) in an edit script, which
//! changes nothing but still runs inside the transaction. A query that writes anywhere inside
//! (`WITH … UPDATE`, a data-modifying CTE in a subquery), creates a table (`SELECT … INTO`)
//! or calls a function the analyzer cannot see into is not one: the walk has then classified
//! the statement by the strongest thing it does, and this rule reads that classification.

use sqlparser::ast::Statement;

use super::{Cx, RuleInfo};
use crate::report::{Severity, StatementKind};

pub(crate) const RULE: RuleInfo = RuleInfo {
    id: "select-in-script",
    severity: Severity::Info,
    summary: "A SELECT with no effect in an edit script (it still runs, inside the transaction)",
    help: "A SELECT does not change data, and its result is not shown to the reviewers; it only \
           costs time and may hold locks (FOR UPDATE). If it is there to check something, run \
           it before submitting and put what it showed in the intent; otherwise remove it.",
};

/// Checks a whole top-level statement once the walk has classified it as `kind`.
pub(crate) fn check(stmt: &Statement, kind: StatementKind, cx: &mut Cx<'_>) {
    if !matches!(stmt, Statement::Query(_)) || kind != StatementKind::Select {
        return;
    }
    cx.report(
        &RULE,
        None,
        "This SELECT changes nothing; it still runs inside the script's transaction.",
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Dialect::*;
    use crate::rules::testing::*;

    #[test]
    fn fires_on_plain_queries() {
        assert_fires(&RULE, "SELECT * FROM orders WHERE id = 1", ALL);
        assert_fires(&RULE, "(SELECT 1) UNION (SELECT 2)", ALL);
        assert_fires(&RULE, "WITH x AS (SELECT 1) SELECT * FROM x", ALL);
        assert_fires(&RULE, "VALUES (1)", &[Postgres]);
    }

    #[test]
    fn does_not_fire_on_queries_that_change_data() {
        assert_silent(
            &RULE,
            "WITH d AS (DELETE FROM t WHERE a RETURNING *) SELECT count(*) FROM d",
            &[Postgres],
        );
        assert_silent(
            &RULE,
            "WITH u AS (SELECT 1) UPDATE t SET a = 1 WHERE id = 1",
            &[Postgres],
        );
        assert_silent(&RULE, "SELECT * INTO backup FROM t", &[Postgres]);
        assert_silent(
            &RULE,
            "SELECT * FROM (WITH d AS (DELETE FROM t RETURNING 1) SELECT 1) x",
            &[Postgres],
        );
        assert_silent(&RULE, "SELECT archive_old(1)", ALL);
        assert_silent(&RULE, "INSERT INTO t (a) SELECT 1", ALL);
        assert_silent(&RULE, "CREATE VIEW v AS SELECT 1", ALL);
    }
}
