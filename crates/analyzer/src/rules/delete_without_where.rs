//! `delete-without-where`: a `DELETE` with no `WHERE`, which removes every row. A MySQL
//! `LIMIT` does not make it safe: it bounds how many rows go, not which.

use sqlparser::ast::{FromTable, Statement, TableFactor};

use super::{Cx, RuleInfo};
use crate::report::Severity;

pub(crate) const RULE: RuleInfo = RuleInfo {
    id: "delete-without-where",
    severity: Severity::Danger,
    summary: "DELETE with no WHERE (a MySQL LIMIT does not make it safe)",
    help: "Without WHERE, a DELETE removes every row of the table (a LIMIT only caps how many, \
           chosen arbitrarily). Add a WHERE that selects exactly the rows to remove, by primary \
           key where possible, and state the expected number of rows on the request so the \
           row-count guard rolls back any surprise. If the table really must be emptied, say so \
           in the intent.",
};

pub(crate) fn check(stmt: &Statement, cx: &mut Cx<'_>) {
    let Statement::Delete(delete) = stmt else {
        return;
    };
    if delete.selection.is_some() {
        return;
    }
    let from = match &delete.from {
        FromTable::WithFromKeyword(from) | FromTable::WithoutKeyword(from) => from,
    };
    let table = delete
        .tables
        .first()
        .map(|name| name.to_string())
        .or_else(|| {
            from.first().and_then(|t| match &t.relation {
                TableFactor::Table { name, .. } => Some(name.to_string()),
                _ => None,
            })
        })
        .map_or_else(
            || "the table".into(),
            |name| format!("`{}`", super::snippet(&name, 80)),
        );
    let limit = if delete.limit.is_some() {
        " (its LIMIT only caps how many, not which)"
    } else {
        ""
    };
    let message =
        format!("This DELETE from {table} has no WHERE clause: it removes every row{limit}.");
    cx.report(&RULE, None, message);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Dialect::*;
    use crate::rules::testing::*;

    #[test]
    fn fires_on_delete_without_where() {
        assert_fires(&RULE, "DELETE FROM orders", ALL);
        assert_fires(&RULE, "DELETE FROM orders -- WHERE id = 1", ALL);
        assert_fires(&RULE, "DELETE FROM orders /* WHERE id = 1 */;", ALL);
        assert_fires(&RULE, "DELETE FROM a USING b", &[Postgres]);
    }

    #[test]
    fn a_mysql_limit_does_not_make_it_safe() {
        let found = hits(&RULE, "DELETE FROM t LIMIT 10", Mysql);
        assert_eq!(found.len(), 1);
        assert!(found[0].message.contains("LIMIT"));
    }

    #[test]
    fn fires_inside_a_cte() {
        let sql = "WITH d AS (DELETE FROM t RETURNING *) SELECT count(*) FROM d";
        let found = hits(&RULE, sql, Postgres);
        assert_eq!((found.len(), found[0].column), (1, 12));
    }

    #[test]
    fn does_not_fire_with_a_where() {
        assert_silent(&RULE, "DELETE FROM t WHERE id = 1", ALL);
        assert_silent(&RULE, "DELETE FROM t WHERE id = 1 LIMIT 1", &[Mysql]);
        assert_silent(&RULE, "UPDATE t SET a = 1", ALL);
    }
}
