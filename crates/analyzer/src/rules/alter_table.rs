//! `alter-table`: `ALTER TABLE` forms other than dropping or renaming a column or the table
//! (those have their own rules): adding columns, changing types, constraints, and the rest.

use sqlparser::ast::{AlterTableOperation as Op, Statement};

use super::{Cx, RuleInfo};
use crate::fallback::Unparsed;
use crate::mysql_forms::AlterAction;
use crate::report::Severity;

pub(crate) const RULE: RuleInfo = RuleInfo {
    id: "alter-table",
    severity: Severity::Warning,
    summary: "Other ALTER TABLE forms (add column, change type, constraints)",
    help: "Changing a table's structure can lock it for as long as the database rewrites or \
           checks every row (changing a type, adding a NOT NULL column or a constraint that \
           must be validated), and it changes what applications see. Check the lock and its \
           duration for the target's database version and table size, prefer online forms \
           (on PostgreSQL, ADD CONSTRAINT … NOT VALID then VALIDATE CONSTRAINT), and ship \
           schema changes through your migration process when you can.",
};

/// An `ALTER TABLE` the parser rejected: it changes the table, unless all its (MySQL) actions
/// are ones the other rules name (dropping a column or a partition, renaming).
pub(crate) fn check_unparsed(unparsed: &Unparsed, cx: &mut Cx<'_>) {
    if !unparsed.starts_with(&["ALTER"]) || unparsed.object() != Some("TABLE") {
        return;
    }
    let mut actions = unparsed.alter_actions().peekable();
    let changes = actions.peek().is_none()
        || actions.any(|a| {
            !matches!(
                a,
                Some(
                    AlterAction::DropColumn
                        | AlterAction::Rename
                        | AlterAction::TruncatePartition
                        | AlterAction::DropPartition
                )
            )
        });
    if changes {
        cx.report(&RULE, None, "This ALTER TABLE changes the table.");
    }
}

pub(crate) fn check(stmt: &Statement, cx: &mut Cx<'_>) {
    let Statement::AlterTable(alter) = stmt else {
        return;
    };
    let mut changes: Vec<&str> = Vec::new();
    for operation in &alter.operations {
        let change = match operation {
            Op::DropColumn { .. } | Op::RenameColumn { .. } | Op::RenameTable { .. } => continue,
            Op::ChangeColumn { .. } | Op::ModifyColumn { .. } | Op::AlterColumn { .. } => {
                "changes a column"
            }
            Op::AddColumn { .. } => "adds a column",
            Op::AddConstraint { .. } => "adds a constraint",
            Op::DropConstraint { .. } | Op::DropPrimaryKey { .. } | Op::DropForeignKey { .. } => {
                "drops a constraint"
            }
            Op::DropIndex { .. } => "drops an index",
            _ => "changes the table",
        };
        if !changes.contains(&change) {
            changes.push(change);
        }
    }
    if changes.is_empty() {
        return;
    }
    let message = format!(
        "This ALTER TABLE of `{}` {}.",
        super::snippet(&alter.name, 80),
        join(&changes)
    );
    cx.report(&RULE, None, message);
}

fn join(parts: &[&str]) -> String {
    match parts {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Dialect::*;
    use crate::rules::testing::*;

    #[test]
    fn fires_on_structural_changes() {
        assert_fires(&RULE, "ALTER TABLE t ADD COLUMN a int", ALL);
        assert_fires(
            &RULE,
            "ALTER TABLE t ALTER COLUMN a TYPE bigint",
            &[Postgres],
        );
        assert_fires(
            &RULE,
            "ALTER TABLE t ADD CONSTRAINT c CHECK (a > 0)",
            &[Postgres, Mysql],
        );
        assert_fires(&RULE, "ALTER TABLE t MODIFY COLUMN a bigint", &[Mysql]);
        let found = hits(
            &RULE,
            "ALTER TABLE t ADD COLUMN a int, ADD COLUMN b int, ALTER COLUMN c SET NOT NULL",
            Postgres,
        );
        assert_eq!(found.len(), 1);
        assert!(
            found[0]
                .message
                .ends_with("adds a column and changes a column."),
            "{}",
            found[0].message
        );
    }

    #[test]
    fn leaves_drops_and_renames_to_their_own_rules() {
        assert_silent(&RULE, "ALTER TABLE t DROP COLUMN a", ALL);
        assert_silent(
            &RULE,
            "ALTER TABLE t RENAME TO u",
            &[Postgres, Sqlite, Generic],
        );
        assert_silent(
            &RULE,
            "ALTER TABLE t RENAME COLUMN a TO b",
            &[Postgres, Sqlite, Generic],
        );
        assert_fires(
            &RULE,
            "ALTER TABLE t DROP COLUMN a, ADD COLUMN b int",
            &[Postgres],
        );
    }
}
