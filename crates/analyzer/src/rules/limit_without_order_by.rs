//! `limit-without-order-by`: `UPDATE`/`DELETE … LIMIT` without `ORDER BY`, where which rows
//! change is up to the database — and `INSERT … SELECT … LIMIT` without `ORDER BY`, where
//! which rows are copied is.

use sqlparser::ast::{Query, SetExpr, Statement};

use super::{Cx, RuleInfo};
use crate::report::Severity;

pub(crate) const RULE: RuleInfo = RuleInfo {
    id: "limit-without-order-by",
    severity: Severity::Warning,
    summary: "UPDATE/DELETE … LIMIT without ORDER BY: which rows change is up to the database",
    help: "Without ORDER BY, LIMIT takes whichever rows the database reaches first, which can \
           differ between runs, replicas and versions (statement-based replication flags it as \
           unsafe). Select the rows by key in the WHERE clause instead, or add an ORDER BY on a \
           unique key so the same rows are chosen every time.",
};

pub(crate) fn check(stmt: &Statement, cx: &mut Cx<'_>) {
    let (verb, limit, order_by) = match stmt {
        Statement::Update(update) => ("UPDATE", &update.limit, &update.order_by),
        Statement::Delete(delete) => ("DELETE", &delete.limit, &delete.order_by),
        Statement::Insert(insert) => {
            check_insert(insert.source.as_deref(), cx);
            return;
        }
        _ => return,
    };
    if limit.is_some() && order_by.is_empty() {
        let message = format!(
            "This {verb} has a LIMIT but no ORDER BY: which rows it {} is up to the database.",
            if verb == "UPDATE" {
                "changes"
            } else {
                "removes"
            }
        );
        cx.report(&RULE, None, message);
    }
}

/// `INSERT … SELECT … LIMIT n` without `ORDER BY`: which rows are copied is up to the
/// database too.
fn check_insert(source: Option<&Query>, cx: &mut Cx<'_>) {
    let Some(mut query) = source else {
        return;
    };
    // `INSERT INTO t (SELECT … LIMIT 1)`: the limit is on the parenthesized query.
    while query.limit_clause.is_none()
        && query.order_by.is_none()
        && let SetExpr::Query(inner) = &*query.body
    {
        query = inner;
    }
    if query.limit_clause.is_some() && query.order_by.is_none() {
        cx.report(
            &RULE,
            None,
            "This INSERT copies the rows of a query with a LIMIT but no ORDER BY: which rows \
             it copies is up to the database.",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Dialect::*;
    use crate::rules::testing::*;

    #[test]
    fn fires_on_limit_without_order_by() {
        assert_fires(&RULE, "DELETE FROM t WHERE done LIMIT 100", &[Mysql]);
        assert_fires(&RULE, "UPDATE t SET a = 1 WHERE b = 2 LIMIT 1", &[Mysql]);
        assert_fires(&RULE, "DELETE FROM t LIMIT 10", &[Mysql]);
        for sql in [
            "INSERT INTO a SELECT * FROM b LIMIT 1",
            "INSERT INTO a (SELECT * FROM b LIMIT 1)",
            "INSERT INTO a SELECT * FROM b UNION SELECT * FROM c LIMIT 1",
        ] {
            assert_fires(&RULE, sql, &[Mysql, Postgres]);
        }
    }

    #[test]
    fn does_not_fire_with_order_by_or_without_limit() {
        assert_silent(
            &RULE,
            "DELETE FROM t WHERE done ORDER BY id LIMIT 100",
            &[Mysql],
        );
        assert_silent(
            &RULE,
            "UPDATE t SET a = 1 WHERE b = 2 ORDER BY id LIMIT 1",
            &[Mysql],
        );
        assert_silent(&RULE, "DELETE FROM t WHERE id = 1", ALL);
        assert_silent(&RULE, "SELECT * FROM t LIMIT 1", ALL);
        assert_silent(
            &RULE,
            "INSERT INTO a SELECT * FROM b ORDER BY id LIMIT 1",
            ALL,
        );
        assert_silent(&RULE, "INSERT INTO a SELECT * FROM b", ALL);
        assert_silent(&RULE, "INSERT INTO a (x) VALUES (1)", ALL);
    }
}
