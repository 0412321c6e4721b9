//! What the outside sees of a request (docs/api.md): the JSON shapes of the API, which the pages
//! render too. Built from the store's records; never carries a connection URL.

use countersign_core::policy::{self, ApprovalState, Policy};
use countersign_core::request::{GuardSource, RehearsalStatus, RequestStatus, Review};
use countersign_core::timestamp_serde;
use countersign_store::{
    ExecutionRecord, RehearsalRecord, RequestRecord, RequestSummary, RevisionRecord,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

/// A request with everything about it: `GET /api/v1/requests/{id}`.
#[derive(Debug, Serialize)]
pub struct RequestView {
    pub id: i64,
    pub title: String,
    pub intent: String,
    pub sql: String,
    pub sql_sha256: String,
    pub target: String,
    pub author: String,
    pub reviewers: Vec<String>,
    pub expected_rows: Option<i64>,
    pub status: RequestStatus,
    pub revision: i64,
    #[serde(with = "timestamp_serde")]
    pub created_at: OffsetDateTime,
    #[serde(with = "timestamp_serde")]
    pub updated_at: OffsetDateTime,
    /// The current revision's analysis.
    pub analysis: Value,
    /// Approvals on the current revision and how many the policy needs for its risk.
    pub approvals: Approvals,
    /// Every review of every revision; `current` marks those that count.
    pub reviews: Vec<ReviewView>,
    pub revisions: Vec<RevisionView>,
    pub execution: Option<ExecutionView>,
    /// The latest rehearsal of the current revision, if any.
    pub rehearsal: Option<RehearsalView>,
    /// The current revision was submitted to run without undo ("This change cannot be
    /// undone").
    pub without_undo: bool,
    /// `{id}` of the request whose execution this one reverts, or `null`.
    pub reverts: Option<RequestRef>,
    /// `[{id}]`: the requests that revert this one's execution.
    pub reverted_by: Vec<RequestRef>,
    /// The discussion, oldest first: `[{id, author, at, text}]`.
    pub comments: Vec<CommentView>,
}

/// A comment of a request's discussion.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CommentView {
    pub id: i64,
    pub author: String,
    #[serde(with = "timestamp_serde")]
    pub at: OffsetDateTime,
    pub text: String,
}

impl From<countersign_store::CommentRecord> for CommentView {
    fn from(c: countersign_store::CommentRecord) -> CommentView {
        CommentView {
            id: c.id,
            author: c.author,
            at: c.at,
            text: c.text,
        }
    }
}

/// A link to another request.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct RequestRef {
    pub id: i64,
}

/// Whether an execution can be undone: `{available, rows, reason}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct UndoView {
    pub available: bool,
    pub rows: i64,
    pub reason: Option<String>,
}

/// A rehearsal as the API shows it (docs/api.md, "Rehearsal").
#[derive(Debug, Serialize)]
pub struct RehearsalView {
    pub id: i64,
    pub revision: i64,
    pub status: RehearsalStatus,
    /// The target it ran on: the request's own, or the copy it is rehearsed on.
    pub on_target: String,
    /// Who started it; `null`: the system, after a submit or revise.
    pub requested_by: Option<String>,
    #[serde(with = "timestamp_serde")]
    pub started_at: OffsetDateTime,
    #[serde(with = "timestamp_serde::option")]
    pub finished_at: Option<OffsetDateTime>,
    /// Every row its transaction changed, as the database counted them; `null` unless done.
    pub rows_affected: Option<i64>,
    pub tables: Vec<TableChangesView>,
    /// Each statement run, then the one skipped if any: `{index, summary, rows_affected,
    /// skipped, sample}`.
    pub statements: Vec<Value>,
    pub error: Option<String>,
    /// Whether the run could be undone, as the rehearsal found (`null` while running or when
    /// it could not tell).
    pub undo_possible: Option<bool>,
    /// Why not; `null` when it could.
    pub undo_reason: Option<String>,
}

