//! Rehearsals: what a revision would change, found by running it on the target in one
//! transaction that is always rolled back — on success, error, timeout, panic or a dropped
//! connection — on a connection of its own that is closed afterwards (never pooled).
//!
//! Unlike a run ([`crate::execute`]), which sends the approved text whole, a rehearsal sends
//! the analyzer's statements (their own text, as sliced by the analysis), so that it can count
//! each statement, take samples around it, and stop before one that cannot be rolled back
//! (`steps`: MySQL DDL and other implicit commits, non-transactional statements, dangerous
//! functions, `COPY`/`LOAD`, and — unless the target allows them — functions the analyzer
//! cannot see into): that statement is recorded as skipped, with the reason, and nothing after
//! it runs. The statements go in batches of up to [`BATCH_STATEMENTS`], each batch one message
//! (with the samples' re-selects in between), and each statement's result is read as the
//! server finishes it; a server that ran another number of statements than were sent stops
//! the rehearsal. On MySQL/MariaDB the transaction is an XA transaction, which refuses any
//! implicit commit the analysis did not see.
//!
//! What it records: the rows the transaction changed per table, counted as a run counts them
//! ([`crate::counting`], before the first statement and after the last), each statement's
//! count as the server reports it, and — unless samples are off — a sample of the rows each
//! statement changed, before and after ([`sample`]), masked columns masked.
//!
//! Limits: the target's statement and lock timeouts, each cut to the rehearsal's timeout, are
//! enforced by the database as in a run; the rehearsal's timeout bounds everything (connecting
//! included). Past it, the rehearsal's future is dropped with its connection, and its session
//! is ended from a second connection (`pg_terminate_backend`, `KILL`), so that no lock
//! outlives it. Every message has been [`crate::scrub`]bed.

pub(crate) mod sample;
mod steps;

use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use countersign_analyzer::{Analysis, StatementKind, analyze};
use countersign_core::mask::Masks;
pub use countersign_core::request::RehearsalStatus;
use countersign_core::timestamp;
use futures_util::FutureExt;
use time::OffsetDateTime;
use tracing::Instrument;

use crate::error::{DriverError, ErrorKind, Failure, Step as RunStep};
use crate::report::{Progress, RunIdentity, StatementResult, TableChanges};
use crate::run::{close, roll_back};
use crate::session::{Session, within_connect_timeout};
use crate::target::{Driver, Limits, Target};
use crate::undo::UndoCheck;
use crate::{mysql, postgres};

pub use sample::{MAX_VALUE_CHARS, Sample};
pub use steps::SkipReason;

use crate::text::{Fetched, Keep};
use sample::{Planned, Returned, Sampler, Shape};
use steps::Step;

/// How long ending a timed-out rehearsal's session from outside may take.
const END_SESSION_TIMEOUT: Duration = Duration::from_secs(5);

/// How a rehearsal is run.
#[derive(Debug, Clone, Copy)]
pub struct RehearsalOptions<'a> {
    /// The target's statement and lock timeouts (each cut to [`Self::timeout`]).
    pub limits: Limits,
    /// The longest the whole rehearsal may take (the target's `rehearsal_timeout`).
    pub timeout: Duration,
    /// Whether to take samples of the changed rows (the target's `rehearsal_samples`).
    pub samples: bool,
    /// The most rows a sample holds, before and after.
    pub max_samples: usize,
    /// The most statements sampled: the first ones that change rows. A long script's later
    /// statements get counts only, so sampling costs a bounded share of the rehearsal (a
    /// sample needs a re-select of the statement's rows before it runs).
    pub max_sampled_statements: usize,
    /// The target's `mask_columns` patterns (`table.column`, `*` a wildcard).
    pub mask_columns: &'a [String],
    /// Whether statements calling functions the analyzer cannot see into are run (the
    /// target's `rehearse_functions`).
    pub allow_functions: bool,
    /// When given, the rehearsal also says whether a run with undo could capture every row
    /// it changes, at most this many (the target's `undo_limit_rows`): [`Rehearsal::undo`].
    pub undo_limit_rows: Option<u64>,
}

