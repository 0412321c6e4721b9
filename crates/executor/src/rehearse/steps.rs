//! Which statements of a script a rehearsal may run, read from the analysis: a statement that
//! cannot be rolled back is not run, and the rehearsal stops there (later statements may
//! depend on it). Pure.

use std::fmt;

use countersign_analyzer::{Analysis, StatementKind};

use crate::target::Driver;

/// Why a rehearsal did not run a statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SkipReason {
    /// MySQL/MariaDB commit it implicitly (DDL, account and table-maintenance statements,
    /// `LOCK TABLES`).
    ImplicitCommit,
    /// The database cannot run it inside a transaction.
    NonTransactional,
    /// It calls a function that acts outside the data (files, other sessions, locks, time).
    DangerousFunction,
    /// `COPY` or `LOAD DATA`: files on a server, outside the transaction.
    CopyOrLoad,
    /// It would end or split the rehearsal's own transaction.
    TransactionControl,
    /// It changes how the database reads SQL text.
    LexingSetting,
    /// It calls a function the analyzer cannot see into, and the target does not allow
    /// rehearsing those (`rehearse_functions`).
    UnknownFunction,
    /// It runs stored code the analyzer cannot see into (`CALL`, `DO`, `EXECUTE`), and the
    /// target does not allow rehearsing that (`rehearse_functions`).
    ProceduralCode,
}

impl SkipReason {
    /// A stable snake_case word for the reason.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ImplicitCommit => "implicit_commit",
            Self::NonTransactional => "non_transactional",
            Self::DangerousFunction => "dangerous_function",
            Self::CopyOrLoad => "copy_or_load",
            Self::TransactionControl => "transaction_control",
            Self::LexingSetting => "lexing_setting",
            Self::UnknownFunction => "unknown_function",
            Self::ProceduralCode => "procedural_code",
        }
    }

    /// The reason in words, for people.
    pub const fn words(self) -> &'static str {
        match self {
            Self::ImplicitCommit => {
                "MySQL/MariaDB commit this statement implicitly, so it cannot be rolled back"
            }
            Self::NonTransactional => {
                "the database cannot run this statement inside a transaction, so it cannot be \
                 rolled back"
            }
            Self::DangerousFunction => {
                "it calls a function that acts outside the data, which a rollback does not undo"
            }
            Self::CopyOrLoad => {
                "COPY and LOAD read or write files on the server, which a rollback does not undo"
            }
            Self::TransactionControl => "it would end the rehearsal's transaction",
            Self::LexingSetting => "it changes how the database reads the SQL that follows",
            Self::UnknownFunction => {
                "it calls a function the analyzer cannot see into (the target does not allow \
                 rehearsing those: rehearse_functions)"
            }
            Self::ProceduralCode => {
                "it runs stored code the analyzer cannot see into (the target does not allow \
                 rehearsing that: rehearse_functions)"
            }
        }
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.words())
    }
}

/// What a rehearsal does with one statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// Run it; `calls_functions`: it calls code the analyzer cannot see into (allowed), so
    /// no sample is taken (a re-select would call it again).
    Run { calls_functions: bool },
    /// Do not run it (nor anything after it): why, and the analysis' own words about it.
    Skip {
        reason: SkipReason,
        detail: Option<String>,
    },
}

