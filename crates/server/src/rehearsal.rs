//! Rehearsals of a request's current revision (docs/api.md, "Rehearsal"): who may start one,
//! where it runs (the target itself or the copy its `rehearse` names), how many run at once,
//! and what is stored of it. The run itself is the executor's `rehearse`, always rolled back;
//! this module starts it off the HTTP request — one at a time per request, at most
//! `rehearsal_concurrency` at once per target, the rest waiting — and stores its result, the
//! samples already masked by the executor.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use countersign_analyzer::Analysis;
use countersign_core::permission;
use countersign_core::request::{RehearsalStatus, RequestStatus};
use countersign_core::timestamp;
use countersign_core::user::User;
use countersign_executor::{
    Limits, Rehearsal, RehearsalOptions, Sample, StatementRehearsal, Target, rehearse,
    rehearse_analyzed,
};
use countersign_store::{RehearsalResult, RequestRecord};
use serde_json::{Value, json};
use time::OffsetDateTime;
use tokio::sync::Semaphore;

use crate::AppState;
use crate::config::{Config, RehearseOn, TargetConfig, UndoSetting};
use crate::error::ApiError;
use crate::views::RequestView;

/// Why a rehearsal was not started.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RehearsalRefused {
    #[error("target {0:?} is not rehearsed (rehearse = \"off\")")]
    Off(String),
    #[error(
        "request #{0} is {1}; a rehearsal runs only while it is pending review, rejected or \
         approved"
    )]
    NotNow(i64, RequestStatus),
    #[error("a rehearsal of request #{0} is already running; wait for it to finish")]
    Running(i64),
}

/// The statuses in which a request may be rehearsed: while people still read it.
pub const fn rehearsable(status: RequestStatus) -> bool {
    matches!(
        status,
        RequestStatus::PendingReview | RequestStatus::Rejected | RequestStatus::Approved
    )
}

/// Whether request `id` on `target` may be rehearsed now: the target is rehearsed at all and
/// the request is still read by people.
fn check_rehearsable(
    target: &TargetConfig,
    id: i64,
    status: RequestStatus,
) -> Result<(), RehearsalRefused> {
    if target.rehearsal.on == RehearseOn::Off {
        return Err(RehearsalRefused::Off(target.name.clone()));
    }
    if !rehearsable(status) {
        return Err(RehearsalRefused::NotNow(id, status));
    }
    Ok(())
}

/// Whether `user` may start a rehearsal on `target` of a request by `author` naming
/// `reviewers` (`core::permission::may_rehearse`, which asks where it runs).
fn may_start(
    user: &User,
    target: &TargetConfig,
    author: &str,
    reviewers: &[String],
) -> Result<(), permission::Forbidden> {
    let on_itself = target.rehearsal.on == RehearseOn::Itself;
    permission::may_rehearse(user, author, reviewers, on_itself)
}

/// The places rehearsals take: one semaphore per target (`rehearsal_concurrency` permits)
/// and the requests with one under way.
#[derive(Debug, Default)]
pub struct RehearsalSlots {
    per_target: HashMap<String, Arc<Semaphore>>,
    running: Mutex<HashSet<i64>>,
}

impl RehearsalSlots {
    pub fn new(config: &Config) -> RehearsalSlots {
        RehearsalSlots {
            per_target: config
                .targets
                .iter()
                .map(|t| {
                    let permits = usize::try_from(t.rehearsal.concurrency).unwrap_or(1);
                    (t.name.clone(), Arc::new(Semaphore::new(permits)))
                })
                .collect(),
            running: Mutex::new(HashSet::new()),
        }
    }

    /// Marks request `id` as rehearsing; `None` when it already is.
    fn claim(self: &Arc<Self>, id: i64) -> Option<Claim> {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        running.insert(id).then(|| Claim {
            slots: self.clone(),
            id,
        })
    }
}

/// A request's place among the running rehearsals, given back when dropped (a panic too).
struct Claim {
    slots: Arc<RehearsalSlots>,
    id: i64,
}

impl Drop for Claim {
    fn drop(&mut self) {
        let mut running = self.slots.running.lock().unwrap_or_else(|e| e.into_inner());
        running.remove(&self.id);
    }
}

impl AppState {
    /// `POST /requests/{id}/rehearse` by `user`: starts a rehearsal of the current revision;
    /// returns its id. On a target rehearsed on itself only a named reviewer or an admin may.
    pub async fn rehearse(&self, id: i64, user: &User) -> Result<i64, ApiError> {
        let record = self.load_request(id).await?;
        let target = self.rehearsal_target(&record)?;
        may_start(user, target, &record.author, &record.current().reviewers)?;
        self.start_rehearsal(&record, Some(user)).await
    }

