//! `insert-from-select`: `INSERT … SELECT`, whose number of rows depends on the data rather
//! than on the text the reviewers read.

use sqlparser::ast::{SetExpr, Statement};

use super::{Cx, RuleInfo};
use crate::report::Severity;

pub(crate) const RULE: RuleInfo = RuleInfo {
    id: "insert-from-select",
    severity: Severity::Warning,
    summary: "INSERT … SELECT: the number of rows is not visible in the text",
    help: "An INSERT … SELECT writes as many rows as its query returns when it runs, which the \
           reviewers cannot see in the text they approve. Run the SELECT first, state the \
           expected row count on the request so the row-count guard catches any difference, and \
           make sure the query cannot return duplicates.",
};

pub(crate) fn check(stmt: &Statement, cx: &mut Cx<'_>) {
    let Statement::Insert(insert) = stmt else {
        return;
    };
    let Some(source) = &insert.source else {
        return;
    };
    let mut body = &*source.body;
    while let SetExpr::Query(inner) = body {
        body = &inner.body;
    }
    if matches!(body, SetExpr::Values(_)) {
        return;
    }
    let message = format!(
        "This INSERT into `{}` takes its rows from a query: how many it writes is not visible in the script.",
        super::snippet(&insert.table, 80)
    );
    cx.report(&RULE, None, message);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Dialect::*;
    use crate::rules::testing::*;

    #[test]
    fn fires_on_insert_from_a_query() {
        assert_fires(
            &RULE,
            "INSERT INTO archive (id) SELECT id FROM orders WHERE old",
            ALL,
        );
        assert_fires(&RULE, "INSERT INTO a (id) SELECT 1 UNION SELECT 2", ALL);
        assert_fires(
            &RULE,
            "INSERT INTO a (id) WITH x AS (SELECT 1) SELECT * FROM x",
            &[Postgres],
        );
        assert_fires(&RULE, "INSERT INTO a (id) TABLE b", &[Postgres]);
    }

    #[test]
    fn does_not_fire_on_values() {
        assert_silent(&RULE, "INSERT INTO t (a) VALUES (1), (2)", ALL);
        assert_silent(
            &RULE,
            "INSERT INTO t (a) VALUES ((SELECT max(a) FROM u))",
            ALL,
        );
        assert_silent(&RULE, "INSERT INTO t DEFAULT VALUES", &[Postgres]);
    }
}
