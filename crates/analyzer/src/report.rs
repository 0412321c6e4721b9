//! The analyzer's output: [`Analysis`], [`Statement`], [`Finding`], [`Severity`] and [`Risk`].
//!
//! These shapes are a contract (see `docs/rules.md`, "Output"): the server stores them as JSON and
//! reads them back, the CLI prints them, and policies match findings by their rule id. Field
//! names and the lower-case spellings of enums must not change.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::Dialect;

/// How serious a finding is, lowest first. The order is meaningful: `Error > Danger > …`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth a reviewer's attention; changes nothing.
    Info,
    /// Raises the script's risk to `medium`.
    Warning,
    /// Raises the script's risk to `high`.
    Danger,
    /// The system cannot run the script as asked: the submission is refused.
    Error,
}

impl Severity {
    /// The lower-case name used in JSON and in `countersign check` output.
    pub const fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Danger => "danger",
            Severity::Error => "error",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The risk of a whole script, which sets how many approvals it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Risk {
    /// No finding above `info` (an `error` finding refuses the script instead).
    Low,
    /// At least one `warning`.
    Medium,
    /// At least one `danger`.
    High,
}

impl Risk {
    /// The lower-case name used in JSON.
    pub const fn as_str(self) -> &'static str {
        match self {
            Risk::Low => "low",
            Risk::Medium => "medium",
            Risk::High => "high",
        }
    }

    /// The risk that a set of findings carries: `high` if any is `danger`, `medium` if any is
    /// `warning`, else `low`. `error` findings do not count here: they refuse the script.
    pub fn of<'a>(findings: impl IntoIterator<Item = &'a Finding>) -> Risk {
        let mut risk = Risk::Low;
        for finding in findings {
            match finding.severity {
                Severity::Danger => return Risk::High,
                Severity::Warning => risk = Risk::Medium,
                Severity::Info | Severity::Error => {}
            }
        }
        risk
    }
}

impl fmt::Display for Risk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a statement does, as a lower-case word (`update`, `create_table`, …; `other` for the
/// rest, including statements that could not be parsed and were not recognised).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatementKind {
    Select,
    Insert,
    Update,
    Delete,
    Merge,
    CreateTable,
    CreateView,
    CreateIndex,
    CreateSequence,
    CreateSchema,
    CreateDatabase,
    CreateFunction,
    CreateProcedure,
    CreateTrigger,
    CreateRole,
    CreateUser,
    CreateOther,
    AlterTable,
    AlterRole,
    AlterUser,
    AlterSystem,
    AlterOther,
    DropTable,
    DropView,
    DropIndex,
    DropSchema,
    DropDatabase,
    DropRole,
    DropUser,
    DropOther,
    Rename,
    Truncate,
    Grant,
    Revoke,
    Begin,
    Commit,
    Rollback,
    Savepoint,
    ReleaseSavepoint,
    Set,
    Lock,
    Copy,
    Load,
    Call,
    Do,
    Vacuum,
    Explain,
    Show,
    Other,
}

impl StatementKind {
    /// Whether the count a database reports for a statement of this kind is of rows it changed
    /// (INSERT, UPDATE, DELETE, MERGE). A SELECT's count on PostgreSQL is of the rows it
    /// returned, and DDL's means nothing, so a row-count guard adds up only these.
    pub fn changes_rows(self) -> bool {
        matches!(
            self,
            Self::Insert | Self::Update | Self::Delete | Self::Merge
        )
    }

    /// Whether a statement of this kind removes rows without the database counting them as
    /// changed (PostgreSQL's `pg_stat_xact_user_tables`, MySQL's `Handler_delete` and SQLite's
    /// `total_changes()` do not see a TRUNCATE or a dropped table's rows), so that no row-count
    /// guard can hold it to a number.
    pub fn removes_rows_uncounted(self) -> bool {
        matches!(
            self,
            Self::Truncate | Self::DropTable | Self::DropSchema | Self::DropDatabase
        )
    }