/// The step for each statement of `analysis`, on `driver`.
pub(crate) fn steps(analysis: &Analysis, driver: Driver, allow_functions: bool) -> Vec<Step> {
    analysis
        .statements
        .iter()
        .map(|statement| {
            let finding = |rule: &str| {
                analysis
                    .findings
                    .iter()
                    .find(|f| f.statement == statement.index && f.rule == rule)
                    .map(|f| f.message.clone())
            };
            let skip = |reason, detail| Step::Skip { reason, detail };
            use StatementKind::*;
            if matches!(
                statement.kind,
                Begin | Commit | Rollback | Savepoint | ReleaseSavepoint
            ) {
                return skip(
                    SkipReason::TransactionControl,
                    finding("transaction-control"),
                );
            }
            if driver == Driver::Mysql && statement.commits_implicitly() {
                let detail = finding("ddl-implicit-commit").or(finding("implicit-commit-mixed"));
                return skip(SkipReason::ImplicitCommit, detail);
            }
            for (rule, reason) in [
                ("non-transactional", SkipReason::NonTransactional),
                ("dangerous-function", SkipReason::DangerousFunction),
                ("copy-or-load", SkipReason::CopyOrLoad),
                ("transaction-control", SkipReason::TransactionControl),
                ("lexing-setting", SkipReason::LexingSetting),
            ] {
                if let Some(detail) = finding(rule) {
                    return skip(reason, Some(detail));
                }
            }
            if matches!(statement.kind, Copy | Load) {
                return skip(SkipReason::CopyOrLoad, None);
            }
            let unknown = finding("calls-unknown-function");
            let procedural =
                finding("procedural-code").filter(|_| matches!(statement.kind, Call | Do | Other));
            match (allow_functions, unknown, procedural) {
                (false, Some(detail), _) => skip(SkipReason::UnknownFunction, Some(detail)),
                (false, None, Some(detail)) => skip(SkipReason::ProceduralCode, Some(detail)),
                (true, unknown, procedural) => Step::Run {
                    calls_functions: unknown.is_some() || procedural.is_some(),
                },
                (false, None, None) => Step::Run {
                    calls_functions: false,
                },
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use countersign_analyzer::analyze;

    fn reasons(sql: &str, driver: Driver, allow_functions: bool) -> Vec<Option<SkipReason>> {
        steps(&analyze(sql, driver.dialect()), driver, allow_functions)
            .into_iter()
            .map(|step| match step {
                Step::Run { .. } => None,
                Step::Skip { reason, .. } => Some(reason),
            })
            .collect()
    }

    #[test]
    fn plain_data_changes_run() {
        for driver in Driver::ALL {
            let sql = "UPDATE t SET a = 1 WHERE id = 1; DELETE FROM t WHERE id = 2; \
                       INSERT INTO t (id) VALUES (3)";
            assert_eq!(reasons(sql, driver, false), [None, None, None], "{driver}");
        }
    }

    #[test]
    fn mysql_ddl_is_skipped_but_postgres_ddl_runs() {
        let sql = "UPDATE t SET a = 1 WHERE id = 1; ALTER TABLE t ADD COLUMN b int";
        assert_eq!(
            reasons(sql, Driver::Mysql, false),
            [None, Some(SkipReason::ImplicitCommit)]
        );
        assert_eq!(reasons(sql, Driver::Postgres, false), [None, None]);
        assert_eq!(reasons(sql, Driver::Sqlite, false), [None, None]);
    }

    #[test]
    fn what_a_rollback_cannot_undo_is_skipped() {
        let pg = |sql| reasons(sql, Driver::Postgres, true)[0];
        assert_eq!(
            pg("SELECT pg_terminate_backend(1)"),
            Some(SkipReason::DangerousFunction)
        );
        assert_eq!(pg("COPY t FROM '/tmp/x.csv'"), Some(SkipReason::CopyOrLoad));
        assert_eq!(pg("VACUUM t"), Some(SkipReason::NonTransactional));
        assert_eq!(pg("COMMIT"), Some(SkipReason::TransactionControl));
        assert_eq!(
            pg("SET standard_conforming_strings = off"),
            Some(SkipReason::LexingSetting)
        );
        assert_eq!(
            reasons("SELECT SLEEP(5)", Driver::Mysql, true)[0],
            Some(SkipReason::DangerousFunction)
        );
    }

    #[test]
    fn functions_the_analyzer_cannot_see_into_run_only_when_allowed() {
        let sql = "UPDATE t SET a = archive(a) WHERE id = 1";
        assert_eq!(
            reasons(sql, Driver::Postgres, false),
            [Some(SkipReason::UnknownFunction)]
        );
        let allowed = steps(
            &analyze(sql, Driver::Postgres.dialect()),
            Driver::Postgres,
            true,
        );
        assert_eq!(
            allowed,
            [Step::Run {
                calls_functions: true
            }]
        );
        assert_eq!(
            reasons("CALL purge(1)", Driver::Mysql, false),
            [Some(SkipReason::ProceduralCode)]
        );
        assert_eq!(
            reasons("DO $$ BEGIN PERFORM 1; END $$", Driver::Postgres, false),
            [Some(SkipReason::ProceduralCode)]
        );
    }
}
