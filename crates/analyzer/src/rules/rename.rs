//! `rename`: renaming a table, view or column, which breaks every client that uses the old name.

use sqlparser::ast::{
    AlterTableOperation as Op, AlterViewOperation, RenameTableNameKind, Statement,
};

use super::{Cx, RuleInfo, span_pos};
use crate::fallback::Unparsed;
use crate::mysql_forms::AlterAction;
use crate::report::Severity;

pub(crate) const RULE: RuleInfo = RuleInfo {
    id: "rename",
    severity: Severity::Warning,
    summary: "Renaming a table or column: every client that names it breaks",
    help: "Every query, view, report and application that uses the old name stops working the \
           moment the rename commits. Ship code that works with both names first (or keep a \
           view under the old name), then rename, and list the known users of the name in the \
           intent.",
};

pub(crate) fn check(stmt: &Statement, cx: &mut Cx<'_>) {
    match stmt {
        Statement::AlterTable(alter) => {
            let table = super::snippet(&alter.name, 80);
            for operation in &alter.operations {
                let (message, at) = match operation {
                    Op::RenameTable { table_name } => {
                        let (RenameTableNameKind::As(new) | RenameTableNameKind::To(new)) =
                            table_name;
                        (
                            format!("Renames table `{table}` to `{}`.", super::snippet(new, 80)),
                            None,
                        )
                    }
                    Op::RenameColumn {
                        old_column_name,
                        new_column_name,
                    } => (
                        format!(
                            "Renames column `{old_column_name}` of `{table}` to `{new_column_name}`."
                        ),
                        span_pos(old_column_name.span),
                    ),
                    Op::ChangeColumn {
                        old_name, new_name, ..
                    } if old_name.value != new_name.value => (
                        format!(
                            "Renames column `{old_name}` of `{table}` to `{new_name}` (CHANGE COLUMN)."
                        ),
                        span_pos(old_name.span),
                    ),
                    _ => continue,
                };
                cx.report(&RULE, at, message);
            }
        }
        Statement::RenameTable(renames) => {
            for rename in renames {
                let message = format!(
                    "Renames table `{}` to `{}`.",
                    super::snippet(&rename.old_name, 80),
                    super::snippet(&rename.new_name, 80)
                );
                cx.report(&RULE, super::name_pos(&rename.old_name), message);
            }
        }
        Statement::AlterView(view) => {
            let name = super::snippet(&view.name, 80);
            let message = match &view.operation {
                AlterViewOperation::RenameTo { new_name } => {
                    format!(
                        "Renames view `{name}` to `{}`.",
                        super::snippet(new_name, 80)
                    )
                }
                AlterViewOperation::RenameColumn {
                    old_column_name,
                    new_column_name,
                } => format!(
                    "Renames column `{old_column_name}` of view `{name}` to `{new_column_name}`."
                ),
                _ => return,
            };
            cx.report(&RULE, None, message);
        }
        _ => {}
    }
}

pub(crate) fn check_unparsed(unparsed: &Unparsed, cx: &mut Cx<'_>) {
    if unparsed.starts_with(&["RENAME", "TABLE"]) {
        cx.report(&RULE, None, "Renames a table.");
    }
    if unparsed
        .alter_actions()
        .any(|a| a == Some(AlterAction::Rename))
    {
        cx.report(
            &RULE,
            None,
            "This ALTER TABLE renames a column or the table.",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Dialect::*;
    use crate::rules::testing::*;

    #[test]
    fn fires_on_table_and_column_renames() {
        assert_fires(
            &RULE,
            "ALTER TABLE t RENAME TO u",
            &[Postgres, Sqlite, Generic],
        );
        assert_fires(&RULE, "ALTER TABLE t RENAME COLUMN a TO b", ALL);
        assert_fires(&RULE, "RENAME TABLE a TO b, c TO d", &[Mysql]);
        assert_fires(&RULE, "ALTER TABLE t CHANGE a b int", &[Mysql]);
        assert_fires(&RULE, "ALTER VIEW v RENAME TO w", &[Postgres]);
        let found = hits(&RULE, "RENAME TABLE a TO b, c TO d", Mysql);
        assert_eq!(found.len(), 2);
    }

    #[test]
    fn does_not_fire_without_a_new_name() {
        assert_silent(&RULE, "ALTER TABLE t CHANGE a a bigint", &[Mysql]);
        assert_silent(&RULE, "ALTER TABLE t ADD COLUMN renamed int", ALL);
        assert_silent(&RULE, "ALTER INDEX i RENAME TO j", &[Postgres]);
    }
}