impl RehearsalOptions<'_> {
    /// The contract's default `rehearsal_timeout`.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
    /// The contract's most rows a sample holds.
    pub const MAX_SAMPLES: usize = 20;
    /// The statements sampled by default: the first 50 that change rows.
    pub const MAX_SAMPLED_STATEMENTS: usize = 50;

    /// Samples on, at most [`Self::MAX_SAMPLES`] rows, nothing masked, no functions, the
    /// default timeout.
    pub const fn new(limits: Limits) -> Self {
        Self {
            limits,
            timeout: Self::DEFAULT_TIMEOUT,
            samples: true,
            max_samples: Self::MAX_SAMPLES,
            max_sampled_statements: Self::MAX_SAMPLED_STATEMENTS,
            mask_columns: &[],
            allow_functions: false,
            undo_limit_rows: None,
        }
    }

    /// The limits the database enforces: the target's, none longer than the rehearsal.
    fn database_limits(&self) -> Limits {
        let cut =
            |limit: Option<Duration>| Some(limit.map_or(self.timeout, |l| l.min(self.timeout)));
        Limits {
            statement_timeout: cut(self.limits.statement_timeout),
            lock_timeout: cut(self.limits.lock_timeout),
        }
    }
}

/// Why a rehearsal did not get to its end. Every message has been scrubbed of the URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RehearsalError {
    /// Connecting, beginning, a statement (with the database's code and message, or its
    /// timeout), or counting failed.
    #[error(transparent)]
    Failed(Failure),
    /// The rehearsal ran past its own timeout.
    #[error(
        "the rehearsal ran past its timeout of {limit:?}; its session was ended, which rolls \
         it back"
    )]
    TimedOut { limit: Duration },
    /// The server read one of the analyzer's statements as several: it stopped there.
    #[error(
        "the server read statement {} as {results} statements, where the analysis saw one; \
         the rehearsal stopped there",
        index + 1
    )]
    Split { index: usize, results: usize },
    /// Taking a statement's sample failed.
    #[error("taking the sample of statement {} failed: {message}", index + 1)]
    Sample { index: usize, message: String },
    /// The rehearsal's transaction was no longer open at its end: something in the text
    /// ended it.
    #[error(
        "the rehearsal's transaction ended before its rollback: something in the script \
         committed or rolled it back"
    )]
    TransactionEnded,
    /// A bug in Countersign: the rehearsal panicked.
    #[error("the rehearsal stopped unexpectedly; its connection was dropped, which rolls it back")]
    Panicked,
}

impl RehearsalError {
    /// The status a rehearsal that ended with this error has.
    pub const fn status(&self) -> RehearsalStatus {
        match self {
            Self::TimedOut { .. } | Self::Failed(Failure::Timeout { .. }) => {
                RehearsalStatus::Timeout
            }
            _ => RehearsalStatus::Error,
        }
    }
}

/// A statement the rehearsal did not run, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub reason: SkipReason,
    /// The analysis' finding about the statement, where it has one.
    pub detail: Option<String>,
}

/// One statement of a rehearsal: run, or skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementRehearsal {
    /// Its position in the script, from 0.
    pub index: usize,
    /// What it is, in a few words: its kind and the tables it names (`update accounts`).
    pub summary: String,
    /// As the server reports it: rows inserted, updated (matched) or deleted; 0 for a
    /// statement that changes no rows, or one that was skipped.
    pub rows_affected: u64,
    /// Why it was not run; `None` when it ran.
    pub skipped: Option<Skipped>,
    /// Some of the rows it changed, before and after; `None` without samples, for a
    /// statement that changed no rows, or one whose rows cannot be found again.
    pub sample: Option<Sample>,
}

/// Everything a rehearsal found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rehearsal {
    /// `done`, `error` or `timeout` (never `running` or `skipped`).
    pub status: RehearsalStatus,
    /// Every row the transaction changed, as the database counts them — or the statements'
    /// own counts where those are higher (as a run's guard counts).
    pub rows_affected: u64,
    /// The rows the transaction changed, per table, as the database counts them. Empty when
    /// the rehearsal failed before they could be read.
    pub tables: Vec<TableChanges>,
    /// The statements that ran, in order, then the one skipped (if any). Statements after a
    /// skipped or failed one did not run and are not listed.
    pub statements: Vec<StatementRehearsal>,
    /// Why it did not get to its end; `None` when `status` is `done`.
    pub error: Option<RehearsalError>,
    pub started_at: OffsetDateTime,
    pub finished_at: OffsetDateTime,
    pub duration: Duration,
    /// Whether a run could be undone (asked with [`RehearsalOptions::undo_limit_rows`]).
    pub undo: Option<UndoCheck>,
}