    /// Whether `user` may start a rehearsal of request `view` now (the page's "Rehearse"):
    /// the checks of [`Self::rehearse`], and none running.
    pub fn may_start_rehearsal(&self, user: &User, view: &RequestView) -> bool {
        let Some(target) = self.config.target(&view.target) else {
            return false;
        };
        check_rehearsable(target, view.id, view.status).is_ok()
            && view
                .rehearsal
                .as_ref()
                .is_none_or(|r| r.status != RehearsalStatus::Running)
            && may_start(user, target, &view.author, &view.reviewers).is_ok()
    }

    /// After a submit or a revise: a target rehearsed on a copy rehearses the new revision by
    /// itself (a target rehearsed on itself never does). Failures are logged, never returned:
    /// the submission stands.
    pub async fn rehearse_new_revision(&self, id: i64) {
        let started = async {
            let record = self.load_request(id).await?;
            let copy = self
                .config
                .target(&record.target)
                .is_some_and(|t| matches!(t.rehearsal.on, RehearseOn::Copy(_)));
            if copy {
                self.start_rehearsal(&record, None).await?;
            }
            Ok::<_, ApiError>(())
        };
        if let Err(e) = started.await {
            tracing::warn!(request = id, error = ?e.message, "could not start a rehearsal");
        }
    }

    /// The request's target, if it is rehearsed at all and the request may be now.
    fn rehearsal_target(&self, record: &RequestRecord) -> Result<&TargetConfig, ApiError> {
        let target = self.config.target(&record.target).ok_or_else(|| {
            ApiError::conflict(
                "target_unavailable",
                format!("target {:?} is no longer configured", record.target),
            )
        })?;
        check_rehearsable(target, record.id, record.status)?;
        Ok(target)
    }

    /// Records a rehearsal of the current revision as running and runs it in the background.
    async fn start_rehearsal(
        &self,
        record: &RequestRecord,
        user: Option<&User>,
    ) -> Result<i64, ApiError> {
        let target = self.rehearsal_target(record)?.clone();
        let on = match &target.rehearsal.on {
            RehearseOn::Copy(copy) => self.config.target(copy).cloned().ok_or_else(|| {
                ApiError::conflict(
                    "target_unavailable",
                    format!("the copy {copy:?} is no longer configured"),
                )
            })?,
            _ => target.clone(),
        };
        let claim = self
            .rehearsals
            .claim(record.id)
            .ok_or(RehearsalRefused::Running(record.id))?;
        let revision = record.current();
        // Another instance may be rehearsing it: the store says so.
        let latest = self
            .store
            .latest_rehearsal(record.id, revision.revision, None)
            .await?;
        if latest.is_some_and(|r| r.status == RehearsalStatus::Running) {
            return Err(RehearsalRefused::Running(record.id).into());
        }
        let rehearsal_id = self
            .store
            .start_rehearsal(record.id, revision.revision, &on.name, user)
            .await?;
        tracing::info!(request = record.id, rehearsal = rehearsal_id, on = ?on.name, "rehearsal started");
        let state = self.clone();
        let sql = revision.sql.clone();
        let analysis = revision.analysis.clone();
        // Undo is judged on the request's own target's settings, whichever copy it runs on.
        let no_undo = match (target.undo.setting, revision.without_undo) {
            (UndoSetting::Off, _) => Some("undo is off for this target"),
            (_, true) => Some("submitted without undo: this change cannot be undone"),
            _ => None,
        };
        let undo_limit_rows = no_undo.is_none().then_some(target.undo.limit_rows);
        let actor = user.map(|u| u.name.clone());
        let slot = self.rehearsals.per_target.get(&target.name).cloned();
        tokio::spawn(async move {
            let _claim = claim;
            // Waits for one of the target's places, no longer than a rehearsal may take: so a
            // rehearsal is over within twice its timeout (see `interrupted_before`).
            let _permit = match &slot {
                Some(slot) => {
                    let turn = tokio::time::timeout(
                        target.rehearsal.timeout,
                        slot.clone().acquire_owned(),
                    );
                    match turn.await {
                        Ok(permit) => permit.ok(),
                        Err(_) => {
                            let result = waited_too_long(target.rehearsal.timeout);
                            finish(&state, rehearsal_id, actor.as_deref(), &result).await;
                            return;
                        }
                    }
                }
                None => None,
            };
            let options = RehearsalOptions {
                timeout: target.rehearsal.timeout,
                samples: target.rehearsal.samples,
                mask_columns: &target.rehearsal.mask_columns,
                allow_functions: target.rehearsal.allow_functions,
                undo_limit_rows,
                ..RehearsalOptions::new(Limits {
                    statement_timeout: target.policy.statement_timeout,
                    lock_timeout: target.policy.lock_timeout,
                })
            };
            let on_target = Target {
                driver: on.driver,
                url: on.url.expose(),
            };
            // The revision's own analysis, as the reviewers saw it (a stored analysis that
            // no longer reads is analyzed again).
            let rehearsal = match serde_json::from_value::<Analysis>(analysis) {
                Ok(analysis) if analysis.dialect == on.driver.dialect() => {
                    rehearse_analyzed(on_target, &analysis, options).await
                }
                _ => rehearse(on_target, &sql, options).await,
            };
            finish(
                &state,
                rehearsal_id,
                actor.as_deref(),
                &result_of(&rehearsal, no_undo),
            )
            .await;
        });
        Ok(rehearsal_id)
    }

