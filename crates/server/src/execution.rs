//! Execution as the server runs it: the claim, the run on the target (through the executor, with
//! the URL only the server knows, the approved text as it is), the result with the database's
//! own count of what changed, and the reconciliation of runs a crash cut short — at start-up
//! and whenever a run's heartbeat stops.

use std::time::Duration;

use countersign_analyzer::Analysis;
use countersign_core::audit::AuditAction;
use countersign_core::lifecycle::{self, Action};
use countersign_core::permission;
use countersign_core::request::{
    ExecutionOutcome, GuardSource, RehearsalStatus, RequestStatus, RunIdentity,
};
use countersign_core::timestamp;
use countersign_core::user::User;
use countersign_executor::{
    Failure, Images, Limits, Plan, Report, Settlement, Target, Undo, UndoMode,
};
use countersign_store::{ExecutionResult, OpenExecution, RequestRecord, StoreError};
use serde::Deserialize;
use serde_json::json;

use crate::AppState;
use crate::config::{Driver, TargetConfig, UndoSetting};
use crate::error::ApiError;
use crate::views::RehearsalView;

/// What the record of an interrupted run says about its outcome.
const INTERRUPTED: &str =
    "the server stopped while this ran; the outcome was read from the target afterwards";

/// What the record of a run that never began on its target says.
const NEVER_BEGAN: &str = "the server stopped before the run began on the target; nothing ran";

/// What the record of a run the target cannot tell about says.
const CANNOT_TELL: &str = "the server stopped while this ran, and the target cannot tell whether \
     it committed: check the target before doing anything again";

fn executor_target(target: &TargetConfig) -> Target<'_> {
    Target {
        driver: target.driver,
        url: target.url.expose(),
    }
}

/// How the store records an executor's report; `no_undo` is why the run had no undo when
/// the executor was not asked for one.
fn result_of(report: &Report, no_undo: Option<&str>) -> ExecutionResult {
    let statements = report
        .statements
        .iter()
        .map(|s| json!({ "index": s.index, "rows_affected": s.rows_affected }))
        .collect::<Vec<_>>();
    let tables = crate::views::tables_json(&report.tables);
    ExecutionResult {
        outcome: report.outcome,
        finished_at: report.finished_at,
        rows_affected: i64::try_from(report.rows_affected).unwrap_or(i64::MAX),
        statements: json!(statements),
        tables,
        error: report.error.as_ref().map(ToString::to_string),
        undo: undo_json(report, no_undo),
    }
}

/// The execution's `undo` object: `{available, rows, reason}`.
fn undo_json(report: &Report, no_undo: Option<&str>) -> serde_json::Value {
    let unavailable = |reason: &str| json!({ "available": false, "rows": 0, "reason": reason });
    if let Some(Failure::NoUndo { reason }) = &report.error {
        return unavailable(reason);
    }
    if !report.is_committed() {
        return unavailable("the run did not commit: there is nothing to undo");
    }
    match (&report.undo, no_undo) {
        (Some(undo), _) => json!({
            "available": undo.available,
            "rows": undo.rows,
            "reason": undo.reason,
        }),
        (None, Some(reason)) => unavailable(reason),
        (None, None) => unavailable("no images were taken"),
    }
}

/// What a run's row-count guard holds it to.
enum Guard {
    /// The author's `expected_rows`.
    ExpectedRows(i64),
    /// No expected rows: the latest `done` rehearsal of the approved revision — its total, and
    /// no table it did not change.
    Rehearsal { rows: i64, tables: Vec<String> },
    /// Neither (or a MySQL DDL script, which no guard could roll back).
    None,
}

impl Guard {
    fn rows(&self) -> Option<i64> {
        match self {
            Guard::ExpectedRows(n) | Guard::Rehearsal { rows: n, .. } => Some(*n),
            Guard::None => None,
        }
    }

    fn tables(&self) -> Option<&[String]> {
        match self {
            Guard::Rehearsal { tables, .. } => Some(tables),
            _ => None,
        }
    }
}

