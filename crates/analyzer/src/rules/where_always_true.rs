//! `where-always-true`: an `UPDATE` or `DELETE` whose `WHERE` holds for every row, so it is no
//! restriction at all: a constant true (`1 = 1`, `TRUE`, `NOT FALSE`, MySQL/SQLite `WHERE 1`),
//! a column compared with itself (`id = id`), an `OR` with such a branch, or an `AND` of them.
//!
//! The evaluation (`condition.rs`) folds constants and casts (`1 = 1::int`, MySQL `WHERE 1+2`,
//! `1 ^ 2`, `coalesce(true, false)`), sees a column compared with itself through arithmetic
//! (`id = id + 0`) and `EXISTS (SELECT 1)`. A condition that is true for every row only if `id`
//! is the primary key (`id IS NOT NULL`, MySQL `OR id`) is `where-nearly-always-true`.

use sqlparser::ast::{Expr, Statement};

use super::{Cx, RuleInfo, name_pos, snippet, span_pos, where_nearly_always_true};
use crate::condition::{Truth, truth};
use crate::report::Severity;
use crate::source::Pos;

pub(crate) const RULE: RuleInfo = RuleInfo {
    id: "where-always-true",
    severity: Severity::Danger,
    summary: "UPDATE/DELETE whose WHERE is true for every row (1 = 1, TRUE, WHERE 1, id = id, \
              or an OR with such a branch)",
    help: "A WHERE that is true for every row restricts nothing: the statement changes the \
           whole table, exactly as if it had no WHERE. This is often a leftover from testing \
           (`WHERE 1 = 1 AND …` with the rest commented out) or a typo comparing a column with \
           itself. Write the condition that selects exactly the rows to change, and state the \
           expected row count on the request.",
};

pub(crate) fn check(stmt: &Statement, cx: &mut Cx<'_>) {
    let (verb, selection) = match stmt {
        Statement::Update(update) => ("UPDATE", &update.selection),
        Statement::Delete(delete) => ("DELETE", &delete.selection),
        _ => return,
    };
    let Some(selection) = selection else {
        return;
    };
    let effect = if verb == "UPDATE" {
        "changes"
    } else {
        "removes"
    };
    match truth(selection, cx.dialect) {
        Truth::AlwaysTrue(witness) => {
            let message = format!(
                "The WHERE clause of this {verb} is always true (`{}`), so it {effect} every \
                 row.",
                snippet(witness, 60),
            );
            cx.report(&RULE, leftmost_pos(witness), message);
        }
        Truth::NearlyTrue(witness) => {
            where_nearly_always_true::report(cx, verb, effect, witness, leftmost_pos(witness));
        }
        Truth::AlwaysFalse | Truth::Unknown => {}
    }
}