    /// The lower-case word used in JSON.
    pub fn as_str(self) -> &'static str {
        use StatementKind::*;
        match self {
            Select => "select",
            Insert => "insert",
            Update => "update",
            Delete => "delete",
            Merge => "merge",
            CreateTable => "create_table",
            CreateView => "create_view",
            CreateIndex => "create_index",
            CreateSequence => "create_sequence",
            CreateSchema => "create_schema",
            CreateDatabase => "create_database",
            CreateFunction => "create_function",
            CreateProcedure => "create_procedure",
            CreateTrigger => "create_trigger",
            CreateRole => "create_role",
            CreateUser => "create_user",
            CreateOther => "create_other",
            AlterTable => "alter_table",
            AlterRole => "alter_role",
            AlterUser => "alter_user",
            AlterSystem => "alter_system",
            AlterOther => "alter_other",
            DropTable => "drop_table",
            DropView => "drop_view",
            DropIndex => "drop_index",
            DropSchema => "drop_schema",
            DropDatabase => "drop_database",
            DropRole => "drop_role",
            DropUser => "drop_user",
            DropOther => "drop_other",
            Rename => "rename",
            Truncate => "truncate",
            Grant => "grant",
            Revoke => "revoke",
            Begin => "begin",
            Commit => "commit",
            Rollback => "rollback",
            Savepoint => "savepoint",
            ReleaseSavepoint => "release_savepoint",
            Set => "set",
            Lock => "lock",
            Copy => "copy",
            Load => "load",
            Call => "call",
            Do => "do",
            Vacuum => "vacuum",
            Explain => "explain",
            Show => "show",
            Other => "other",
        }
    }
}

impl fmt::Display for StatementKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One statement of the script, as a reviewer sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Statement {
    /// 0-based position of the statement in the script.
    pub index: usize,
    /// What the statement does.
    pub kind: StatementKind,
    /// Tables (and views) the statement names: the ones it writes first, then the ones it
    /// reads, each once, as written (`schema.table`). Names of CTEs are not tables.
    pub tables: Vec<String>,
    /// 1-based line of the statement's first token.
    pub line: u64,
    /// 1-based column (in characters) of the statement's first token.
    pub column: u64,
    /// The statement's own text, from its first token to its last (no `;`).
    pub sql: String,
}

impl Statement {
    /// Whether MySQL/MariaDB commits the open transaction implicitly when it runs this
    /// statement: DDL (`CREATE`, `ALTER`, `DROP` — but not of a `TEMPORARY` table — `RENAME`,
    /// `TRUNCATE`), account statements (`GRANT`, `REVOKE`, `CREATE USER`, …), `LOCK TABLES`,
    /// `UNLOCK TABLES` and administrative table statements (`ANALYZE`, `CHECK`, `OPTIMIZE`,
    /// `REPAIR TABLE`, `FLUSH`, …). Transaction control (`BEGIN`, `COMMIT`) is not counted.
    ///
    /// Read from the leading keywords of the statement's own text (an executable comment
    /// `/*!50000 … */` included), so it also answers for statements that did not parse. Pure;
    /// meaningful for statements of a MySQL script (on other dialects DDL is transactional or
    /// commits by other rules).
    pub fn commits_implicitly(&self) -> bool {
        crate::fallback::leading_words(&self.sql, Dialect::Mysql).commits_implicitly()
    }
}

/// Something a reviewer should know about the script.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// The rule's stable kebab-case id, e.g. `update-without-where`.
    pub rule: String,
    /// How serious it is.
    pub severity: Severity,
    /// What was found, in this script's own terms.
    pub message: String,
    /// Why it matters and what a safer form looks like.
    pub help: String,
    /// 0-based index of the statement it belongs to (0 for an empty script).
    pub statement: usize,
    /// 1-based line in the submitted text.
    pub line: u64,
    /// 1-based column (in characters) in the submitted text.
    pub column: u64,
}

/// The analyzer's report on one script.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Analysis {
    /// The dialect the script was read as.
    pub dialect: Dialect,
    /// `high` if any finding is `danger`, `medium` if any is `warning`, else `low`.
    pub risk: Risk,
    /// The statements, in order.
    pub statements: Vec<Statement>,
    /// The findings, ordered by statement, then position.
    pub findings: Vec<Finding>,
}

impl Analysis {
    /// The most serious finding's severity, or `None` without findings.
    pub fn max_severity(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }

    /// Whether any finding is an `error`: the system cannot run this script as asked.
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }

    /// The findings whose rule id is in `rules` (for example a target's `blocked_rules`).
    pub fn findings_for_rules<'a, S: AsRef<str>>(
        &'a self,
        rules: &'a [S],
    ) -> impl Iterator<Item = &'a Finding> + 'a {
        self.findings
            .iter()
            .filter(move |f| rules.iter().any(|r| r.as_ref() == f.rule))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(rule: &str, severity: Severity) -> Finding {
        Finding {
            rule: rule.into(),
            severity,
            message: String::new(),
            help: String::new(),
            statement: 0,
            line: 1,
            column: 1,
        }
    }

    #[test]
    fn severities_are_ordered_lowest_first() {
        assert!(Severity::Info < Severity::Warning);
        assert!(Severity::Warning < Severity::Danger);
        assert!(Severity::Danger < Severity::Error);
    }

    #[test]
    fn risk_follows_the_worst_of_danger_and_warning_only() {
        assert_eq!(Risk::of(&[]), Risk::Low);
        assert_eq!(Risk::of(&[finding("a", Severity::Info)]), Risk::Low);
        assert_eq!(Risk::of(&[finding("a", Severity::Error)]), Risk::Low);
        let medium = [
            finding("a", Severity::Info),
            finding("b", Severity::Warning),
        ];
        assert_eq!(Risk::of(&medium), Risk::Medium);
        let high = [
            finding("a", Severity::Warning),
            finding("b", Severity::Danger),
        ];
        assert_eq!(Risk::of(&high), Risk::High);
    }

    #[test]
    fn analysis_helpers_and_json_shape() {
        let analysis = Analysis {
            dialect: Dialect::Postgres,
            risk: Risk::High,
            statements: vec![Statement {
                index: 0,
                kind: StatementKind::CreateTable,
                tables: vec!["t".into()],
                line: 1,
                column: 1,
                sql: "CREATE TABLE t ()".into(),
            }],
            findings: vec![
                finding("create-object", Severity::Info),
                finding("truncate", Severity::Danger),
            ],
        };
        assert_eq!(analysis.max_severity(), Some(Severity::Danger));
        assert!(!analysis.has_errors());
        assert_eq!(analysis.findings_for_rules(&["truncate"]).count(), 1);

        let json = serde_json::to_value(&analysis).unwrap();
        assert_eq!(json["dialect"], "postgres");
        assert_eq!(json["risk"], "high");
        assert_eq!(json["statements"][0]["kind"], "create_table");
        let keys: Vec<_> = json["findings"][0]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        let mut expected = [
            "rule",
            "severity",
            "message",
            "help",
            "statement",
            "line",
            "column",
        ];
        expected.sort_unstable();
        let mut keys = keys;
        keys.sort_unstable();
        assert_eq!(keys, expected);
        let back: Analysis = serde_json::from_value(json).unwrap();
        assert_eq!(back, analysis);
    }

    #[test]
    fn statements_know_whether_mysql_commits_them_implicitly() {
        let statement = |sql: &str| Statement {
            index: 0,
            kind: StatementKind::Other,
            tables: Vec::new(),
            line: 1,
            column: 1,
            sql: sql.into(),
        };
        for sql in [
            "CREATE TABLE t (id int)",
            "alter table t add column a int",
            "DROP INDEX i ON t",
            "TRUNCATE t",
            "RENAME TABLE a TO b",
            "GRANT SELECT ON t TO bob",
            "LOCK TABLES t WRITE",
            "UNLOCK TABLES",
            "ANALYZE TABLE t",
            "OPTIMIZE TABLE t",
            "CREATE DEFINER=`root`@`%` PROCEDURE p() BEGIN SELECT 1; END",
            "/*!50000 CREATE VIEW v AS SELECT 1 */",
            "-- note\nDROP EVENT e",
        ] {
            assert!(statement(sql).commits_implicitly(), "{sql}");
        }
        for sql in [
            "UPDATE t SET a = 1 WHERE id = 1",
            "INSERT INTO t (a) VALUES (1)",
            "SELECT 1",
            "CREATE TEMPORARY TABLE tmp (id int)",
            "DROP TEMPORARY TABLE tmp",
            "SET @x = 1",
            "BEGIN",
            "/* CREATE TABLE t (id int) */ SELECT 1",
            "",
            "'unterminated",
        ] {
            assert!(!statement(sql).commits_implicitly(), "{sql}");
        }
    }

    #[test]
    fn only_data_changes_count_as_changed_rows() {
        use StatementKind::*;
        assert!(Insert.changes_rows() && Update.changes_rows() && Delete.changes_rows());
        assert!(!Select.changes_rows() && !CreateTable.changes_rows() && !Truncate.changes_rows());
    }
}
