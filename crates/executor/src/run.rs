//! One run of an approved revision: connect, begin, let the caller record the run's identity,
//! send the approved text as it is, count what the database changed, check the guard (and
//! that the server ran what was analyzed), commit — or roll back. Never a record that says
//! "rolled back" for a change that stayed.

use std::fmt;
use std::time::{Duration, Instant};

use countersign_core::request::ExecutionOutcome;
use countersign_core::timestamp;
use tracing::Instrument;

use crate::error::{DriverError, Failure, Step};
use crate::reconcile::{Settlement, reconcile};
use crate::report::{Plan, Progress, Report, RunIdentity, StatementResult};
use crate::scrub::scrub;
use crate::session::Session;
use crate::target::{Driver, Target};
use crate::undo::{Images, Undo, UndoMode, UndoReport, plan_capture, run_captured};
use futures_util::StreamExt;

/// How far past its statement timeout a statement may run before the executor stops waiting
/// for the database to enforce it and drops the connection (which rolls back).
pub(crate) const DEADLINE_GRACE: Duration = Duration::from_secs(2);

/// How long a `ROLLBACK` may take before the connection is dropped instead.
const ROLLBACK_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs the approved text of `plan` on `target` in one transaction and commits only if every
/// statement succeeded, the server ran as many statements as the analysis saw, the lexing
/// settings held, and the rows the database counts as changed pass the row-count guard.
/// Never panics and never returns early: every ending, including a connection failure, is a
/// [`Report`].
///
/// `record` is called exactly once, right after the transaction has begun and before any
/// statement runs, with the run's [`RunIdentity`] — so that the caller can store it durably
/// for [`reconcile`] before anything can commit. If it returns an error, the transaction is
/// rolled back and the outcome is `error` with that message. It is not called when connecting
/// or beginning fails.
///
/// Dropping the returned future before it completes drops the connection, and the database
/// rolls back whatever was not committed; only a drop while `COMMIT` is in flight leaves the
/// outcome to [`reconcile`].
pub async fn execute<E: fmt::Display>(
    target: Target<'_>,
    plan: Plan<'_>,
    record: impl AsyncFnOnce(RunIdentity) -> Result<(), E>,
) -> Report {
    execute_with_undo(target, plan, None, record, async |_| Ok(())).await
}

/// [`execute`], capturing the before- and after-image of every row the run changes when
/// `undo` is given (see [`crate::undo`]): the statements go one by one (each its approved
/// text), and `keep` is called once, after the last statement and the guard, before the
/// commit, with the images (made one at a time as they are read) — for the caller to store durably, marked pending until the commit
/// is known. If it returns an error, the run rolls back. Where the images cannot be captured
/// whole, a run whose undo is [`UndoMode::Required`] changes nothing (outcome `no_undo`); an
/// optional one runs as [`execute`] does and its report says why there is no undo.
///
/// [`UndoMode::Required`]: crate::UndoMode::Required
pub async fn execute_with_undo<E: fmt::Display>(
    target: Target<'_>,
    plan: Plan<'_>,
    undo: Option<Undo<'_>>,
    record: impl AsyncFnOnce(RunIdentity) -> Result<(), E>,
    keep: impl AsyncFnOnce(Images) -> Result<(), E>,
) -> Report {
    let started_at = timestamp::now();
    let clock = Instant::now();
    let span = tracing::info_span!(
        "execute",
        driver = %target.driver,
        statements = plan.statements,
    );
    let mut progress = Progress::default();
    let result = run(target, &plan, undo, record, keep, &mut progress)
        .instrument(span.clone())
        .await;
    let report = Report {
        outcome: result
            .as_ref()
            .map_or_else(Failure::outcome, |()| ExecutionOutcome::Committed),
        rows_affected: progress.rows_affected(),
        statements: progress.statements,
        tables: progress.tables.unwrap_or_default(),
        expected_rows: plan.expected_rows,
        error: result.err(),
        started_at,
        finished_at: timestamp::now(),
        duration: clock.elapsed(),
        identity: progress.identity,
        undo: progress.undo,
    };
    span.in_scope(|| log(&report));
    report
}