impl Rehearsal {
    /// The statement the rehearsal stopped before, if it skipped one.
    pub fn skipped(&self) -> Option<&StatementRehearsal> {
        self.statements.iter().find(|s| s.skipped.is_some())
    }
}

/// Rehearses `sql` on `target`: runs its statements one at a time in one transaction, records
/// what they changed, and rolls back. Never commits, never panics, never returns early: every
/// ending is a [`Rehearsal`]. Dropping the future drops its connection, which rolls back, and
/// ends its session from outside (a task spawned on the current runtime), so that no
/// statement of it runs on with its locks.
pub async fn rehearse(target: Target<'_>, sql: &str, options: RehearsalOptions<'_>) -> Rehearsal {
    let analysis = analyze(sql, target.driver.dialect());
    rehearse_analyzed(target, &analysis, options).await
}

/// [`rehearse`] of a script already analyzed for the target's dialect (as the server stores a
/// revision's analysis): its statements are run as the analysis cut them.
pub async fn rehearse_analyzed(
    target: Target<'_>,
    analysis: &Analysis,
    options: RehearsalOptions<'_>,
) -> Rehearsal {
    let started_at = timestamp::now();
    let clock = Instant::now();
    let span = tracing::info_span!("rehearse", driver = %target.driver);
    let mut record = Record::default();
    let error = attempt(target, analysis, &options, &mut record)
        .instrument(span.clone())
        .await
        .err();
    let progress = Progress {
        statements: record
            .statements
            .iter()
            .map(|s| StatementResult {
                index: s.index,
                rows_affected: s.rows_affected,
            })
            .collect(),
        tables: record.tables.clone(),
        identity: RunIdentity::default(),
        undo: None,
    };
    let rows_affected = progress.rows_affected();
    let undo = options.undo_limit_rows.map(|limit| {
        undo_check(
            target.driver,
            record.undo.take(),
            limit,
            rows_affected,
            record.tables.as_deref(),
        )
    });
    let rehearsal = Rehearsal {
        status: error
            .as_ref()
            .map_or(RehearsalStatus::Done, RehearsalError::status),
        rows_affected,
        tables: record.tables.unwrap_or_default(),
        statements: record.statements,
        error,
        started_at,
        finished_at: timestamp::now(),
        duration: clock.elapsed(),
        undo,
    };
    span.in_scope(|| match &rehearsal.error {
        None => tracing::info!(
            rows_affected = rehearsal.rows_affected,
            duration_ms = rehearsal.duration.as_millis(),
            "rehearsal done, rolled back"
        ),
        Some(error) => tracing::warn!(
            status = rehearsal.status.as_str(),
            duration_ms = rehearsal.duration.as_millis(),
            %error,
            "rehearsal did not get to its end; rolled back"
        ),
    });
    rehearsal
}

/// What a rehearsal found so far.
#[derive(Default)]
struct Record {
    statements: Vec<StatementRehearsal>,
    tables: Option<Vec<TableChanges>>,
    /// The session, once its transaction has begun: ended from outside should the rehearsal
    /// be dropped before it is rolled back.
    session: EndOnDrop,
    /// Whether capture could follow every statement: the counter names of the tables it
    /// would capture, or why not.
    undo: Option<Result<Vec<String>, String>>,
}

