//! Why a run did not commit ([`Failure`]) or a reconciliation could not tell
//! ([`ReconcileError`]), and how a driver's error becomes one. Every message in them has been
//! scrubbed of the target's URL.

use std::fmt;

use countersign_core::request::ExecutionOutcome;
use sqlx::error::DatabaseError;

use crate::scrub::scrub;
use crate::target::{Driver, Target};
use crate::{mysql, postgres, sqlite};

/// The step of a run that something happened in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Opening the transaction and applying the limits.
    Begin,
    /// The statement at this index (from 0) of the plan.
    Statement(usize),
    /// Counting the changes and checking the run's footing, before the commit.
    Check,
    Commit,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Begin => f.write_str("starting the transaction"),
            Self::Statement(index) => write!(f, "statement {}", index + 1),
            Self::Check => f.write_str("checking the run before its commit"),
            Self::Commit => f.write_str("the commit"),
        }
    }
}

/// Why a run did not commit (or may not have). `Display` gives the text recorded with the
/// execution; the fields are there for callers that want more than text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    #[error("could not connect to the target: {message}")]
    Connect { message: String },
    #[error("could not start the transaction: {message}")]
    Begin { message: String },
    /// The database refused a statement. `code` is the SQLSTATE (PostgreSQL), the error number
    /// (MySQL/MariaDB) or the extended result code (SQLite).
    #[error("statement {} failed{}: {message}", index + 1, CodeSuffix(code.as_deref()))]
    Statement {
        index: usize,
        code: Option<String>,
        message: String,
    },
    /// A statement or lock timeout fired (the database's, or the executor's own deadline).
    #[error("{step} timed out: {message}")]
    Timeout { step: Step, message: String },
    /// The row-count guard: the statements affected another number of rows than expected.
    #[error(
        "row-count guard: {expected} affected rows were expected, the statements affected \
         {actual}; rolled back"
    )]
    Guard { expected: i64, actual: u64 },
    /// The run changed a table the rehearsal it is held to did not change.
    #[error(
        "row-count guard: the run changed rows of {table}, which the rehearsal the reviewers \
         saw did not change; rolled back"
    )]
    UnrehearsedTable { table: String },
    /// The server ran another number of statements than the analysis saw: the two read the
    /// text differently, so the reviewers did not see what would run.
    #[error(
        "the server ran {executed} statement(s) where the analysis saw {analyzed}: the text does \
         not mean to the server what the reviewers were shown; rolled back"
    )]
    Split { analyzed: usize, executed: usize },
    /// The script changed a setting that decides how SQL is read (MySQL's `sql_mode`,
    /// PostgreSQL's `standard_conforming_strings`).
    #[error(
        "the script changed a setting that decides how SQL is read ({setting}), so what ran \
         may not be what was reviewed; rolled back"
    )]
    Lexing { setting: &'static str },
    /// Something in the script committed the transaction before the run could (DDL on
    /// MySQL/MariaDB, a `COMMIT` the analysis did not see): what ran until then stays.
    #[error("{message}")]
    CommittedEarly { message: String },
    /// Undo is required and the run's images could not be captured whole: nothing was
    /// changed.
    #[error("no undo: {reason}; nothing was changed (undo is required on this target)")]
    NoUndo { reason: String },
    /// The caller could not record the transaction's identity; nothing was run.
    #[error("could not record the transaction's identity, so nothing was run: {message}")]
    Record { message: String },
    /// The caller could not store the run's images; nothing was committed.
    #[error("could not store the rows' before-images, so nothing was committed: {message}")]
    Images { message: String },
    /// The changes could not be counted or the run's footing checked; nothing was committed.
    #[error("could not check the run before its commit, so it was rolled back: {message}")]
    Check { message: String },
    /// The database refused the commit; the transaction did not commit.
    #[error("commit failed: {message}")]
    Commit { message: String },
    /// The connection broke while the commit was in flight.
    #[error("the connection failed during the commit; whether it committed is unknown: {message}")]
    CommitUnknown { message: String },
}

impl Failure {
    /// The outcome this failure gives the execution.
    pub const fn outcome(&self) -> ExecutionOutcome {
        match self {
            Self::Timeout { .. } => ExecutionOutcome::Timeout,
            Self::Guard { .. }
            | Self::UnrehearsedTable { .. }
            | Self::Split { .. }
            | Self::Lexing { .. } => ExecutionOutcome::Guard,
            Self::NoUndo { .. } => ExecutionOutcome::NoUndo,
            // The changes are in the target: the record must not say otherwise.
            Self::CommittedEarly { .. } => ExecutionOutcome::Committed,
            Self::CommitUnknown { .. } => ExecutionOutcome::Unknown,
            Self::Connect { .. }
            | Self::Begin { .. }
            | Self::Statement { .. }
            | Self::Record { .. }
            | Self::Images { .. }
            | Self::Check { .. }
            | Self::Commit { .. } => ExecutionOutcome::Error,
        }
    }