fn log(report: &Report) {
    let duration_ms = report.duration.as_millis();
    match &report.error {
        None => tracing::info!(
            outcome = %report.outcome,
            rows_affected = report.rows_affected,
            duration_ms,
            "run committed"
        ),
        Some(failure) => tracing::warn!(
            outcome = %report.outcome,
            rows_affected = report.rows_affected,
            duration_ms,
            error = %failure,
            "run did not commit"
        ),
    }
}

/// Why a run stopped short of a clean commit, and whether its connection can still be spoken
/// to (to roll back and close) or must be dropped.
pub(crate) struct Stop {
    pub(crate) failure: Failure,
    pub(crate) connection_usable: bool,
}

impl From<Failure> for Stop {
    fn from(failure: Failure) -> Self {
        Self {
            failure,
            connection_usable: true,
        }
    }
}

async fn run<E: fmt::Display>(
    target: Target<'_>,
    plan: &Plan<'_>,
    undo: Option<Undo<'_>>,
    record: impl AsyncFnOnce(RunIdentity) -> Result<(), E>,
    keep: impl AsyncFnOnce(Images) -> Result<(), E>,
    progress: &mut Progress,
) -> Result<(), Failure> {
    let mut session = Session::open(target, &plan.limits)
        .await
        .map_err(|error| Failure::connect(&DriverError::new(target, &error)))?;
    let result = transact(&mut session, target, plan, undo, record, keep, progress).await;
    let Err(mut stop) = result else {
        close(session).await;
        return Ok(());
    };
    if stop.connection_usable {
        stop.failure = own_up(&mut session, progress, stop.failure).await;
        roll_back(session).await;
    } else {
        // Mid-statement or mid-commit: nothing more can be said on it. The database rolls
        // back whatever it had not committed when the connection goes.
        drop(session);
    }
    match stop.failure {
        Failure::CommitUnknown { .. } => settle(target, &progress.identity, stop.failure).await,
        failure => Err(failure),
    }
}

async fn transact<E: fmt::Display>(
    session: &mut Session,
    target: Target<'_>,
    plan: &Plan<'_>,
    undo: Option<Undo<'_>>,
    record: impl AsyncFnOnce(RunIdentity) -> Result<(), E>,
    keep: impl AsyncFnOnce(Images) -> Result<(), E>,
    progress: &mut Progress,
) -> Result<(), Stop> {
    let fail = |step, error: sqlx::Error| Failure::at(step, DriverError::new(target, &error));
    progress.identity = session
        .begin(&plan.limits, plan.implicit_commits)
        .await
        .map_err(|error| fail(Step::Begin, error))?;
    record(progress.identity.clone())
        .await
        .map_err(|error| Failure::Record {
            message: scrub(&error.to_string(), target.url),
        })?;
    let capture = match undo {
        None => None,
        Some(undo) => {
            let planned = plan_capture(session, target.driver, undo.analysis)
                .await
                .map_err(|error| fail(Step::Begin, error))?;
            match (planned, undo.mode) {
                (Ok(capture), _) => Some((undo, capture)),
                (Err(reason), UndoMode::Required) => return Err(Failure::NoUndo { reason }.into()),
                (Err(reason), UndoMode::Optional) => {
                    progress.undo = Some(UndoReport::unavailable(reason));
                    None
                }
            }
        }
    };
    let before = session
        .counters()
        .await
        .map_err(|error| fail(Step::Begin, error))?;
    let captured = match &capture {
        Some((undo, capture)) => Some(
            run_captured(
                session,
                target,
                capture,
                &plan.limits,
                undo.mode,
                undo.limit_rows,
                progress,
            )
            .await?,
        ),
        None => {
            run_script(session, target, plan, progress).await?;
            None
        }
    };
    let after = session
        .counters()
        .await
        .map_err(|error| fail(Step::Check, error))?;
    progress.tables = Some(after.since(&before));
    let integrity = session
        .integrity(&progress.identity)
        .await
        .map_err(|error| fail(Step::Check, error))?;
    let executed = progress.statements.len();
    if !integrity.same_transaction {
        let guard_holds = guard(plan.expected_rows, progress.rows_affected()).is_ok();
        // A DDL script commits statement by statement, as its plan says: that is its record,
        // not a failure — unless it broke the guard it could no longer be held to.
        if !(plan.implicit_commits && guard_holds) {
            return Err(committed_early(plan, progress, None).into());
        }
    }
    if !integrity.lexing_pinned {
        return Err(Failure::Lexing {
            setting: match target.driver {
                Driver::Postgres => "standard_conforming_strings",
                Driver::Mysql | Driver::Sqlite => "sql_mode",
            },
        }
        .into());
    }
    if executed != plan.statements {
        return Err(Failure::Split {
            analyzed: plan.statements,
            executed,
        }
        .into());
    }
    guard(plan.expected_rows, progress.rows_affected())?;
    if let (Some(allowed), Some(tables)) = (plan.changed_tables, &progress.tables)
        && let Some(t) = tables
            .iter()
            .find(|t| t.total() > 0 && !allowed.contains(&t.table))
    {
        return Err(Failure::UnrehearsedTable {
            table: t.table.clone(),
        }
        .into());
    }
    if let (Some(mut captured), Some((undo, _))) = (captured, capture) {
        captured.check_counts(
            target.driver,
            progress.tables.as_deref().unwrap_or_default(),
        );
        captured.select_after(session, target).await?;
        match (captured.incomplete().map(str::to_owned), undo.mode) {
            (Some(reason), UndoMode::Required) => return Err(Failure::NoUndo { reason }.into()),
            (Some(reason), UndoMode::Optional) => {
                progress.undo = Some(UndoReport::unavailable(reason));
            }
            (None, _) => {
                let (rows, images) = captured.into_images();
                keep(images).await.map_err(|error| Failure::Images {
                    message: scrub(&error.to_string(), target.url),
                })?;
                progress.undo = Some(if rows == 0 {
                    UndoReport::unavailable("the run changed no rows: there is nothing to undo")
                } else {
                    UndoReport {
                        available: true,
                        rows,
                        reason: None,
                    }
                });
            }
        }
    }
    session.commit().await.map_err(|error| {
        let failure = fail(Step::Commit, error);
        let connection_usable = !matches!(failure, Failure::CommitUnknown { .. });
        Stop {
            failure,
            connection_usable,
        }
    })
}