/// Whether a run could be undone, from the capture's plan (`planned`) and what the rehearsal
/// counted.
fn undo_check(
    driver: Driver,
    planned: Option<Result<Vec<String>, String>>,
    limit: u64,
    rows: u64,
    tables: Option<&[TableChanges]>,
) -> UndoCheck {
    let no = |reason: String| UndoCheck {
        possible: false,
        reason: Some(reason),
    };
    let counters = match planned {
        None => return no("the rehearsal did not get far enough to tell".into()),
        Some(Err(reason)) => return no(reason),
        Some(Ok(counters)) => counters,
    };
    if rows > limit {
        return no(format!(
            "it changes {rows} rows, more than the target's undo_limit_rows ({limit})"
        ));
    }
    if driver != Driver::Mysql
        && let Some(other) = tables
            .unwrap_or_default()
            .iter()
            .find(|t| t.total() > 0 && !counters.iter().any(|c| c.eq_ignore_ascii_case(&t.table)))
    {
        return no(format!(
            "rows of {} change through something capture cannot follow (a trigger, a function)",
            other.table
        ));
    }
    UndoCheck {
        possible: true,
        reason: None,
    }
}

/// Ends a rehearsal's session from outside (on a task of its own) if the rehearsal is dropped
/// while its transaction is open — its caller gave up on it mid-statement. The dropped
/// connection alone would leave a MySQL statement running, with its locks, until it ends.
/// No `Debug`: it holds the URL.
#[derive(Default)]
struct EndOnDrop {
    target: Option<(Driver, String)>,
    identity: Option<RunIdentity>,
}

impl EndOnDrop {
    fn arm(&mut self, target: Target<'_>, identity: RunIdentity) {
        self.target = Some((target.driver, target.url.to_owned()));
        self.identity = Some(identity);
    }

    /// The session's identity, no longer to be ended on drop.
    fn disarm(&mut self) -> Option<RunIdentity> {
        self.target = None;
        self.identity.take()
    }
}

impl Drop for EndOnDrop {
    fn drop(&mut self) {
        let (Some((driver, url)), Some(identity)) = (self.target.take(), self.identity.take())
        else {
            return;
        };
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                end_session(Target { driver, url: &url }, &identity).await;
            });
        }
    }
}

/// Why the statements stopped short, and whether the connection can still be spoken to.
struct Stop {
    error: RehearsalError,
    connection_usable: bool,
}

impl From<RehearsalError> for Stop {
    fn from(error: RehearsalError) -> Self {
        Self {
            error,
            connection_usable: true,
        }
    }
}

/// Connects, runs, and rolls back on every path: a rollback where the connection can take
/// one, otherwise the connection is dropped (and, past the timeout or after a panic, the
/// session ended from outside).
async fn attempt(
    target: Target<'_>,
    analysis: &Analysis,
    options: &RehearsalOptions<'_>,
    record: &mut Record,
) -> Result<(), RehearsalError> {
    let deadline = tokio::time::Instant::now() + options.timeout;
    let limits = options.database_limits();
    let timed_out = RehearsalError::TimedOut {
        limit: options.timeout,
    };
    let mut session = match tokio::time::timeout_at(deadline, Session::open(target, &limits)).await
    {
        Err(_) => return Err(timed_out),
        Ok(Err(error)) => {
            let failure = Failure::connect(&DriverError::new(target, &error));
            return Err(RehearsalError::Failed(failure));
        }
        Ok(Ok(session)) => session,
    };
    let statements = AssertUnwindSafe(run(
        &mut session,
        target,
        analysis,
        options,
        &limits,
        record,
    ));
    let ended = tokio::time::timeout_at(deadline, statements.catch_unwind()).await;
    let (result, usable) = match ended {
        Ok(Ok(Ok(()))) => (Ok(()), true),
        // A statement stopped by a timeout at or past the rehearsal's own deadline ran out of
        // the rehearsal's time, whichever of the two fired first (they are the same length).
        Ok(Ok(Err(stop)))
            if matches!(stop.error, RehearsalError::Failed(Failure::Timeout { .. }))
                && tokio::time::Instant::now() >= deadline =>
        {
            (Err(timed_out), stop.connection_usable)
        }
        Ok(Ok(Err(stop))) => (Err(stop.error), stop.connection_usable),
        Ok(Err(_panic)) => (Err(RehearsalError::Panicked), false),
        Err(_elapsed) => (Err(timed_out), false),
    };
    if usable {
        roll_back(session).await;
        record.session.disarm();
    } else {
        // The database rolls back whatever a dropped connection left; a session still busy
        // in a statement is ended from outside, so that no lock outlives the rehearsal.
        drop(session);
        if let Some(identity) = record.session.disarm() {
            end_session(target, &identity).await;
        }
    }
    result
}