impl AppState {
    /// The guard a run of `record`'s approved revision is held to.
    async fn guard_of(&self, record: &RequestRecord, script: &Script) -> Result<Guard, ApiError> {
        // A MySQL DDL script commits statement by statement: no guard can roll it back, so it
        // runs without one (and its record says so: no guard source).
        if script.implicit_commits {
            return Ok(Guard::None);
        }
        if let Some(n) = record.current().expected_rows {
            return Ok(Guard::ExpectedRows(n));
        }
        let rehearsal = self
            .store
            .latest_rehearsal(record.id, record.revision, Some(RehearsalStatus::Done))
            .await?;
        // Read as the API shows it, so the guard holds the run to the tables reviewers saw.
        Ok(match rehearsal.map(RehearsalView::from) {
            Some(RehearsalView {
                rows_affected: Some(rows),
                tables,
                ..
            }) => Guard::Rehearsal {
                rows,
                tables: tables.into_iter().map(|t| t.table).collect(),
            },
            _ => Guard::None,
        })
    }

    /// Executes approved request `id` as `user`, exactly once: the claim is one conditional
    /// update, so every concurrent caller but one gets 409. Returns the status it ended in
    /// (`executed` or `failed`).
    pub async fn execute(&self, id: i64, user: &User) -> Result<RequestStatus, ApiError> {
        let record = self.load_request(id).await?;
        permission::may_execute(user, &record.author)?;
        lifecycle::transition(id, record.status, Action::ClaimExecution)?;
        let target = self.config.target(&record.target).cloned().ok_or_else(|| {
            ApiError::conflict(
                "target_unavailable",
                format!("target {:?} is no longer configured", record.target),
            )
        })?;
        let current = record.current();
        // Read from the stored tree as it is (no copy of it: a long script's analysis is large).
        let analysis = Analysis::deserialize(&current.analysis).map_err(ApiError::internal)?;
        let no_undo = match (target.undo.setting, current.without_undo) {
            (UndoSetting::Off, _) => Some("undo is off for this target"),
            (_, true) => Some("submitted without undo: this change cannot be undone"),
            _ => None,
        };
        let changes_rows: Vec<bool> = analysis
            .statements
            .iter()
            .map(|s| s.kind.changes_rows())
            .collect();
        let implicit_commits = target.driver == Driver::Mysql
            && !analysis.statements.is_empty()
            && analysis.statements.iter().all(|s| s.commits_implicitly());
        let script = Script {
            sql: current.sql.clone(),
            statements: analysis.statements.len(),
            changes_rows,
            implicit_commits,
            undo: match (no_undo, target.undo.setting) {
                (Some(reason), _) => UndoPlan::None(reason),
                (None, UndoSetting::Optional) => UndoPlan::Capture(analysis, UndoMode::Optional),
                (None, _) => UndoPlan::Capture(analysis, UndoMode::Required),
            },
        };
        let guard = self.guard_of(&record, &script).await?;
        let (expected_rows, guard_source) = match &guard {
            Guard::ExpectedRows(n) => (Some(*n), Some(GuardSource::ExpectedRows)),
            Guard::Rehearsal { rows, .. } => (Some(*rows), Some(GuardSource::Rehearsal)),
            Guard::None => (None, None),
        };
        self.store
            .claim_execution(
                id,
                user,
                record.revision,
                expected_rows,
                guard_source,
                crate::expiry::approved_after(&target, timestamp::now()),
            )
            .await
            .map_err(|e| match e {
                // The primary key's wall: a second run of one request, ever.
                StoreError::AlreadyExists(m) => ApiError::conflict("not_approved", m),
                other => other.into(),
            })?;
        // The record (its analysis as a JSON tree) is not needed while the run goes on.
        drop(record);
        // Run detached from the HTTP request: a client that goes away must not abandon the run
        // between its statements.
        let state = self.clone();
        let user = user.clone();
        tokio::spawn(async move {
            let status = state.run_claimed(id, &user, &target, &script, &guard).await;
            // Its outcome is recorded (or it failed to be): its notifications may leave.
            state.wake_dispatcher();
            status
        })
        .await
        .map_err(ApiError::internal)?
    }