impl From<RehearsalRecord> for RehearsalView {
    fn from(r: RehearsalRecord) -> RehearsalView {
        let tables = serde_json::from_value(r.result["tables"].clone()).unwrap_or_default();
        let statements = match &r.result["statements"] {
            Value::Array(all) => all.clone(),
            _ => Vec::new(),
        };
        RehearsalView {
            id: r.id,
            revision: r.revision,
            status: r.status,
            on_target: r.on_target,
            requested_by: r.requested_by,
            started_at: r.started_at,
            finished_at: r.finished_at,
            rows_affected: r.rows_affected,
            tables,
            statements,
            error: r.error,
            undo_possible: r.result["undo_possible"].as_bool(),
            undo_reason: r.result["undo_reason"].as_str().map(str::to_owned),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Approvals {
    pub have: u32,
    pub need: u32,
}

#[derive(Debug, Serialize)]
pub struct ReviewView {
    #[serde(flatten)]
    pub review: Review,
    /// Whether the review is of the current revision (earlier ones are void).
    pub current: bool,
}

#[derive(Debug, Serialize)]
pub struct RevisionView {
    pub revision: i64,
    pub intent: String,
    pub sql: String,
    pub sql_sha256: String,
    pub expected_rows: Option<i64>,
    pub reviewers: Vec<String>,
    pub risk: countersign_core::policy::RiskLevel,
    #[serde(with = "timestamp_serde")]
    pub created_at: OffsetDateTime,
    pub without_undo: bool,
}

#[derive(Debug, Serialize)]
pub struct ExecutionView {
    pub outcome: Option<countersign_core::request::ExecutionOutcome>,
    pub revision: i64,
    pub triggered_by: String,
    #[serde(with = "timestamp_serde")]
    pub started_at: OffsetDateTime,
    #[serde(with = "timestamp_serde::option")]
    pub finished_at: Option<OffsetDateTime>,
    pub duration_ms: Option<i64>,
    pub expected_rows: Option<i64>,
    /// The count the guard compared (docs/api.md).
    pub rows_affected: Option<i64>,
    pub statements: Value,
    /// What the database itself says the run's transaction changed, per table.
    pub tables: Vec<TableChangesView>,
    /// What the guard compared against: `expected_rows`, `rehearsal`, or `null` (no guard).
    pub guard_source: Option<GuardSource>,
    pub error: Option<String>,
    /// Whether the run can be undone; `null` while it runs.
    pub undo: Option<UndoView>,
}

/// The rows a run changed in one table, as the database counted them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TableChangesView {
    /// `schema.table`; `*` where the database counts per session, not per table (MySQL).
    pub table: String,
    pub inserted: u64,
    pub updated: u64,
    pub deleted: u64,
}

impl From<&countersign_executor::TableChanges> for TableChangesView {
    fn from(t: &countersign_executor::TableChanges) -> TableChangesView {
        TableChangesView {
            table: t.table.clone(),
            inserted: t.inserted,
            updated: t.updated,
            deleted: t.deleted,
        }
    }
}

/// What the database said a transaction changed, per table, as the store keeps it.
pub fn tables_json(tables: &[countersign_executor::TableChanges]) -> Value {
    serde_json::json!(
        tables
            .iter()
            .map(TableChangesView::from)
            .collect::<Vec<_>>()
    )
}

impl TableChangesView {
    /// The table as a person reads it.
    pub fn label(&self) -> &str {
        match self.table.as_str() {
            "*" => "all tables (MySQL/MariaDB count per session, not per table)",
            name => name,
        }
    }
}

impl RequestView {
    pub fn new(mut record: RequestRecord, policy: &Policy) -> RequestView {
        // The current revision's analysis moves into the view (no revision view shows it): a
        // long script's analysis is large, and a copy of it per request read adds up.
        let analysis = record
            .revisions
            .last_mut()
            .map(|r| std::mem::take(&mut r.analysis))
            .unwrap_or_default();
        let current = record.current().clone();
        let state = policy::approval_state(
            policy,
            current.risk,
            record.revision,
            &current.sql_sha256,
            &current.reviewers,
            &record.reviews,
        );
        let need = policy::required_approvals(policy, current.risk);
        let have = match state {
            ApprovalState::Approved => need,
            ApprovalState::Pending { have, .. } => have,
            ApprovalState::Rejected { .. } => 0,
        };
        let revision = record.revision;
        let without_undo = current.without_undo;
        RequestView {
            id: record.id,
            title: record.title,
            intent: current.intent,
            sql: current.sql,
            sql_sha256: current.sql_sha256,
            target: record.target,
            author: record.author,
            reviewers: current.reviewers,
            expected_rows: current.expected_rows,
            status: record.status,
            revision,
            created_at: record.created_at,
            updated_at: record.updated_at,
            analysis,
            approvals: Approvals { have, need },
            reviews: record
                .reviews
                .into_iter()
                .map(|review| ReviewView {
                    current: review.revision == revision,
                    review,
                })
                .collect(),
            revisions: record
                .revisions
                .into_iter()
                .map(RevisionView::from)
                .collect(),
            execution: record.execution.map(ExecutionView::from),
            rehearsal: None,
            without_undo,
            reverts: record.reverts.map(|id| RequestRef { id }),
            reverted_by: record
                .reverted_by
                .into_iter()
                .map(|id| RequestRef { id })
                .collect(),
            comments: Vec::new(),
        }
    }
}

impl From<RevisionRecord> for RevisionView {
    fn from(r: RevisionRecord) -> RevisionView {
        RevisionView {
            revision: r.revision,
            intent: r.intent,
            sql: r.sql,
            sql_sha256: r.sql_sha256,
            expected_rows: r.expected_rows,
            reviewers: r.reviewers,
            risk: r.risk,
            created_at: r.created_at,
            without_undo: r.without_undo,
        }
    }
}

impl From<ExecutionRecord> for ExecutionView {
    fn from(e: ExecutionRecord) -> ExecutionView {
        let duration_ms = e
            .finished_at
            .map(|f| i64::try_from((f - e.started_at).whole_milliseconds()).unwrap_or(i64::MAX));
        ExecutionView {
            outcome: e.outcome,
            revision: e.revision,
            triggered_by: e.triggered_by,
            started_at: e.started_at,
            finished_at: e.finished_at,
            duration_ms,
            expected_rows: e.expected_rows,
            rows_affected: e.rows_affected,
            statements: e.statements,
            tables: serde_json::from_value(e.tables).unwrap_or_default(),
            guard_source: e.guard_source,
            error: e.error,
            undo: serde_json::from_value(e.undo).ok(),
        }
    }
}

/// A line of a list, as the dashboard shows it. `GET /api/v1/requests` answers the same fields,
/// written by the store (`Store::list_requests_json`; the store's tests hold the two equal).
#[derive(Debug, Serialize)]
pub struct SummaryView {
    pub id: i64,
    pub title: String,
    pub target: String,
    pub author: String,
    pub status: RequestStatus,
    pub revision: i64,
    pub risk: countersign_core::policy::RiskLevel,
    #[serde(with = "timestamp_serde")]
    pub created_at: OffsetDateTime,
    #[serde(with = "timestamp_serde")]
    pub updated_at: OffsetDateTime,
}

impl From<RequestSummary> for SummaryView {
    fn from(s: RequestSummary) -> SummaryView {
        SummaryView {
            id: s.id,
            title: s.title,
            target: s.target,
            author: s.author,
            status: s.status,
            revision: s.revision,
            risk: s.risk,
            created_at: s.created_at,
            updated_at: s.updated_at,
        }
    }
}