    /// Settles the rehearsals a stopped server left `running` as errors (their transactions
    /// ended with their connections): only those started before [`interrupted_before`], so
    /// none a live instance still runs.
    pub async fn settle_interrupted_rehearsals(&self) {
        let before = interrupted_before(&self.config);
        match self.store.settle_interrupted_rehearsals(before).await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(
                settled = n,
                "rehearsals a stopped server left running: error"
            ),
            Err(e) => tracing::error!(error = %e, "cannot settle interrupted rehearsals"),
        }
    }

    /// [`Self::settle_interrupted_rehearsals`] every minute (a server settles them once
    /// before it serves, too).
    pub fn spawn_rehearsal_settler(&self) -> tokio::task::JoinHandle<()> {
        let state = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(SETTLE_EVERY).await;
                state.settle_interrupted_rehearsals().await;
            }
        })
    }
}

/// Beyond twice the timeout: connecting is within the timeout, but the rollback, the ending of
/// a busy session from outside (at most 5 s) and the recording of the end come after it.
const SETTLE_MARGIN: Duration = Duration::from_secs(10);

/// How often rehearsals left running are looked for.
const SETTLE_EVERY: Duration = Duration::from_secs(60);

/// A rehearsal started before this is over on any live instance: it waits for its turn at
/// most its timeout, then runs at most its timeout, then ends within [`SETTLE_MARGIN`].
pub fn interrupted_before(config: &Config) -> OffsetDateTime {
    let longest = config
        .targets
        .iter()
        .map(|t| t.rehearsal.timeout)
        .max()
        .unwrap_or_default();
    timestamp::now() - (longest * 2 + SETTLE_MARGIN)
}

/// The result of a rehearsal that never got a turn.
fn waited_too_long(limit: Duration) -> RehearsalResult {
    RehearsalResult {
        status: RehearsalStatus::Timeout,
        finished_at: timestamp::now(),
        rows_affected: None,
        result: json!({ "tables": [], "statements": [] }),
        error: Some(format!(
            "waited {limit:?} for a turn (the target's other rehearsals took every place); \
             nothing ran"
        )),
    }
}

/// Stores how rehearsal `id` ended (logged; a rehearsal settled meanwhile stays as it is).
async fn finish(state: &AppState, id: i64, actor: Option<&str>, result: &RehearsalResult) {
    match state.store.finish_rehearsal(id, actor, result).await {
        Ok(_) => tracing::info!(
            rehearsal = id,
            status = %result.status,
            rows = ?result.rows_affected,
            "rehearsal finished"
        ),
        Err(e) => tracing::error!(rehearsal = id, error = %e, "cannot store a rehearsal's end"),
    }
}

/// How the store records what a rehearsal found: `{tables, statements, undo_possible,
/// undo_reason}`, the statements as the API shows them. `no_undo`: why the run will have no
/// undo whatever the rehearsal finds.
fn result_of(rehearsal: &Rehearsal, no_undo: Option<&str>) -> RehearsalResult {
    let tables = crate::views::tables_json(&rehearsal.tables);
    let statements: Vec<Value> = rehearsal.statements.iter().map(statement_json).collect();
    let (undo_possible, undo_reason) = match (no_undo, &rehearsal.undo) {
        (Some(reason), _) => (Some(false), Some(reason.to_owned())),
        (None, Some(check)) => (Some(check.possible), check.reason.clone()),
        (None, None) => (None, None),
    };
    RehearsalResult {
        status: rehearsal.status,
        finished_at: rehearsal.finished_at,
        rows_affected: rehearsal
            .error
            .is_none()
            .then(|| i64::try_from(rehearsal.rows_affected).unwrap_or(i64::MAX)),
        result: json!({
            "tables": tables,
            "statements": statements,
            "undo_possible": undo_possible,
            "undo_reason": undo_reason,
        }),
        error: rehearsal.error.as_ref().map(ToString::to_string),
    }
}

fn statement_json(s: &StatementRehearsal) -> Value {
    json!({
        "index": s.index,
        "summary": s.summary,
        "rows_affected": s.rows_affected,
        "skipped": s.skipped.as_ref().map(|k| match &k.detail {
            Some(detail) => format!("{}: {detail}", k.reason.words()),
            None => k.reason.words().to_owned(),
        }),
        "sample": s.sample.as_ref().map(sample_json),
    })
}

fn sample_json(sample: &Sample) -> Value {
    json!({
        "table": sample.table,
        "columns": sample.columns,
        "before": sample.before,
        "after": sample.after,
        "masked": sample.masked,
    })
}