    async fn run_claimed(
        &self,
        id: i64,
        user: &User,
        target: &TargetConfig,
        script: &Script,
        guard: &Guard,
    ) -> Result<RequestStatus, ApiError> {
        let heartbeat = self.spawn_heartbeat(id);
        let store = self.store.clone();
        let plan = Plan {
            sql: &script.sql,
            statements: script.statements,
            changes_rows: Some(&script.changes_rows),
            expected_rows: guard.rows(),
            changed_tables: guard.tables(),
            limits: Limits {
                statement_timeout: target.policy.statement_timeout,
                lock_timeout: target.policy.lock_timeout,
            },
            implicit_commits: script.implicit_commits,
        };
        let undo = match &script.undo {
            UndoPlan::Capture(analysis, mode) => Some(Undo {
                analysis,
                mode: *mode,
                limit_rows: target.undo.limit_rows,
            }),
            UndoPlan::None(_) => None,
        };
        let images_store = self.store.clone();
        let report = countersign_executor::execute_with_undo(
            executor_target(target),
            plan,
            undo,
            async |identity: RunIdentity| store.record_identity(id, &identity).await,
            async |images: Images| crate::undo::store_pending(&images_store, id, images).await,
        )
        .await;
        let no_undo = match &script.undo {
            UndoPlan::None(reason) => Some(*reason),
            UndoPlan::Capture(..) => None,
        };
        heartbeat.abort();
        tracing::info!(request = id, outcome = %report.outcome, rows = report.rows_affected, "executed");
        let status = self
            .store
            .finish_execution(
                id,
                Some(&user.name),
                &result_of(&report, no_undo),
                AuditAction::ExecutionFinished,
            )
            .await?;
        Ok(status)
    }

