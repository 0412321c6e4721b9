//! `where-nearly-always-true`: an `UPDATE` or `DELETE` whose `WHERE` holds for every row of a
//! table whose `id` column is its primary key — `id IS NOT NULL`, on MySQL/SQLite a bare `id`
//! (true where `id` is not 0), or an `OR` with such a branch. The analyzer works offline and
//! cannot see the table's definition, so this is a warning, not `where-always-true`. The
//! evaluation is `condition.rs`'s; `where_always_true::check` reports it.

use sqlparser::ast::Expr;

use super::{Cx, RuleInfo, snippet};
use crate::report::Severity;
use crate::source::Pos;

pub(crate) const RULE: RuleInfo = RuleInfo {
    id: "where-nearly-always-true",
    severity: Severity::Warning,
    summary: "UPDATE/DELETE whose WHERE is true for every row if id is the primary key (id IS \
              NOT NULL, MySQL WHERE id, or an OR with such a branch)",
    help: "A primary key is never NULL (and an auto-increment id never 0), so a condition like \
           `id IS NOT NULL` — or on MySQL a bare `id`, which means `id <> 0` — selects every \
           row: the statement changes the whole table. It is often a condition typed in haste \
           (`WHERE id` for `WHERE id = 42`). Write the condition that selects exactly the rows \
           to change, and state the expected row count on the request.",
};

/// Reports that the `WHERE` of a `verb` (`UPDATE`, `DELETE`) is nearly always true, as
/// `witness` shows.
pub(crate) fn report(cx: &mut Cx<'_>, verb: &str, effect: &str, witness: &Expr, at: Option<Pos>) {
    let message = format!(
        "The WHERE clause of this {verb} holds for every row whose `id` is set (`{}`): if `id` \
         is the primary key, it {effect} every row.",
        snippet(witness, 60),
    );
    cx.report(&RULE, at, message);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Dialect::*;
    use crate::rules::testing::*;
    use crate::rules::where_always_true;

    #[test]
    fn fires_on_conditions_every_primary_key_meets() {
        for sql in [
            "UPDATE t SET a = 1 WHERE id IS NOT NULL",
            "DELETE FROM t WHERE t.id IS NOT NULL",
            "DELETE FROM t WHERE status = 'x' OR id IS NOT NULL",
            "DELETE FROM t WHERE id IS NOT NULL AND 1 = 1",
        ] {
            assert_fires(&RULE, sql, ALL);
            assert_silent(&where_always_true::RULE, sql, ALL);
        }
        for sql in [
            "UPDATE accounts SET status = 'z' WHERE status = 'y' OR id",
            "DELETE FROM t WHERE id",
        ] {
            assert_fires(&RULE, sql, &[Mysql, Sqlite]);
            assert_silent(&RULE, sql, &[Postgres]);
        }
        let found = hits(
            &RULE,
            "DELETE FROM t\nWHERE a = 1 OR id IS NOT NULL",
            Postgres,
        );
        assert_eq!((found[0].line, found[0].column), (2, 16));
        assert!(
            found[0].message.contains("`id IS NOT NULL`"),
            "{}",
            found[0].message
        );
    }

    #[test]
    fn does_not_fire_on_other_columns_or_real_conditions() {
        for sql in [
            "UPDATE t SET a = 1 WHERE user_id IS NOT NULL",
            "UPDATE t SET a = 1 WHERE id IS NULL",
            "UPDATE t SET a = 1 WHERE id IS NOT NULL AND status = 'x'",
            "UPDATE t SET a = 1 WHERE NOT (id IS NOT NULL)",
            "UPDATE t SET a = 1 WHERE id = 1",
            "UPDATE t SET a = 1 WHERE 1 = 1",
            "SELECT * FROM t WHERE id IS NOT NULL",
        ] {
            assert_silent(&RULE, sql, ALL);
        }
        assert_silent(&RULE, "DELETE FROM t WHERE active", &[Mysql]);
    }
}
