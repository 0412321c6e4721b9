//! What a run is given ([`Plan`]), what it records before anything can commit
//! ([`RunIdentity`], a type of the domain's) and what it tells ([`Report`], with the database's own count of the rows
//! the transaction changed, per table: [`TableChanges`]).

use std::time::Duration;

use countersign_core::request::ExecutionOutcome;
pub use countersign_core::request::RunIdentity;
use time::OffsetDateTime;

use crate::error::Failure;
use crate::target::Limits;
use crate::undo::UndoReport;

/// The approved revision, ready to run.
#[derive(Debug, Clone, Copy)]
pub struct Plan<'a> {
    /// The approved text, byte for byte. It is sent to the target as it is, in one message
    /// (PostgreSQL's simple query, MySQL's multi-statement `COM_QUERY`; SQLite's own
    /// statement-by-statement preparation of the text), so the server splits it itself:
    /// comments, executable comments and all.
    pub sql: &'a str,
    /// How many statements the analysis saw in [`Self::sql`]. A run in which the server
    /// executed another number is rolled back (outcome `guard`): the analyzer and the server
    /// read the text differently, so the reviewers did not see what would run.
    pub statements: usize,
    /// For each statement, whether its count as the server reports it is of rows it changed
    /// (INSERT, UPDATE, DELETE, MERGE) — for the per-statement figures only; the guard never
    /// uses it. `None`: every statement's count is shown.
    pub changes_rows: Option<&'a [bool]>,
    /// The row-count guard: when given, a total of changed rows (as the database counts them)
    /// other than this rolls back.
    pub expected_rows: Option<i64>,
    /// The tables a rehearsal saw change, when the guard is the rehearsal's: a run that
    /// changes any other table rolls back (outcome `guard`). `None`: any table may change.
    pub changed_tables: Option<&'a [String]>,
    pub limits: Limits,
    /// The analysis says the script is DDL that MySQL/MariaDB commit implicitly, statement by
    /// statement. Such a script runs in a plain transaction and its record says what each
    /// statement committed. Otherwise (the default) a MySQL run is an XA transaction, in which
    /// the server refuses any statement that would commit implicitly: nothing in the text can
    /// commit part of it. Other drivers ignore it.
    pub implicit_commits: bool,
}

impl<'a> Plan<'a> {
    /// A plan of `statements` statements in `sql`, with no guard and no limits.
    pub const fn new(sql: &'a str, statements: usize) -> Self {
        Self {
            sql,
            statements,
            changes_rows: None,
            expected_rows: None,
            changed_tables: None,
            limits: Limits {
                statement_timeout: None,
                lock_timeout: None,
            },
            implicit_commits: false,
        }
    }
}

/// The rows one statement affected, as the server reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatementResult {
    /// The statement's position in the script, from 0, in the order the server ran them.
    pub index: usize,
    /// As the server reports it: rows inserted, updated (matched) or deleted; 0 for a
    /// statement the plan says changes no rows.
    pub rows_affected: u64,
}

/// The rows the run's transaction changed in one table, as the database counts them
/// (including changes by CTEs, functions and triggers).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TableChanges {
    /// `schema.table` on PostgreSQL, `main.table` on SQLite; `*` on MySQL/MariaDB, which
    /// count per session, not per table (the totals are still exact).
    pub table: String,
    pub inserted: u64,
    pub updated: u64,
    pub deleted: u64,
}

impl TableChanges {
    pub const fn total(&self) -> u64 {
        self.inserted
            .saturating_add(self.updated)
            .saturating_add(self.deleted)
    }
}

/// Everything recorded about one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub outcome: ExecutionOutcome,
    /// The statements that completed, in order (also when a later one failed and everything
    /// was rolled back).
    pub statements: Vec<StatementResult>,
    /// The rows the transaction changed, per table, as the database counts them. Empty when
    /// the run failed before they could be read.
    pub tables: Vec<TableChanges>,
    /// The count the guard compared: every row the transaction changed, in every table, as
    /// the database counts them — or the statements' own counts where those are higher (an
    /// `UPDATE` on MySQL counts the rows it matched). Where the tables could not be read (the
    /// run failed first), the total of the statements' own counts.
    pub rows_affected: u64,
    pub expected_rows: Option<i64>,
    /// Why the run did not commit (or may not have, or committed other than asked); `None`
    /// when it committed cleanly.
    pub error: Option<Failure>,
    pub started_at: OffsetDateTime,
    pub finished_at: OffsetDateTime,
    pub duration: Duration,
    /// What identifies the run on its target.
    pub identity: RunIdentity,
    /// Whether it can be undone; `None` when no undo was asked for.
    pub undo: Option<UndoReport>,
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
    pub(crate) tables: Option<Vec<TableChanges>>,
    pub(crate) identity: RunIdentity,
    pub(crate) undo: Option<UndoReport>,
}

impl Progress {
    /// The count the guard compares: the database's count of the rows the transaction
    /// changed, or the statements' own counts where those are higher (MySQL counts an
    /// `UPDATE`'s matched rows, though a row set to the values it had is not changed). Either
    /// way no row changes that this count does not include.
    pub(crate) fn rows_affected(&self) -> u64 {
        let reported = self
            .statements
            .iter()
            .fold(0_u64, |sum, s| sum.saturating_add(s.rows_affected));
        match &self.tables {
            Some(tables) => total(tables).max(reported),
            None => reported,
        }
    }
}

/// The rows changed over `tables`.
pub(crate) fn total(tables: &[TableChanges]) -> u64 {
    tables
        .iter()
        .fold(0, |sum, table| sum.saturating_add(table.total()))
}