/// The statements, batch by batch, between two counts of the database's counters.
async fn run(
    session: &mut Session,
    target: Target<'_>,
    analysis: &Analysis,
    options: &RehearsalOptions<'_>,
    limits: &Limits,
    record: &mut Record,
) -> Result<(), Stop> {
    let failed = |step, error: &sqlx::Error| {
        let error = DriverError::new(target, error);
        let connection_usable = error.kind != ErrorKind::Connection;
        Stop {
            error: RehearsalError::Failed(Failure::at(step, error)),
            connection_usable,
        }
    };
    let identity = session
        .begin_rehearsal(limits)
        .await
        .map_err(|e| failed(RunStep::Begin, &e))?;
    record.session.arm(target, identity.clone());
    if options.undo_limit_rows.is_some() {
        record.undo = Some(
            match crate::undo::plan_capture(session, target.driver, analysis).await {
                Ok(Ok(plan)) => Ok(plan.counters()),
                Ok(Err(reason)) => Err(reason),
                Err(error) => Err(format!(
                    "the target's catalog could not be read: {}",
                    DriverError::new(target, &error).message
                )),
            },
        );
    }
    let before = session
        .counters()
        .await
        .map_err(|e| failed(RunStep::Begin, &e))?;
    let masks = Masks::new(options.mask_columns);
    let mut sampler = Sampler::new(target.driver, options.max_samples, &masks);
    let steps = steps::steps(analysis, target.driver, options.allow_functions);
    let mut batch = Batch::default();
    let mut sampled_statements = 0;
    for (statement, step) in analysis.statements.iter().zip(steps) {
        let calls_functions = match step {
            Step::Skip { reason, detail } => {
                batch.send(session, target, &sampler, record).await?;
                record.statements.push(StatementRehearsal {
                    index: statement.index,
                    summary: summary(statement),
                    rows_affected: 0,
                    skipped: Some(Skipped { reason, detail }),
                    sample: None,
                });
                break;
            }
            Step::Run { calls_functions } => calls_functions,
        };
        let changes_rows = statement.kind.changes_rows();
        let sampled = options.samples
            && options.max_samples > 0
            && changes_rows
            && !calls_functions
            && sampled_statements < options.max_sampled_statements;
        sampled_statements += usize::from(sampled);
        let shape = sampled
            .then(|| Shape::of(&statement.sql, target.driver))
            .flatten();
        if shape.is_some() && batch.changes_schema {
            // The sample's catalog look-up must see what the DDL before it did.
            batch.send(session, target, &sampler, record).await?;
        }
        let planned = sampler
            .plan(session, &statement.sql, shape)
            .await
            .map_err(|error| sample_failed(target, statement.index, &error))?;
        let after_by_key = planned.after_by_key;
        batch.add(statement, planned, sampler.keep());
        if after_by_key || batch.is_full() {
            batch.send(session, target, &sampler, record).await?;
        }
    }
    batch.send(session, target, &sampler, record).await?;
    let after = session
        .counters()
        .await
        .map_err(|e| failed(RunStep::Check, &e))?;
    record.tables = Some(after.since(&before));
    let integrity = session
        .integrity(&identity)
        .await
        .map_err(|e| failed(RunStep::Check, &e))?;
    if !integrity.same_transaction {
        return Err(RehearsalError::TransactionEnded.into());
    }
    Ok(())
}

/// The most statements of the script sent in one message. Every message costs a round trip
/// and, measured on PostgreSQL, far more than that (4,000 updates took twice as long in
/// messages of 1,000 as in one): as few as memory allows.
const BATCH_STATEMENTS: usize = 10_000;

/// What a message sends: for each statement, the re-select before it (when its sample needs
/// one) and the statement itself, in order; sent in one message, so that a rehearsal costs a
/// round trip per [`BATCH_STATEMENTS`] statements, not per statement.
#[derive(Default)]
struct Batch {
    /// A statement in it may change the schema (anything but DML and `SELECT`).
    changes_schema: bool,
    sql: String,
    keep: Vec<Keep>,
    statements: Vec<Pending>,
}

/// A statement in a batch: where its pieces are in the message.
struct Pending {
    index: usize,
    summary: String,
    changes_rows: bool,
    planned: Planned,
    before: Option<usize>,
    statement: usize,
}

