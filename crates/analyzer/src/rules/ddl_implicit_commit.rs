//! `ddl-implicit-commit`: on MySQL/MariaDB, DDL (and account statements, `LOCK TABLES`) commits
//! the open transaction implicitly, so a script that contains it is not atomic. Temporary
//! tables are the exception: creating or dropping one does not commit.

use sqlparser::ast::{ObjectType, Statement};

use super::{Cx, RuleInfo, statement_label};
use crate::Dialect;
use crate::fallback::Unparsed;
use crate::report::Severity;
use crate::summary::describe;

pub(crate) const RULE: RuleInfo = RuleInfo {
    id: "ddl-implicit-commit",
    severity: Severity::Warning,
    summary: "Any DDL on MySQL/MariaDB: it commits implicitly, so the script is not atomic",
    help: "MySQL and MariaDB commit the open transaction before and after DDL (CREATE, ALTER, \
           DROP, RENAME, TRUNCATE), account statements (GRANT, CREATE USER, …) and LOCK TABLES. \
           The script is then no longer all-or-nothing: if a later statement fails or the \
           row-count guard trips, everything before this point stays committed. Put schema \
           changes in a request of their own, apart from data changes; a target's policy can \
           block this rule.",
};

pub(crate) fn check(stmt: &Statement, cx: &mut Cx<'_>) {
    if cx.dialect != Dialect::Mysql || !commits_implicitly(stmt) {
        return;
    }
    report(cx, &statement_label(describe(stmt).0));
}

pub(crate) fn check_unparsed(unparsed: &Unparsed, cx: &mut Cx<'_>) {
    if cx.dialect != Dialect::Mysql || !unparsed.commits_implicitly() {
        return;
    }
    if let Some(first) = unparsed.word(0) {
        let label = first.to_owned();
        report(cx, &label);
    }
}

fn report(cx: &mut Cx<'_>, label: &str) {
    let message = format!(
        "On MySQL/MariaDB, `{label}` commits the transaction implicitly: what ran before it \
         stays committed even if a later statement fails."
    );
    cx.report(&RULE, None, message);
}

fn commits_implicitly(stmt: &Statement) -> bool {
    match stmt {
        Statement::CreateTable(create) => !create.temporary,
        Statement::Drop {
            temporary,
            object_type,
            ..
        } => !(*temporary && *object_type == ObjectType::Table),
        Statement::CreateView(_)
        | Statement::CreateIndex(_)
        | Statement::CreateDatabase { .. }
        | Statement::CreateSchema { .. }
        | Statement::CreateFunction(_)
        | Statement::CreateProcedure { .. }
        | Statement::CreateTrigger(_)
        | Statement::CreateRole(_)
        | Statement::CreateUser(_)
        | Statement::CreateSequence { .. }
        | Statement::AlterTable(_)
        | Statement::AlterView(_)
        | Statement::AlterIndex { .. }
        | Statement::AlterSchema(_)
        | Statement::AlterRole { .. }
        | Statement::AlterUser(_)
        | Statement::DropFunction(_)
        | Statement::DropProcedure { .. }
        | Statement::DropTrigger(_)
        | Statement::Truncate(_)
        | Statement::RenameTable(_)
        | Statement::Grant(_)
        | Statement::GrantRole(_)
        | Statement::Revoke(_)
        | Statement::RevokeRole(_)
        | Statement::LockTables { .. }
        | Statement::UnlockTables
        | Statement::Analyze(_)
        | Statement::OptimizeTable { .. } => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Dialect::*;
    use crate::rules::testing::*;

    #[test]
    fn fires_on_mysql_ddl() {
        for sql in [
            "CREATE TABLE t (id int)",
            "ALTER TABLE t ADD COLUMN a int",
            "DROP TABLE t",
            "CREATE INDEX i ON t (a)",
            "TRUNCATE TABLE t",
            "RENAME TABLE a TO b",
            "GRANT SELECT ON t TO bob",
            "LOCK TABLES t WRITE",
            "CREATE USER 'bob'@'%' IDENTIFIED BY 'x'",
        ] {
            assert_fires(&RULE, sql, &[Mysql]);
        }
        let found = hits(&RULE, "ALTER TABLE t ADD COLUMN a int", Mysql);
        assert!(
            found[0].message.contains("`ALTER TABLE`"),
            "{}",
            found[0].message
        );
    }

    #[test]
    fn does_not_fire_on_other_dialects_dml_or_temporary_tables() {
        assert_silent(
            &RULE,
            "ALTER TABLE t ADD COLUMN a int",
            &[Postgres, Sqlite, Generic],
        );
        assert_silent(&RULE, "UPDATE t SET a = 1 WHERE id = 1", &[Mysql]);
        assert_silent(&RULE, "CREATE TEMPORARY TABLE tmp (id int)", &[Mysql]);
        assert_silent(&RULE, "DROP TEMPORARY TABLE tmp", &[Mysql]);
    }
}
