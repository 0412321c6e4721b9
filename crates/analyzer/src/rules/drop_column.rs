//! `drop-column`: `ALTER TABLE … DROP COLUMN`, which deletes a column's data in every row.

use sqlparser::ast::{AlterTableOperation, Statement};

use super::{Cx, RuleInfo, name_list, span_pos};
use crate::fallback::Unparsed;
use crate::mysql_forms::AlterAction;
use crate::report::Severity;

pub(crate) const RULE: RuleInfo = RuleInfo {
    id: "drop-column",
    severity: Severity::Danger,
    summary: "ALTER TABLE … DROP COLUMN",
    help: "Dropping a column deletes its value in every row, and every query, view or \
           application that still reads or writes it breaks. Ship code that no longer uses the \
           column first, keep a copy of its data if it may be needed, and on large tables check \
           how long the change locks the table.",
};

/// A MySQL `ALTER TABLE` the parser rejected, with a `DROP [COLUMN] c` among its actions.
pub(crate) fn check_unparsed(unparsed: &Unparsed, cx: &mut Cx<'_>) {
    if unparsed
        .alter_actions()
        .any(|a| a == Some(AlterAction::DropColumn))
    {
        cx.report(
            &RULE,
            None,
            "This ALTER TABLE drops a column, and every value in it.",
        );
    }
}

pub(crate) fn check(stmt: &Statement, cx: &mut Cx<'_>) {
    let Statement::AlterTable(alter) = stmt else {
        return;
    };
    for operation in &alter.operations {
        if let AlterTableOperation::DropColumn { column_names, .. } = operation {
            let message = format!(
                "This ALTER TABLE of `{}` drops column {}: its data is lost in every row.",
                super::snippet(&alter.name, 80),
                name_list(column_names)
            );
            let at = column_names.first().and_then(|c| span_pos(c.span));
            cx.report(&RULE, at, message);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Dialect;
    use crate::rules::testing::*;

    #[test]
    fn fires_on_drop_column_and_points_at_it() {
        let found = hits(
            &RULE,
            "ALTER TABLE t ADD COLUMN b int, DROP COLUMN a",
            Dialect::Postgres,
        );
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].column, 45);
        assert_fires(
            &RULE,
            "ALTER TABLE t DROP COLUMN IF EXISTS a",
            &[Dialect::Postgres],
        );
        assert_fires(&RULE, "ALTER TABLE t DROP a", &[Dialect::Mysql]);
    }

    #[test]
    fn does_not_fire_on_other_alterations() {
        assert_silent(&RULE, "ALTER TABLE t ADD COLUMN a int", ALL);
        assert_silent(
            &RULE,
            "ALTER TABLE t DROP CONSTRAINT c",
            &[Dialect::Postgres],
        );
        assert_silent(
            &RULE,
            "ALTER TABLE t RENAME COLUMN a TO b",
            &[Dialect::Postgres],
        );
    }
}
