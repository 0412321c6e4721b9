//! `update-without-where`: an `UPDATE` with no `WHERE`, which changes every row — also when it
//! sits inside a CTE (`WITH … UPDATE`) or under `EXPLAIN ANALYZE`, where it runs all the same.

use sqlparser::ast::{Statement, TableFactor, UpdateTableFromKind};

use super::{Cx, RuleInfo};
use crate::report::Severity;

pub(crate) const RULE: RuleInfo = RuleInfo {
    id: "update-without-where",
    severity: Severity::Danger,
    summary: "UPDATE with no WHERE, also inside a CTE (WITH … UPDATE)",
    help: "Without WHERE, an UPDATE rewrites every row of the table: the classic irreversible \
           hand-edit mistake (a WHERE lost to a line break, left in a comment, or never typed). \
           Add a WHERE that selects exactly the rows to change, by primary key where possible, \
           and state the expected number of rows on the request so the row-count guard rolls \
           back any surprise. If every row really must change, say so in the intent.",
};

pub(crate) fn check(stmt: &Statement, cx: &mut Cx<'_>) {
    let Statement::Update(update) = stmt else {
        return;
    };
    if update.selection.is_some() {
        return;
    }
    let table = match &update.table.relation {
        TableFactor::Table { name, .. } => format!("`{}`", super::snippet(name, 80)),
        _ => "the table".into(),
    };
    let joined = !update.table.joins.is_empty()
        || matches!(
            &update.from,
            Some(UpdateTableFromKind::BeforeSet(from) | UpdateTableFromKind::AfterSet(from)) if !from.is_empty()
        );
    let scope = if joined {
        "every row its join matches"
    } else {
        "every row of the table"
    };
    let message = format!("This UPDATE of {table} has no WHERE clause: it changes {scope}.");
    cx.report(&RULE, None, message);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Dialect::*;
    use crate::rules::testing::*;

    #[test]
    fn fires_on_update_without_where() {
        assert_fires(&RULE, "UPDATE orders SET status = 'x'", ALL);
        assert_fires(&RULE, "update orders set status = 'x';", ALL);
        assert_fires(&RULE, "UPDATE t SET a = 1 LIMIT 10", &[Mysql]);
        assert_fires(
            &RULE,
            "UPDATE a JOIN b ON a.id = b.id SET a.x = b.x",
            &[Mysql],
        );
        assert_fires(&RULE, "UPDATE a SET x = b.x FROM b", &[Postgres, Sqlite]);
    }

    #[test]
    fn a_where_in_a_comment_or_string_is_not_a_where() {
        let sql = "UPDATE orders SET status = 'x' -- WHERE id = 1";
        for &dialect in ALL {
            let found = hits(&RULE, sql, dialect);
            assert_eq!(found.len(), 1);
            assert_eq!((found[0].line, found[0].column), (1, 1));
            assert!(
                found[0].message.contains("`orders`"),
                "{}",
                found[0].message
            );
        }
        assert_fires(
            &RULE,
            "UPDATE t SET note = 'WHERE id = 1' /* WHERE id = 2 */",
            ALL,
        );
    }

    #[test]
    fn fires_inside_a_cte_and_points_at_the_update() {
        let sql =
            "WITH changed AS (\n  UPDATE t SET a = 1 RETURNING id\n) SELECT count(*) FROM changed";
        let found = hits(&RULE, sql, Postgres);
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].line, found[0].column), (2, 3));
        assert_fires(
            &RULE,
            "WITH u AS (SELECT 1) UPDATE t SET a = 1",
            &[Postgres, Generic],
        );
    }

    #[test]
    fn fires_under_explain_analyze_but_not_plain_explain() {
        assert_fires(&RULE, "EXPLAIN ANALYZE UPDATE t SET a = 1", &[Postgres]);
        assert_silent(&RULE, "EXPLAIN UPDATE t SET a = 1", &[Postgres]);
    }

    #[test]
    fn does_not_fire_on_stored_code() {
        let sql = "CREATE TRIGGER tr AFTER INSERT ON t BEGIN UPDATE u SET n = n + 1; END";
        assert_silent(&RULE, sql, &[Sqlite]);
    }

    #[test]
    fn does_not_fire_with_a_where() {
        assert_silent(&RULE, "UPDATE orders SET status = 'x' WHERE id = 1", ALL);
        assert_silent(
            &RULE,
            "UPDATE t SET a = 1\nWHERE id IN (SELECT id FROM u)",
            ALL,
        );
        assert_silent(&RULE, "DELETE FROM t", ALL);
    }
}
