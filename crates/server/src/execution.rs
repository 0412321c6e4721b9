//! Execution as the server runs it: the claim, the run on the target (through the executor, with
//! the URL only the server knows), the result, and the reconciliation of runs a crash cut short.

use std::time::Duration;

use countersign_analyzer::Analysis;
use countersign_core::audit::AuditAction;
use countersign_core::lifecycle::{self, Action};
use countersign_core::permission;
use countersign_core::request::{ExecutionOutcome, RequestStatus};
use countersign_core::timestamp;
use countersign_core::user::User;
use countersign_executor::{Limits, Plan, Report, Target};
use countersign_store::{ExecutionResult, StaleExecution, StoreError};
use serde_json::json;

use crate::AppState;
use crate::config::{Driver, TargetConfig};
use crate::error::ApiError;

/// What the record of an interrupted run says about its outcome.
const INTERRUPTED: &str =
    "the server stopped while this ran; the outcome was established afterwards";

fn executor_target(target: &TargetConfig) -> Target<'_> {
    Target {
        driver: match target.driver {
            Driver::Postgres => countersign_executor::Driver::Postgres,
            Driver::Mysql => countersign_executor::Driver::Mysql,
            Driver::Sqlite => countersign_executor::Driver::Sqlite,
        },
        url: target.url.expose(),
    }
}

/// How the store records an executor's report.
fn result_of(report: &Report) -> ExecutionResult {
    let statements = report
        .statements
        .iter()
        .map(|s| json!({ "index": s.index, "rows_affected": s.rows_affected }))
        .collect::<Vec<_>>();
    ExecutionResult {
        outcome: report.outcome,
        finished_at: report.finished_at,
        rows_affected: i64::try_from(report.rows_affected).unwrap_or(i64::MAX),
        statements: json!(statements),
        error: report.error.as_ref().map(ToString::to_string),
    }
}

impl AppState {
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
        let analysis: Analysis =
            serde_json::from_value(current.analysis.clone()).map_err(ApiError::internal)?;
        let changes_rows: Vec<bool> = analysis
            .statements
            .iter()
            .map(|s| s.kind.changes_rows())
            .collect();
        let statements: Vec<String> = analysis.statements.into_iter().map(|s| s.sql).collect();
        let expected_rows = current.expected_rows;
        self.store
            .claim_execution(id, user, record.revision, expected_rows)
            .await
            .map_err(|e| match e {
                StoreError::Conflict(m) | StoreError::AlreadyExists(m) => {
                    ApiError::conflict("not_approved", m)
                }
                other => other.into(),
            })?;
        // Run detached from the HTTP request: a client that goes away must not abandon the run
        // between its statements.
        let state = self.clone();
        let user = user.clone();
        tokio::spawn(async move {
            state
                .run_claimed(
                    id,
                    &user,
                    &target,
                    &statements,
                    &changes_rows,
                    expected_rows,
                )
                .await
        })
        .await
        .map_err(ApiError::internal)?
    }

    async fn run_claimed(
        &self,
        id: i64,
        user: &User,
        target: &TargetConfig,
        statements: &[String],
        changes_rows: &[bool],
        expected_rows: Option<i64>,
    ) -> Result<RequestStatus, ApiError> {
        let heartbeat = self.spawn_heartbeat(id);
        let store = self.store.clone();
        let plan = Plan {
            statements,
            changes_rows: Some(changes_rows),
            expected_rows,
            limits: Limits {
                statement_timeout: target.policy.statement_timeout,
                lock_timeout: target.policy.lock_timeout,
            },
        };
        let report = countersign_executor::execute(
            executor_target(target),
            plan,
            async |txid: Option<String>| match txid {
                Some(txid) => store.record_txid(id, &txid).await,
                None => Ok(()),
            },
        )
        .await;
        heartbeat.abort();
        tracing::info!(request = id, outcome = %report.outcome, rows = report.rows_affected, "executed");
        let status = self
            .store
            .finish_execution(
                id,
                Some(&user.name),
                &result_of(&report),
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
        (self.config.server.reconcile_after / 4).max(Duration::from_millis(250))
    }

    /// Settles every run left `executing` by a server that died: committed or rolled back where
    /// the target can tell (PostgreSQL), else `failed` with outcome `unknown`. Never runs
    /// anything again. Returns how many it settled.
    pub async fn reconcile_stale(&self) -> Result<usize, ApiError> {
        let stale_before = timestamp::now()
            - time::Duration::try_from(self.config.server.reconcile_after)
                .unwrap_or(time::Duration::MAX);
        let stale = self.store.stale_executions(stale_before).await?;
        let mut settled = 0;
        for run in stale {
            match self.settle(&run).await {
                Ok(()) => settled += 1,
                Err(e) => {
                    tracing::warn!(request = run.request_id, error = %e.message, "cannot reconcile yet")
                }
            }
        }
        Ok(settled)
    }

    async fn settle(&self, run: &StaleExecution) -> Result<(), ApiError> {
        let outcome = match self.config.target(&run.target) {
            Some(target) => {
                match countersign_executor::reconcile(executor_target(target), run.txid.as_deref())
                    .await
                {
                    Ok(outcome) => outcome,
                    Err(e) => {
                        tracing::warn!(request = run.request_id, error = %e, "target cannot tell; outcome unknown");
                        ExecutionOutcome::Unknown
                    }
                }
            }
            None => ExecutionOutcome::Unknown,
        };
        let result = ExecutionResult {
            outcome,
            finished_at: timestamp::now(),
            rows_affected: 0,
            statements: json!([]),
            error: Some(INTERRUPTED.to_owned()),
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
            // Another instance settled it first: nothing left to do.
            Ok(_) | Err(StoreError::Conflict(_)) => {}
            Err(e) => return Err(e.into()),
        }
        tracing::warn!(request = run.request_id, %outcome, "reconciled an interrupted execution");
        Ok(())
    }

    /// Reconciles now and then every `reconcile_after`, for as long as the server runs.
    pub fn spawn_reconciler(&self) -> tokio::task::JoinHandle<()> {
        let state = self.clone();
        tokio::spawn(async move {
            loop {
                if let Err(e) = state.reconcile_stale().await {
                    tracing::warn!(error = %e.message, "reconciliation failed; will retry");
                }
                tokio::time::sleep(state.config.server.reconcile_after).await;
            }
        })
    }
}