    pub(crate) fn connect(error: &DriverError) -> Self {
        Self::Connect {
            message: error.message.clone(),
        }
    }

    /// A failure at `step`, from the driver's error.
    pub(crate) fn at(step: Step, error: DriverError) -> Self {
        let message = error.message;
        match (error.kind, step) {
            (ErrorKind::Timeout, step) => Self::Timeout { step, message },
            (_, Step::Begin) => Self::Begin { message },
            (_, Step::Check) => Self::Check { message },
            (_, Step::Statement(index)) => Self::Statement {
                index,
                code: error.code,
                message,
            },
            (ErrorKind::Database, Step::Commit) => Self::Commit { message },
            (ErrorKind::Connection, Step::Commit) => Self::CommitUnknown { message },
        }
    }
}

/// ` (23505)` after "statement 2 failed", when there is a code.
struct CodeSuffix<'a>(Option<&'a str>);

impl fmt::Display for CodeSuffix<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(code) => write!(f, " ({code})"),
            None => Ok(()),
        }
    }
}

/// Why [`crate::reconcile`] could not ask the target.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReconcileError {
    #[error("the recorded {what} {value:?} is not valid for this target")]
    InvalidIdentity { what: &'static str, value: String },
    #[error("could not connect to the target: {message}")]
    Connect { message: String },
    #[error("could not ask the target about the transaction: {message}")]
    Query { message: String },
}

/// What kind of thing went wrong in the driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorKind {
    /// The database gave up on a statement or lock timeout.
    Timeout,
    /// The database refused something; the connection still works.
    Database,
    /// Anything else: I/O, TLS, protocol, configuration, a crashed SQLite worker.
    Connection,
}

/// A driver's error, scrubbed and classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DriverError {
    pub(crate) kind: ErrorKind,
    pub(crate) code: Option<String>,
    pub(crate) message: String,
}

impl DriverError {
    pub(crate) fn new(target: Target<'_>, error: &sqlx::Error) -> Self {
        match error.as_database_error() {
            Some(database) => Self::from_database(target, database),
            None => Self {
                kind: ErrorKind::Connection,
                code: None,
                message: scrub(&error.to_string(), target.url),
            },
        }
    }

    fn from_database(target: Target<'_>, error: &dyn DatabaseError) -> Self {
        let (timed_out, code, message) = match target.driver {
            Driver::Postgres => (
                postgres::is_timeout(error),
                error.code().map(String::from),
                postgres::message(error),
            ),
            Driver::Mysql => (
                mysql::is_timeout(error),
                mysql::code(error),
                error.message().to_owned(),
            ),
            Driver::Sqlite => (
                sqlite::is_timeout(error),
                error.code().map(String::from),
                error.message().to_owned(),
            ),
        };
        Self {
            kind: if timed_out {
                ErrorKind::Timeout
            } else {
                ErrorKind::Database
            },
            code,
            message: scrub(&message, target.url),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(kind: ErrorKind) -> DriverError {
        DriverError {
            kind,
            code: Some("23505".into()),
            message: "duplicate key".into(),
        }
    }

    #[test]
    fn statement_failures_name_the_statement_from_one_and_the_code() {
        let failure = Failure::at(Step::Statement(1), error(ErrorKind::Database));
        assert_eq!(
            failure.to_string(),
            "statement 2 failed (23505): duplicate key"
        );
        assert_eq!(failure.outcome(), ExecutionOutcome::Error);
    }

    #[test]
    fn timeouts_at_any_step_give_the_timeout_outcome() {
        for step in [Step::Begin, Step::Statement(0), Step::Commit] {
            let failure = Failure::at(step, error(ErrorKind::Timeout));
            assert_eq!(failure.outcome(), ExecutionOutcome::Timeout, "{step}");
        }
    }

    #[test]
    fn only_a_broken_connection_during_commit_leaves_the_outcome_unknown() {
        let lost = Failure::at(Step::Commit, error(ErrorKind::Connection));
        assert_eq!(lost.outcome(), ExecutionOutcome::Unknown);
        let refused = Failure::at(Step::Commit, error(ErrorKind::Database));
        assert_eq!(refused.outcome(), ExecutionOutcome::Error);
        let before_commit = Failure::at(Step::Statement(0), error(ErrorKind::Connection));
        assert_eq!(before_commit.outcome(), ExecutionOutcome::Error);
    }

    #[test]
    fn the_guard_states_both_numbers() {
        let failure = Failure::Guard {
            expected: 5,
            actual: 6,
        };
        let text = failure.to_string();
        assert!(text.contains('5') && text.contains('6'), "{text}");
        assert_eq!(failure.outcome(), ExecutionOutcome::Guard);
    }
}