    /// Beats for run `id` until aborted, so no other instance takes it for a dead one.
    fn spawn_heartbeat(&self, id: i64) -> tokio::task::JoinHandle<()> {
        let store = self.store.clone();
        let every = self.heartbeat_interval();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                if let Err(e) = store.execution_heartbeat(id).await {
                    tracing::warn!(request = id, error = %e, "cannot record the execution heartbeat");
                }
            }
        })
    }

    fn heartbeat_interval(&self) -> Duration {
        heartbeat_interval(self.config.server.reconcile_after)
    }

    /// Settles the runs left `executing` by a server that died: `executed` or `failed` as the
    /// target tells, `failed` with outcome `unknown` only where nothing can tell. Never runs
    /// anything again. At start-up (`startup`) every open run is looked at, however fresh its
    /// heartbeat: one whose transaction has ended is settled at once. Afterwards, only runs
    /// whose heartbeat has missed a beat. A transaction still in progress is settled only once
    /// its heartbeat is older than `reconcile_after` (its server is gone): its session on the
    /// target is ended first. Returns how many it settled.
    pub async fn reconcile_open(&self, startup: bool) -> Result<usize, StoreError> {
        let now = timestamp::now();
        let age = |run: &OpenExecution| {
            run.heartbeat_at.map_or(Duration::MAX, |at| {
                (now - at).try_into().unwrap_or_default()
            })
        };
        let missed_a_beat = self.heartbeat_interval().saturating_mul(2);
        let mut settled = 0;
        for run in self.store.open_executions().await? {
            let age = age(&run);
            if !startup && age <= missed_a_beat {
                continue;
            }
            let orphaned = age > self.config.server.reconcile_after;
            match self.settle(&run, orphaned).await {
                Ok(true) => settled += 1,
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(request = run.request_id, error = %e, "cannot reconcile yet")
                }
            }
        }
        Ok(settled)
    }

    /// Settles `run` if the target can tell (or, `orphaned`, nothing can). Returns whether it
    /// did.
    async fn settle(&self, run: &OpenExecution, orphaned: bool) -> Result<bool, SettleError> {
        let (outcome, note) = match (self.config.target(&run.target), run.identity.is_empty()) {
            // The identity is recorded before any statement runs: without one, nothing ran.
            (_, true) if orphaned => (ExecutionOutcome::RolledBack, NEVER_BEGAN),
            (_, true) => return Ok(false),
            (None, false) if orphaned => (ExecutionOutcome::Unknown, CANNOT_TELL),
            (None, false) => return Ok(false),
            (Some(target), false) => {
                let target = executor_target(target);
                let settlement =
                    countersign_executor::reconcile(target, &run.identity, orphaned).await?;
                match settlement {
                    Settlement::Committed => (ExecutionOutcome::Committed, INTERRUPTED),
                    Settlement::RolledBack => (ExecutionOutcome::RolledBack, INTERRUPTED),
                    Settlement::Unknown if orphaned => (ExecutionOutcome::Unknown, CANNOT_TELL),
                    Settlement::Unknown | Settlement::InProgress => return Ok(false),
                }
            }
        };
        let undo = match outcome {
            ExecutionOutcome::Committed => match self.store.pending_images(run.request_id).await? {
                0 => json!({
                    "available": false,
                    "rows": 0,
                    "reason": "the server stopped during the run, before its images were stored",
                }),
                // Stored before the commit, complete: the target says the commit happened.
                rows => json!({ "available": true, "rows": rows, "reason": null }),
            },
            ExecutionOutcome::Unknown => json!({
                "available": false,
                "rows": 0,
                "reason": "whether the run committed is unknown, so its images are not trusted",
            }),
            _ => json!({
                "available": false,
                "rows": 0,
                "reason": "the run did not commit: there is nothing to undo",
            }),
        };
        let result = ExecutionResult {
            outcome,
            finished_at: timestamp::now(),
            rows_affected: 0,
            statements: json!([]),
            tables: serde_json::Value::Null,
            error: Some(note.to_owned()),
            undo,
        };
        match self
            .store
            .finish_execution(
                run.request_id,
                None,
                &result,
                AuditAction::ExecutionReconciled,
            )
            .await
        {
            Ok(_) => {
                tracing::warn!(request = run.request_id, %outcome, "reconciled an interrupted execution");
                Ok(true)
            }
            // Its own server, or another instance, settled it first: nothing left to do.
            Err(StoreError::Conflict(_)) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Reconciles at once (start-up), then every [`RECONCILE_TICK`], for as long as the server
    /// runs. A tick asks the store only; the target is asked about runs that missed a beat.
    pub fn spawn_reconciler(&self) -> tokio::task::JoinHandle<()> {
        let state = self.clone();
        tokio::spawn(async move {
            let mut startup = true;
            loop {
                match state.reconcile_open(startup).await {
                    Ok(settled) => {
                        startup = false;
                        if settled > 0 {
                            state.wake_dispatcher();
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "reconciliation failed; will retry")
                    }
                }
                tokio::time::sleep(RECONCILE_TICK).await;
            }
        })
    }
}

/// Why a run could not be settled this time (the reconciler tries again).
#[derive(Debug, thiserror::Error)]
pub enum SettleError {
    #[error(transparent)]
    Target(#[from] countersign_executor::ReconcileError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How often the reconciler looks for runs whose heartbeat stopped.
const RECONCILE_TICK: Duration = Duration::from_millis(500);

/// The approved revision as the executor runs it.
struct Script {
    /// The approved text, byte for byte.
    sql: String,
    /// How many statements the analysis saw in it.
    statements: usize,
    /// Per statement, whether its reported count is of rows it changed.
    changes_rows: Vec<bool>,
    /// MySQL: the script is DDL, whose statements commit one by one (run without XA).
    implicit_commits: bool,
    /// Whether the run captures images, and how.
    undo: UndoPlan,
}

/// Whether a run captures images for undo.
enum UndoPlan {
    /// With the revision's analysis, required or optional.
    Capture(Analysis, UndoMode),
    /// Not at all, and why.
    None(&'static str),
}

/// How often a live run beats: a fifth of `reconcile_after` (1 s by default), between 200 ms
/// and 5 s.
fn heartbeat_interval(reconcile_after: Duration) -> Duration {
    (reconcile_after / 5).clamp(Duration::from_millis(200), Duration::from_secs(5))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_beats_several_times_before_it_counts_as_orphaned() {
        for after in [1, 5, 10, 30, 600] {
            let after = Duration::from_secs(after);
            let every = heartbeat_interval(after);
            assert!(every.saturating_mul(2) < after, "{after:?}");
        }
        assert_eq!(
            heartbeat_interval(Duration::from_secs(5)),
            Duration::from_secs(1)
        );
    }
}
