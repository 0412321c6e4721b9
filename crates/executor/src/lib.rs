//! The executor: runs one approved revision on its target (PostgreSQL, MySQL/MariaDB, SQLite) in one
//! transaction, with timeouts and the row-count guard, and reconciles runs a crash interrupted.
//! It knows nothing of HTTP or users.
//!
//! # A run
//!
//! [`execute`] opens a single connection (never a pool) with the URL only the server knows,
//! begins a transaction, pins the settings that decide how SQL is read, hands the run's
//! [`RunIdentity`] to the caller to record durably, and sends the approved text **as it is**,
//! in one message, so the server splits it by its own reading — what runs is byte for byte
//! what was approved. It reads each statement's count as the server finishes it, and the
//! database's own count of every row the transaction changed, per table ([`TableChanges`];
//! `counting` says how, per driver). It commits only if every statement succeeded, the server
//! ran as many statements as the analysis saw, the lexing settings held and the counted rows
//! pass the row-count guard; otherwise it rolls back. Every ending is a [`Report`] whose
//! outcome is one of the contract's: `committed`, `error`, `guard`, `timeout`, `unknown` (the
//! connection broke during `COMMIT` and the target could not say). A script that commits by
//! itself (DDL on MySQL) is recorded as committed, with what stayed: never "rolled back".
//!
//! # Timeouts, per driver
//!
//! | driver | statement timeout | lock timeout |
//! |---|---|---|
//! | PostgreSQL | `statement_timeout` for the transaction (`set_config(…, true)`, i.e. `SET LOCAL`) | `lock_timeout`, likewise |
//! | MariaDB / MySQL | session `max_statement_time` (MariaDB) or `max_execution_time` (MySQL, `SELECT` only) | session `innodb_lock_wait_timeout` and `lock_wait_timeout`, whole seconds rounded up |
//! | SQLite | a deadline enforced by SQLite's progress handler, which interrupts the statement | the busy timeout, with `BEGIN IMMEDIATE` taking the write lock up front |
//!
//! Timeouts are recognised by the database's own error (PostgreSQL `57014`, `55P03`; MariaDB
//! and MySQL `1969`, `3024`, `1205`; SQLite `BUSY`, `LOCKED`, `INTERRUPT`). As a backstop for
//! a database that does not enforce the limit (MySQL's DML) or a silent network, the executor
//! stops waiting two seconds after a statement's timeout and drops the connection, which rolls
//! the transaction back on every backend. A limit of `None` leaves the database's default in
//! force (SQLite's busy timeout then is sqlx's 5 s).
//!
//! # Crash safety
//!
//! The run's identity — PostgreSQL's transaction id and backend pid; MySQL's connection id
//! and a marker row written inside the transaction; SQLite's marker row — is given to the
//! caller before any statement runs and so before anything can commit; after a crash,
//! [`reconcile`] reads from the target what became of it, ending a session the dead server
//! left behind first ([`Settlement`]).
//!
//! # Secrets
//!
//! The URL is never logged. [`Target`]'s `Debug` redacts it, and every message that leaves
//! the executor (in a [`Failure`], a [`ReconcileError`] or a log line) has been passed through
//! [`scrub`], which removes the URL, its password and its user and host names.

mod counting;
mod error;
mod mysql;
mod postgres;
mod reconcile;
mod rehearse;
mod report;
mod run;
mod scrub;
mod session;
mod sqlite;
mod target;
mod text;
mod undo;

pub use countersign_core::request::ExecutionOutcome;
pub use error::{Failure, ReconcileError, Step};
pub use reconcile::{Settlement, reconcile};
pub use rehearse::{
    MAX_VALUE_CHARS, Rehearsal, RehearsalError, RehearsalOptions, RehearsalStatus, Sample,
    SkipReason, Skipped, StatementRehearsal, rehearse, rehearse_analyzed,
};
pub use report::{Plan, Report, RunIdentity, StatementResult, TableChanges};
pub use run::{execute, execute_with_undo};
pub use scrub::scrub;
pub use target::{Driver, Limits, Target};
pub use undo::{
    Images, Literal, RevertStatement, RowImage, Undo, UndoCheck, UndoMode, UndoReport,
    literal_text, revert_sql, undo_refusal,
};
