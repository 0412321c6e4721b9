//! `implicit-commit-mixed`: on MySQL/MariaDB, a script that mixes statements the server
//! commits implicitly (DDL, account statements, `LOCK TABLES`, administrative table
//! statements: see `Unparsed::commits_implicitly`) with any other statement. Such a script
//! cannot run as one transaction — what ran before the DDL stays committed whatever happens
//! after — so the system refuses it. A script of DDL alone keeps `ddl-implicit-commit`.
//! Raised by the driver once the whole script is read, on each implicitly committing statement.

use super::RuleInfo;
use crate::report::{Finding, Severity};
use crate::source::Pos;

pub(crate) const RULE: RuleInfo = RuleInfo {
    id: "implicit-commit-mixed",
    severity: Severity::Error,
    summary: "On MySQL/MariaDB, a script that mixes implicitly committing statements (DDL) with \
              others",
    help: "MySQL and MariaDB commit the open transaction before and after DDL (CREATE, ALTER, \
           DROP, RENAME, TRUNCATE), account statements (GRANT, CREATE USER, …), LOCK TABLES and \
           administrative statements (ANALYZE, OPTIMIZE, REPAIR TABLE). In a script with other \
           statements, the system could not keep its promise that the script runs as one \
           transaction: a failure or the row-count guard after the DDL could not undo what \
           came before it. Submit the DDL as a request of its own, and the data changes as \
           another.",
};

/// Reports each of `committing` (statement index and start) when the script also has
/// statements that do not commit implicitly.
pub(crate) fn report(findings: &mut Vec<Finding>, committing: &[(usize, Pos)], others: bool) {
    if committing.is_empty() || !others {
        return;
    }
    for &(statement, at) in committing {
        findings.push(
            RULE.finding(
                statement,
                at,
                "This script mixes statements that MySQL commits implicitly with others, so it \
             cannot run as one transaction; submit the DDL on its own."
                    .to_owned(),
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Dialect::*;
    use crate::analyze;
    use crate::rules::ddl_implicit_commit;
    use crate::rules::testing::*;

    #[test]
    fn fires_on_mysql_scripts_mixing_ddl_with_other_statements() {
        for sql in [
            "ALTER TABLE t ADD COLUMN a int; UPDATE t SET a = 1 WHERE id = 1",
            "UPDATE t SET a = 1 WHERE id = 1; CREATE INDEX i ON t (a)",
            "INSERT INTO t (a) VALUES (1); TRUNCATE TABLE u",
            "DELETE FROM t WHERE id = 1; GRANT SELECT ON t TO bob",
            "LOCK TABLES t WRITE; UPDATE t SET a = 1 WHERE id = 1",
            "UPDATE t SET a = 1 WHERE id = 1; ANALYZE TABLE t",
            "UPDATE t SET a = 1 WHERE id = 1; OPTIMIZE TABLE t",
            "UPDATE t SET a = 1 WHERE id = 1; CREATE USER 'u'@'%' IDENTIFIED BY 'x'",
            "UPDATE t SET a = 1 WHERE id = 1; /*!50000 DROP VIEW v */",
            "SELECT 1; RENAME TABLE a TO b",
        ] {
            assert_fires(&RULE, sql, &[Mysql]);
        }
        let analysis = analyze("UPDATE t SET a = 1 WHERE id = 1;\nDROP TABLE u", Mysql);
        let found: Vec<_> = analysis
            .findings
            .iter()
            .filter(|f| f.rule == RULE.id)
            .collect();
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].statement, found[0].line), (1, 2));
        assert!(analysis.has_errors());
    }

    #[test]
    fn does_not_fire_on_ddl_alone_temporary_tables_or_other_dialects() {
        let ddl_only = "CREATE TABLE t (id int); ALTER TABLE u ADD COLUMN a int; DROP VIEW v";
        assert_silent(&RULE, ddl_only, &[Mysql]);
        assert_fires(&ddl_implicit_commit::RULE, ddl_only, &[Mysql]);
        assert_silent(&RULE, "ALTER TABLE t ADD COLUMN a int", &[Mysql]);
        assert_silent(
            &RULE,
            "CREATE TEMPORARY TABLE tmp (id int); INSERT INTO tmp (id) VALUES (1); \
             DROP TEMPORARY TABLE tmp",
            &[Mysql],
        );
        assert_silent(
            &RULE,
            "UPDATE t SET a = 1 WHERE id = 1; DELETE FROM u WHERE id = 2",
            &[Mysql],
        );
        assert_silent(
            &RULE,
            "ALTER TABLE t ADD COLUMN a int; UPDATE t SET a = 1 WHERE id = 1",
            &[Postgres, Sqlite, Generic],
        );
    }
}
