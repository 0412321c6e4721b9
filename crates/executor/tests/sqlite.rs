//! The executor on real SQLite files.

mod common;

use common::{Db, ignore_txid, plan, scenarios};
use countersign_executor::{
    Driver, ExecutionOutcome, Failure, Plan, RunIdentity, Settlement, Step, Target, execute,
    reconcile,
};

/// Counts forever: only an interrupt ends it.
const ENDLESS: &str = "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) \
                       SELECT COUNT(*) FROM n";

driver_tests!(Some(Db::sqlite().await);
    commits_and_counts_rows_per_statement,
    rolls_back_the_whole_script_when_a_statement_fails,
    the_guard_rolls_back_a_different_total,
    the_guard_lets_the_expected_total_commit,
    the_guard_refuses_a_table_the_rehearsal_did_not_change,
    records_the_txid_before_anything_runs,
    a_failing_record_txid_rolls_back,
);

#[tokio::test]
async fn an_endless_statement_is_interrupted_at_the_statement_timeout() {
    let mut db = Db::sqlite().await;
    scenarios::a_slow_statement_times_out(&mut db, ENDLESS).await;
}

#[tokio::test]
async fn a_held_write_lock_times_out_at_begin() {
    let mut db = Db::sqlite().await;
    scenarios::a_lock_wait_times_out(&mut db, 200, Step::Begin).await;
}

#[tokio::test]
async fn a_missing_database_file_is_a_connection_error_and_is_not_created() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("missing.db");
    let url = format!("sqlite://{}", path.display());
    scenarios::a_connection_failure_leaks_nothing(Driver::Sqlite, &url, &[]).await;
    assert!(!path.exists(), "the executor must not create a target");
}

#[tokio::test]
async fn query_options_in_the_url_are_accepted() {
    let db = Db::sqlite().await;
    let url = format!("{}?mode=rw", db.url);
    let statements = db.statements(&["UPDATE {t} SET balance = 1 WHERE id = 1"]);
    let target = Target {
        driver: Driver::Sqlite,
        url: &url,
    };
    let report = execute(target, plan(&statements), ignore_txid).await;
    assert_eq!(report.outcome, ExecutionOutcome::Committed, "{report:?}");
}

#[tokio::test]
async fn a_syntax_error_names_the_statement_and_its_code() {
    let mut db = Db::sqlite().await;
    let statements = db.statements(&["UPDATE {t} SET balance = 1", "UPDAT {t}"]);
    let report = execute(db.target(), plan(&statements), ignore_txid).await;
    let Some(Failure::Statement { index: 1, code, .. }) = &report.error else {
        panic!("expected statement 2 to fail: {report:?}");
    };
    assert_eq!(code.as_deref(), Some("1"), "SQLITE_ERROR");
    assert!(db.is_untouched().await);
}

#[tokio::test]
async fn reconcile_reads_the_marker_of_a_committed_and_a_rolled_back_run() {
    let db = Db::sqlite().await;
    let statements = db.statements(&["UPDATE {t} SET balance = 1 WHERE id = 1"]);
    let report = execute(db.target(), plan(&statements), ignore_txid).await;
    assert_eq!(report.outcome, ExecutionOutcome::Committed, "{report:?}");
    assert_eq!(
        reconcile(db.target(), &report.identity, false).await,
        Ok(Settlement::Committed)
    );
    let guarded = Plan {
        expected_rows: Some(5),
        ..plan(&statements)
    };
    let report = execute(db.target(), guarded, ignore_txid).await;
    assert_eq!(report.outcome, ExecutionOutcome::Guard, "{report:?}");
    assert_eq!(
        reconcile(db.target(), &report.identity, false).await,
        Ok(Settlement::RolledBack)
    );
    assert_eq!(
        reconcile(db.target(), &RunIdentity::default(), true).await,
        Ok(Settlement::Unknown)
    );
}

/// A `DELETE` without `WHERE` (which SQLite's update hook does not see) after a `SELECT` and
/// DDL that repeat nothing or the last count: each statement counts what it changed.
#[tokio::test]
async fn a_delete_of_every_row_after_a_select_and_ddl_counts_its_rows() {
    let db = Db::sqlite().await;
    let statements = db.statements(&[
        "UPDATE {t} SET balance = 1 WHERE id <= 3",
        "SELECT * FROM {t}",
        "CREATE INDEX {t}_balance ON {t} (balance)",
        "DELETE FROM {t}",
    ]);
    let plan = countersign_executor::Plan {
        expected_rows: Some(13),
        ..plan(&statements)
    };
    let report = execute(db.target(), plan, ignore_txid).await;
    let rows: Vec<u64> = report.statements.iter().map(|s| s.rows_affected).collect();
    assert_eq!(rows, [3, 0, 0, 10]);
    assert_eq!(report.outcome, ExecutionOutcome::Committed, "{report:?}");
}

/// SQLite repeats the last DML's count after DDL (and after a `SELECT` before sqlx 0.9.1); it
/// must count 0.
#[tokio::test]
async fn select_and_ddl_after_an_update_affect_no_rows() {
    let db = Db::sqlite().await;
    let statements = db.statements(&[
        "UPDATE {t} SET balance = 1 WHERE id <= 3",
        "SELECT * FROM {t}",
        "CREATE INDEX {t}_balance ON {t} (balance)",
        "UPDATE {t} SET balance = 2 WHERE id = 99",
    ]);
    let plan = countersign_executor::Plan {
        expected_rows: Some(3),
        ..plan(&statements)
    };
    let report = execute(db.target(), plan, ignore_txid).await;
    let rows: Vec<u64> = report.statements.iter().map(|s| s.rows_affected).collect();
    assert_eq!(rows, [3, 0, 0, 0]);
    assert_eq!(report.outcome, ExecutionOutcome::Committed, "{report:?}");
}