/// The position of an expression's leftmost leaf, found without recursion.
fn leftmost_pos(mut expr: &Expr) -> Option<Pos> {
    loop {
        expr = match expr {
            Expr::BinaryOp { left, .. } => left,
            Expr::Nested(inner)
            | Expr::UnaryOp { expr: inner, .. }
            | Expr::IsTrue(inner)
            | Expr::IsNotNull(inner)
            | Expr::Cast { expr: inner, .. } => inner,
            Expr::IsNotDistinctFrom(left, _) => left,
            Expr::Value(value) => return span_pos(value.span),
            Expr::Identifier(ident) => return span_pos(ident.span),
            Expr::CompoundIdentifier(parts) => return parts.first().and_then(|i| span_pos(i.span)),
            Expr::Function(function) => return name_pos(&function.name),
            _ => return None,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Dialect::*;
    use crate::rules::testing::*;

    #[test]
    fn fires_on_constant_true_conditions() {
        for sql in [
            "UPDATE t SET a = 1 WHERE 1 = 1",
            "UPDATE t SET a = 1 WHERE TRUE",
            "DELETE FROM t WHERE (1 = 1)",
            "DELETE FROM t WHERE 'a' = 'a'",
            "DELETE FROM t WHERE 2 > 1",
            "DELETE FROM t WHERE NOT FALSE",
            "DELETE FROM t WHERE NOT (1 = 0)",
            "UPDATE t SET a = 1 WHERE 1 = 1 AND TRUE",
        ] {
            assert_fires(&RULE, sql, ALL);
        }
    }

    #[test]
    fn fires_on_a_column_compared_with_itself() {
        assert_fires(&RULE, "UPDATE t SET a = 1 WHERE id = id", ALL);
        assert_fires(&RULE, "DELETE FROM t WHERE t.id = T.ID", ALL);
        assert_fires(&RULE, "DELETE FROM t WHERE id >= id", ALL);
        assert_fires(&RULE, "DELETE FROM t WHERE id <=> id", &[Mysql]);
        assert_fires(
            &RULE,
            "DELETE FROM t WHERE id IS NOT DISTINCT FROM id",
            &[Postgres],
        );
    }

    #[test]
    fn fires_on_an_or_with_an_always_true_branch_and_points_at_it() {
        let sql = "DELETE FROM t\nWHERE status = 'old' OR 1 = 1";
        let found = hits(&RULE, sql, Postgres);
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].line, found[0].column), (2, 25));
        assert!(found[0].message.contains("`1 = 1`"), "{}", found[0].message);
        assert_fires(
            &RULE,
            "UPDATE t SET a = 1 WHERE a = 1 OR (b = 2 OR id = id)",
            ALL,
        );
    }

    #[test]
    fn numbers_are_conditions_on_mysql_and_sqlite_only() {
        assert_fires(
            &RULE,
            "UPDATE t SET a = 1 WHERE 1",
            &[Mysql, Sqlite, Generic],
        );
        assert_silent(&RULE, "UPDATE t SET a = 1 WHERE 0", &[Mysql, Sqlite]);
        assert_silent(&RULE, "UPDATE t SET a = 1 WHERE 1", &[Postgres]);
    }

    #[test]
    fn fires_on_folded_constants_casts_and_functions() {
        for sql in [
            "UPDATE t SET a = 1 WHERE 1 = 1::int",
            "UPDATE t SET a = 1 WHERE 1 = CAST('1' AS INT)",
            "UPDATE t SET a = 1 WHERE 1 + 1 = 2",
            "UPDATE t SET a = 1 WHERE -1 < 0",
            "UPDATE t SET a = 1 WHERE coalesce(true, false)",
            "UPDATE t SET a = 1 WHERE coalesce(NULL, 1) = 1",
            "DELETE FROM t WHERE EXISTS (SELECT 1)",
            "DELETE FROM t WHERE status = 'x' OR EXISTS (SELECT 'y')",
            "DELETE FROM t WHERE id = id + 0",
            "DELETE FROM t WHERE id * 1 = 0 + id",
            "DELETE FROM t WHERE a + 1 = a + 1",
            "DELETE FROM t WHERE NOT NOT EXISTS (SELECT 1)",
        ] {
            assert_fires(&RULE, sql, ALL);
        }
        for sql in [
            "UPDATE t SET a = 1 WHERE 1+2",
            "UPDATE t SET a = 1 WHERE 1-2",
            "UPDATE t SET a = 1 WHERE 1*2",
            "UPDATE t SET a = 1 WHERE 1|2",
            "UPDATE t SET a = 1 WHERE 1^2",
            "UPDATE accounts SET status = 'z' WHERE status = 'y' OR 1+0",
            "UPDATE t SET a = 1 WHERE id = 1 OR TRUE = 1",
        ] {
            assert_fires(&RULE, sql, &[Mysql, Sqlite, Generic]);
            assert_silent(&RULE, sql, &[Postgres]);
        }
        assert_fires(&RULE, "UPDATE t SET a = 1 /*! WHERE 1=1 */", &[Mysql]);
    }

    #[test]
    fn does_not_fold_what_it_cannot_be_sure_of() {
        for sql in [
            "UPDATE t SET a = 1 WHERE 1 - 1",
            "UPDATE t SET a = 1 WHERE 1 ^ 1",
            "UPDATE t SET a = 1 WHERE 1 / 2",
            "UPDATE t SET a = 1 WHERE coalesce(a, true)",
            "UPDATE t SET a = 1 WHERE coalesce(NULL, NULL)",
            "DELETE FROM t WHERE EXISTS (SELECT 1 FROM u)",
            "DELETE FROM t WHERE EXISTS (SELECT 1 LIMIT 0)",
            "DELETE FROM t WHERE NOT EXISTS (SELECT 1)",
            "DELETE FROM t WHERE id = id + 1",
            "DELETE FROM t WHERE a + 1 = b + 1",
            "DELETE FROM t WHERE random() = random()",
            "DELETE FROM t WHERE NOT (NULL = 1)",
            "DELETE FROM t WHERE 'abc'::int = 0",
        ] {
            assert_silent(&RULE, sql, ALL);
        }
        assert_silent(&RULE, "UPDATE t SET a = 1 WHERE 2 ^ 1 = 3", &[Postgres]);
    }

    #[test]
    fn fires_inside_a_cte() {
        assert_fires(
            &RULE,
            "WITH x AS (UPDATE t SET a = 1 WHERE 1 = 1 RETURNING *) SELECT 1",
            &[Postgres],
        );
    }

    #[test]
    fn does_not_fire_on_real_conditions() {
        for sql in [
            "UPDATE t SET a = 1 WHERE id = 1",
            "UPDATE t SET a = 1 WHERE 1 = 1 AND id = 7",
            "DELETE FROM t WHERE 1 = 0 OR id = 7",
            "DELETE FROM t WHERE 'a' = 'A'",
            "DELETE FROM t WHERE a.id = b.id",
            "DELETE FROM t WHERE id = \"id\"",
            "DELETE FROM t WHERE NULL = NULL",
            "DELETE FROM t WHERE id <> id",
            "SELECT * FROM t WHERE 1 = 1",
        ] {
            assert_silent(&RULE, sql, ALL);
        }
    }

    #[test]
    fn long_or_chains_are_evaluated_without_recursion() {
        let chain = (0..5_000)
            .map(|i| format!("id = {i}"))
            .collect::<Vec<_>>()
            .join(" OR ");
        let sql = format!("DELETE FROM t WHERE {chain} OR 1 = 1");
        assert_eq!(hits(&RULE, &sql, Postgres).len(), 1);
        let sql = format!("DELETE FROM t WHERE {chain}");
        assert!(hits(&RULE, &sql, Postgres).is_empty());
    }
}
