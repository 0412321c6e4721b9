//! Undo: the before- and after-image of every row a run changes, captured inside the run's
//! transaction, so that a reviewed revert can put each row back — and only while it still
//! holds what the run left in it.
//!
//! A run with undo ([`crate::execute_with_undo`]) sends the analyzer's statements one by one
//! (each its approved text byte for byte), in messages of many statements, and around each
//! `INSERT`/`UPDATE`/`DELETE` (`plan`):
//!
//! - `UPDATE`/`DELETE` of one table: just before it, in the same message, its rows are
//!   re-selected by its own predicate (`FOR UPDATE` on PostgreSQL and MySQL, so that they
//!   cannot change in between), every column as the database's own SQL literal
//!   (`quote_nullable`, `QUOTE` — `X'…'` for binary columns — `quote`): the before-image.
//! - `INSERT` into one table: `RETURNING <key literals>` is appended (PostgreSQL, SQLite,
//!   MariaDB), which gives the keys of the rows it added.
//!
//! After the last statement, the rows are selected once more by key: the after-image (a row
//! not found was deleted). A row's image is the net effect of the run on it: its values before
//! the first statement that touched it and after the last one. Images whose before and after
//! are equal are dropped: there is nothing to restore.
//!
//! Capture is checked, never assumed (`capture`): every statement's count as the server
//! reports it must equal the rows captured for it, and the database's own count of the rows
//! the transaction changed, per table and kind ([`crate::counting`]), must not exceed them —
//! a trigger, a function or a CTE that changed rows capture did not see makes the undo
//! unavailable. Where capture is impossible (a table without a primary key, a statement whose
//! rows cannot be found again, a statement that is not `INSERT`/`UPDATE`/`DELETE` or a read,
//! more rows than the limit), the run under `required` changes nothing (outcome `no_undo`,
//! with the reason); under `optional` it runs as a run without undo does, the approved text
//! whole, and says why there is no undo.

mod capture;
mod plan;
mod revert;

use countersign_analyzer::Analysis;
use serde::{Deserialize, Serialize};

pub use capture::Images;
pub(crate) use capture::run_captured;
pub(crate) use plan::plan_capture;
pub use plan::{UndoCheck, undo_refusal};
pub use revert::{RevertStatement, literal_text, revert_sql};

/// Whether a run must capture images.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UndoMode {
    /// No undo, no run: where images cannot be captured, nothing is changed.
    Required,
    /// Images where possible; where not, the run goes ahead without them and says why.
    Optional,
}

/// What a run with undo is asked to capture.
#[derive(Debug, Clone, Copy)]
pub struct Undo<'a> {
    /// The analysis of the approved text: its statements are sent one by one.
    pub analysis: &'a Analysis,
    pub mode: UndoMode,
    /// The most rows images are kept of (the target's `undo_limit_rows`).
    pub limit_rows: u64,
}

/// A value as the target's own SQL literal (`'a''b'`, `42`, `X'00ff'`, `E'\\x00'`), or
/// `NULL`: what a revert writes back, byte for byte.
pub type Literal = String;

/// One row a run changed: its key and its values before the run and after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowImage {
    /// The first statement that changed it, from 0.
    pub statement: usize,
    /// The table, as that statement names it.
    pub table: String,
    /// The table's columns, in the table's order.
    pub columns: Vec<String>,
    /// Columns the database computes (generated columns): compared, never written back.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub generated: Vec<String>,
    /// The primary key's columns, in key order.
    pub key_columns: Vec<String>,
    /// The key's values (after the run; before it for a deleted row).
    pub key: Vec<Literal>,
    /// The row before the run; `None` when the run inserted it.
    pub before: Option<Vec<Literal>>,
    /// The row after the run; `None` when the run deleted it.
    pub after: Option<Vec<Literal>>,
}

/// Whether a run can be undone, as its record says.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UndoReport {
    /// Images of every row it changed were captured (and handed over before the commit).
    pub available: bool,
    /// The rows a revert would restore.
    pub rows: u64,
    /// Why there is no undo; `None` when available.
    pub reason: Option<String>,
}

impl UndoReport {
    pub(crate) fn unavailable(reason: impl Into<String>) -> Self {
        Self {
            available: false,
            rows: 0,
            reason: Some(reason.into()),
        }
    }
}