/// Which piece of a message failed.
enum Piece {
    Before(usize),
    Statement(usize),
}

impl Batch {
    fn add(&mut self, statement: &countersign_analyzer::Statement, planned: Planned, keep: usize) {
        let mut push = |sql: &str, rule: Keep| {
            if !self.sql.is_empty() {
                self.sql.push_str(";\n");
            }
            self.sql.push_str(sql);
            self.keep.push(rule);
            self.keep.len() - 1
        };
        let before = planned
            .before
            .as_deref()
            .map(|sql| push(sql, Keep::First(keep)));
        let rule = match (planned.returned, before) {
            (Returned::Nothing, _) => Keep::First(0),
            (Returned::First, _) => Keep::First(keep),
            (Returned::MatchingBefore { keys }, Some(of)) => Keep::Matching { of, keys },
            (Returned::MatchingBefore { .. }, None) => Keep::First(0),
        };
        let at = push(&planned.statement, rule);
        self.changes_schema |=
            !(statement.kind.changes_rows() || statement.kind == StatementKind::Select);
        self.statements.push(Pending {
            index: statement.index,
            summary: summary(statement),
            changes_rows: statement.kind.changes_rows(),
            planned,
            before,
            statement: at,
        });
    }

    fn is_full(&self) -> bool {
        self.statements.len() >= BATCH_STATEMENTS
    }

    /// Sends the batch in one message and records each statement that ran, with its sample;
    /// stops at the first piece that failed. Empties the batch.
    async fn send(
        &mut self,
        session: &mut Session,
        target: Target<'_>,
        sampler: &Sampler<'_>,
        record: &mut Record,
    ) -> Result<(), Stop> {
        let Self {
            sql,
            keep,
            statements,
            ..
        } = std::mem::take(self);
        if statements.is_empty() {
            return Ok(());
        }
        let fetch = session.fetch(&sql, &keep).await;
        let pieces = keep.len();
        let ran = fetch.results.len();
        let mut results: Vec<Option<Fetched>> = fetch.results.into_iter().map(Some).collect();
        let mut failed_at = None;
        for pending in statements {
            if pending.statement >= ran {
                failed_at = Some(match pending.before {
                    Some(before) if before >= ran => Piece::Before(pending.index),
                    _ => Piece::Statement(pending.index),
                });
                break;
            }
            let before = pending.before.and_then(|at| results[at].take());
            let statement = results[pending.statement].take().unwrap_or_default();
            let rows_affected = match (pending.changes_rows, pending.planned.returning) {
                (false, _) => 0,
                (true, false) => statement.rows_affected,
                (true, true) => statement.rows_affected.max(statement.returned),
            };
            let after = match before
                .as_ref()
                .and_then(|before| sampler.after_select(&pending.planned, before))
            {
                Some(sql) => {
                    let keep = [Keep::First(sampler.keep())];
                    let mut fetch = session.fetch(&sql, &keep).await;
                    if let Some(error) = fetch.error {
                        return Err(sample_failed(target, pending.index, &error));
                    }
                    fetch.results.pop()
                }
                None => None,
            };
            let sample = sampler.sample(&pending.planned, before, statement, after);
            tracing::debug!(index = pending.index, rows_affected, "statement rehearsed");
            record.statements.push(StatementRehearsal {
                index: pending.index,
                summary: pending.summary,
                rows_affected,
                skipped: None,
                sample,
            });
        }
        match (fetch.error, failed_at) {
            (Some(error), Some(Piece::Before(index))) => Err(sample_failed(target, index, &error)),
            (Some(error), Some(Piece::Statement(index))) => {
                let error = DriverError::new(target, &error);
                let connection_usable = error.kind != ErrorKind::Connection;
                Err(Stop {
                    error: RehearsalError::Failed(Failure::at(RunStep::Statement(index), error)),
                    connection_usable,
                })
            }
            (Some(error), None) => Err(sample_failed(target, record.statements.len(), &error)),
            (None, _) if ran != pieces => Err(RehearsalError::Split {
                index: record.statements.len(),
                results: ran,
            }
            .into()),
            (None, _) => Ok(()),
        }
    }
}

