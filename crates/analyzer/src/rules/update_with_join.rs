//! `update-with-join`: `UPDATE … FROM`, `UPDATE` with `JOIN`, `DELETE … USING` and multi-table
//! `DELETE`, where a wrong join condition multiplies the rows touched.

use sqlparser::ast::{FromTable, Statement, TableWithJoins, UpdateTableFromKind};

use super::{Cx, RuleInfo};
use crate::report::Severity;

pub(crate) const RULE: RuleInfo = RuleInfo {
    id: "update-with-join",
    severity: Severity::Warning,
    summary: "UPDATE … FROM / UPDATE with JOIN, DELETE … USING / multi-table DELETE: a wrong \
              join condition multiplies the rows touched",
    help: "When an UPDATE or DELETE is driven by a join, a missing or wrong join condition \
           touches far more rows than intended, and where the joined table has several matches \
           for a row, which value an UPDATE uses is undefined. Check that the join matches at \
           most one row per target row (or use WHERE id IN (SELECT …)), and state the expected \
           row count on the request.",
};

pub(crate) fn check(stmt: &Statement, cx: &mut Cx<'_>) {
    let verb = match stmt {
        Statement::Update(update) => {
            let from = match &update.from {
                Some(
                    UpdateTableFromKind::BeforeSet(from) | UpdateTableFromKind::AfterSet(from),
                ) => !from.is_empty(),
                None => false,
            };
            if !from && update.table.joins.is_empty() {
                return;
            }
            "UPDATE"
        }
        Statement::Delete(delete) => {
            let from = match &delete.from {
                FromTable::WithFromKeyword(from) | FromTable::WithoutKeyword(from) => from,
            };
            let joined = !delete.tables.is_empty()
                || delete.using.as_ref().is_some_and(|using| !using.is_empty())
                || from.len() > 1
                || from.iter().any(|t: &TableWithJoins| !t.joins.is_empty());
            if !joined {
                return;
            }
            "DELETE"
        }
        _ => return,
    };
    let message = format!(
        "This {verb} is driven by a join: a wrong join condition touches more rows than intended."
    );
    cx.report(&RULE, None, message);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Dialect::*;
    use crate::rules::testing::*;

    #[test]
    fn fires_on_joined_updates_and_deletes() {
        assert_fires(
            &RULE,
            "UPDATE a SET x = b.x FROM b WHERE a.id = b.id",
            &[Postgres, Sqlite, Generic],
        );
        assert_fires(
            &RULE,
            "UPDATE a JOIN b ON a.id = b.id SET a.x = b.x WHERE b.y = 1",
            &[Mysql],
        );
        assert_fires(
            &RULE,
            "DELETE FROM a USING b WHERE a.id = b.id",
            &[Postgres],
        );
        assert_fires(
            &RULE,
            "DELETE a FROM a JOIN b ON a.id = b.id WHERE b.x = 1",
            &[Mysql],
        );
        assert_fires(
            &RULE,
            "DELETE a, b FROM a JOIN b ON a.id = b.id WHERE a.x = 1",
            &[Mysql],
        );
    }

    #[test]
    fn does_not_fire_on_single_table_statements() {
        assert_silent(
            &RULE,
            "UPDATE a SET x = 1 WHERE id IN (SELECT id FROM b)",
            ALL,
        );
        assert_silent(&RULE, "DELETE FROM a WHERE id = 1", ALL);
        assert_silent(&RULE, "SELECT * FROM a JOIN b ON a.id = b.id", ALL);
    }
}