/// Sends the approved text and collects each statement's count as the server finishes it.
/// The database enforces the statement timeout; should it not have done so
/// [`DEADLINE_GRACE`] past a statement's limit (MySQL's DML, a server that ignores cancels, a
/// silent network), the executor gives up on the connection.
async fn run_script(
    session: &mut Session,
    target: Target<'_>,
    plan: &Plan<'_>,
    progress: &mut Progress,
) -> Result<(), Stop> {
    let mut results = session.script(plan.sql);
    loop {
        let index = progress.statements.len();
        let step = Step::Statement(index);
        let next = match plan.limits.statement_timeout {
            None => results.next().await,
            Some(limit) => {
                let deadline = limit.saturating_add(DEADLINE_GRACE);
                match tokio::time::timeout(deadline, results.next()).await {
                    Ok(next) => next,
                    Err(_) => return Err(deadline_passed(step, limit)),
                }
            }
        };
        let reported = match next {
            None => return Ok(()),
            Some(Ok(reported)) => reported,
            Some(Err(error)) => {
                return Err(Failure::at(step, DriverError::new(target, &error)).into());
            }
        };
        let changes_rows = plan
            .changes_rows
            .is_none_or(|flags| flags.get(index).copied().unwrap_or(true));
        let rows_affected = if changes_rows { reported } else { 0 };
        tracing::debug!(index, rows_affected, "statement done");
        progress.statements.push(StatementResult {
            index,
            rows_affected,
        });
    }
}

/// The failure of a run whose transaction something in the script committed: what ran until
/// then stays, and the record says so (`cause`: what else went wrong).
fn committed_early(plan: &Plan<'_>, progress: &Progress, cause: Option<&Failure>) -> Failure {
    let ran = progress.statements.len();
    let mut message = format!(
        "the transaction was committed by the script itself (DDL commits implicitly on \
         MySQL/MariaDB): the {ran} statement(s) that ran stay committed, one by one"
    );
    if let Some(cause) = cause {
        message.push_str(&format!("; then: {cause}"));
    }
    if let Some(expected) = plan.expected_rows {
        let actual = progress.rows_affected();
        if i64::try_from(actual).ok() != Some(expected) {
            message.push_str(&format!(
                "; the row-count guard expected {expected} rows and the database counted \
                 {actual}, but could no longer roll back"
            ));
        }
    }
    Failure::CommittedEarly { message }
}