/// Taking statement `index`'s sample failed.
fn sample_failed(target: Target<'_>, index: usize, error: &sqlx::Error) -> Stop {
    let error = DriverError::new(target, error);
    Stop {
        connection_usable: error.kind != ErrorKind::Connection,
        error: RehearsalError::Sample {
            index,
            message: error.message,
        },
    }
}

/// `update accounts`: the statement's kind and the tables it names.
fn summary(statement: &countersign_analyzer::Statement) -> String {
    let mut summary = statement.kind.as_str().replace('_', " ");
    if !statement.tables.is_empty() {
        summary.push(' ');
        summary.push_str(&statement.tables.join(", "));
    }
    summary
}

/// Ends the session of a rehearsal that could not be rolled back on its own connection
/// (past its timeout, or after a panic), from a second connection: PostgreSQL's
/// `pg_terminate_backend` of its backend, while still in its transaction; MySQL's `KILL`.
/// SQLite needs nothing: its statement deadline interrupts whatever still runs, and the
/// dropped connection rolls back.
async fn end_session(target: Target<'_>, identity: &RunIdentity) {
    let ended = tokio::time::timeout(END_SESSION_TIMEOUT, async {
        match target.driver {
            Driver::Postgres => {
                let (Some(txid), Some(pid)) = (
                    identity.txid.as_deref().and_then(|t| t.parse::<i64>().ok()),
                    identity
                        .session
                        .as_deref()
                        .and_then(|p| p.parse::<i32>().ok()),
                ) else {
                    return Ok(());
                };
                let mut session =
                    within_connect_timeout(postgres::Session::open(target.url)).await?;
                session.terminate(pid, txid).await?;
                close(crate::session::Session::Postgres(session)).await;
            }
            Driver::Mysql => {
                let Some(id) = identity
                    .session
                    .as_deref()
                    .and_then(|i| i.parse::<u64>().ok())
                else {
                    return Ok(());
                };
                let mut session = within_connect_timeout(mysql::Session::open(target.url)).await?;
                session.kill(id).await?;
                close(crate::session::Session::Mysql(session)).await;
            }
            Driver::Sqlite => {}
        }
        Ok::<(), sqlx::Error>(())
    })
    .await;
    match ended {
        Ok(Ok(())) => tracing::info!("ended the rehearsal's session"),
        Ok(Err(error)) => {
            let message = DriverError::new(target, &error).message;
            tracing::warn!(%message, "could not end the rehearsal's session");
        }
        Err(_) => tracing::warn!("ending the rehearsal's session timed out"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_limits_never_outlast_the_rehearsal() {
        let options = RehearsalOptions {
            timeout: Duration::from_secs(2),
            ..RehearsalOptions::new(Limits {
                statement_timeout: Some(Duration::from_secs(30)),
                lock_timeout: Some(Duration::from_millis(500)),
            })
        };
        assert_eq!(
            options.database_limits(),
            Limits {
                statement_timeout: Some(Duration::from_secs(2)),
                lock_timeout: Some(Duration::from_millis(500)),
            }
        );
        let unlimited = RehearsalOptions::new(Limits::default());
        assert_eq!(
            unlimited.database_limits().statement_timeout,
            Some(RehearsalOptions::DEFAULT_TIMEOUT)
        );
    }

    #[test]
    fn timeouts_give_the_timeout_status() {
        let timed_out = RehearsalError::TimedOut {
            limit: Duration::from_secs(1),
        };
        assert_eq!(timed_out.status(), RehearsalStatus::Timeout);
        let database = RehearsalError::Failed(Failure::Timeout {
            step: RunStep::Statement(0),
            message: String::new(),
        });
        assert_eq!(database.status(), RehearsalStatus::Timeout);
        assert_eq!(RehearsalError::Panicked.status(), RehearsalStatus::Error);
    }

    fn assert_send<T: Send>(_: T) {}

    /// The server spawns rehearsals on a multi-threaded runtime.
    #[test]
    fn a_rehearsal_can_move_between_threads() {
        let target = Target {
            driver: Driver::Sqlite,
            url: "sqlite::memory:",
        };
        assert_send(rehearse(
            target,
            "",
            RehearsalOptions::new(Limits::default()),
        ));
    }
}
