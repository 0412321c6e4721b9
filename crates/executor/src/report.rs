//! What a run is given ([`Plan`]) and what it tells ([`Report`]).

use std::time::Duration;

use countersign_core::request::ExecutionOutcome;
use time::OffsetDateTime;

use crate::error::Failure;
use crate::target::Limits;

/// The approved revision, ready to run.
#[derive(Debug, Clone, Copy)]
pub struct Plan<'a> {
    /// The statements in order, each exactly one statement as the analyzer split them.
    pub statements: &'a [String],
    /// For each statement, whether the count its database reports is of rows it changed
    /// (INSERT, UPDATE, DELETE, MERGE). One that is not — a SELECT, whose count on PostgreSQL is
    /// of the rows it returned, or DDL — reports 0 and does not count toward the guard, so the
    /// guard means the same on every backend. `None`: every statement counts.
    pub changes_rows: Option<&'a [bool]>,
    /// The row-count guard: when given, a different total of affected rows rolls back.
    pub expected_rows: Option<i64>,
    pub limits: Limits,
}

/// The rows one statement affected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatementResult {
    /// The statement's position in the plan, from 0.
    pub index: usize,
    /// As the driver reports it: rows inserted, updated (matched) or deleted; for a
    /// PostgreSQL `SELECT`, the rows it returned; 0 for DDL.
    pub rows_affected: u64,
}

/// Everything recorded about one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub outcome: ExecutionOutcome,
    /// The statements that completed, in order (also when a later one failed and everything
    /// was rolled back).
    pub statements: Vec<StatementResult>,
    /// The total over [`Self::statements`].
    pub rows_affected: u64,
    pub expected_rows: Option<i64>,
    /// Why the run did not commit (or may not have); `None` when it committed.
    pub error: Option<Failure>,
    pub started_at: OffsetDateTime,
    pub finished_at: OffsetDateTime,
    pub duration: Duration,
    /// The target transaction's id, where the target has one (PostgreSQL).
    pub txid: Option<String>,
}

impl Report {
    /// Whether the statements' changes are in the target.
    pub fn is_committed(&self) -> bool {
        self.outcome.is_committed()
    }
}

/// A run's results as they come in.
#[derive(Debug, Default)]
pub(crate) struct Progress {
    pub(crate) statements: Vec<StatementResult>,
    pub(crate) txid: Option<String>,
}

impl Progress {
    pub(crate) fn rows_affected(&self) -> u64 {
        self.statements
            .iter()
            .fold(0, |total, s| total.saturating_add(s.rows_affected))
    }
}