/// Before rolling back a failed run: where the script had already committed (an implicit
/// commit on MySQL/MariaDB, then a failing statement), the failure says what stays.
async fn own_up(session: &mut Session, progress: &Progress, failure: Failure) -> Failure {
    if matches!(failure, Failure::CommittedEarly { .. }) || progress.statements.is_empty() {
        return failure;
    }
    match session.integrity(&progress.identity).await {
        Ok(integrity) if !integrity.same_transaction => Failure::CommittedEarly {
            message: format!(
                "statement(s) 1 to {} ran and were committed by an implicit commit in the \
                 script, and stay; then: {failure}",
                progress.statements.len()
            ),
        },
        _ => failure,
    }
}

fn deadline_passed(step: Step, limit: Duration) -> Stop {
    Stop {
        failure: Failure::Timeout {
            step,
            message: format!(
                "still running {DEADLINE_GRACE:?} after its statement timeout of {limit:?}; \
                 the executor dropped the connection, which rolls the transaction back"
            ),
        },
        connection_usable: false,
    }
}

/// The row-count guard.
fn guard(expected: Option<i64>, actual: u64) -> Result<(), Failure> {
    match expected {
        Some(expected) if i64::try_from(actual).ok() != Some(expected) => {
            Err(Failure::Guard { expected, actual })
        }
        _ => Ok(()),
    }
}

pub(crate) async fn roll_back(mut session: Session) {
    match tokio::time::timeout(ROLLBACK_TIMEOUT, session.rollback()).await {
        Ok(Ok(())) => close(session).await,
        // Dropping the connection rolls back just the same.
        Ok(Err(error)) => tracing::debug!(kind = error_kind(&error), "rollback failed"),
        Err(_) => tracing::debug!("rollback timed out"),
    }
}

pub(crate) async fn close(session: Session) {
    if let Err(error) = session.close().await {
        tracing::debug!(kind = error_kind(&error), "closing the connection failed");
    }
}

/// The variant of a driver error, for logs that must not carry its (unscrubbed) text.
fn error_kind(error: &sqlx::Error) -> &'static str {
    match error {
        sqlx::Error::Database(_) => "database",
        sqlx::Error::Io(_) => "io",
        sqlx::Error::Tls(_) => "tls",
        sqlx::Error::Protocol(_) => "protocol",
        sqlx::Error::WorkerCrashed => "worker crashed",
        _ => "other",
    }
}

/// After the connection broke during `COMMIT`: asks the target on a new connection what
/// became of the transaction, where it can tell.
async fn settle(
    target: Target<'_>,
    identity: &RunIdentity,
    failure: Failure,
) -> Result<(), Failure> {
    match reconcile(target, identity, true).await {
        Ok(Settlement::Committed) => {
            tracing::info!("the commit's connection broke, but the target reports it committed");
            Ok(())
        }
        Ok(Settlement::RolledBack) => Err(Failure::Commit {
            message: format!("{failure}; the target reports the transaction aborted"),
        }),
        _ => Err(failure),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>(_: T) {}

    /// The server spawns runs on a multi-threaded runtime.
    #[test]
    fn a_run_can_move_between_threads() {
        let target = Target {
            driver: Driver::Sqlite,
            url: "sqlite::memory:",
        };
        let plan = Plan::new("", 0);
        assert_send(execute(target, plan, async |_| Ok::<(), String>(())));
        let identity = RunIdentity::default();
        assert_send(reconcile(target, &identity, false));
    }

    #[test]
    fn the_guard_holds_only_for_the_exact_total() {
        assert_eq!(guard(None, 7), Ok(()));
        assert_eq!(guard(Some(5), 5), Ok(()));
        assert_eq!(
            guard(Some(5), 6),
            Err(Failure::Guard {
                expected: 5,
                actual: 6
            })
        );
        assert!(guard(Some(-1), 0).is_err());
        assert!(guard(Some(i64::MAX), u64::MAX).is_err());
    }
}
