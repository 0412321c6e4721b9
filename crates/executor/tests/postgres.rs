//! The executor on a real PostgreSQL server (`COUNTERSIGN_TEST_POSTGRES_URL`).

mod common;

use std::convert::Infallible;

use common::{Db, POSTGRES_ENV, ignore_txid, plan, scenarios};
use countersign_executor::{
    Driver, ExecutionOutcome, Failure, Plan, ReconcileError, RunIdentity, Settlement, Step, Target,
    execute, reconcile,
};
use sqlx::AssertSqlSafe;

/// Skips the test (returning from it) without a PostgreSQL server.
macro_rules! postgres {
    () => {
        match Db::postgres().await {
            Some(db) => db,
            None => return,
        }
    };
}

#[tokio::test]
async fn commits_and_counts_rows_per_statement() {
    let mut db = postgres!();
    scenarios::commits_and_counts_rows_per_statement(&mut db).await;
    db.clean_up().await;
}

#[tokio::test]
async fn rolls_back_the_whole_script_when_a_statement_fails() {
    let mut db = postgres!();
    scenarios::rolls_back_the_whole_script_when_a_statement_fails(&mut db).await;
    db.clean_up().await;
}

#[tokio::test]
async fn the_guard_rolls_back_a_different_total() {
    let mut db = postgres!();
    scenarios::the_guard_rolls_back_a_different_total(&mut db).await;
    db.clean_up().await;
}

#[tokio::test]
async fn the_guard_lets_the_expected_total_commit() {
    let mut db = postgres!();
    scenarios::the_guard_lets_the_expected_total_commit(&mut db).await;
    db.clean_up().await;
}

#[tokio::test]
async fn records_the_txid_before_anything_runs() {
    let mut db = postgres!();
    scenarios::records_the_txid_before_anything_runs(&mut db).await;
    db.clean_up().await;
}

#[tokio::test]
async fn the_recorded_txid_is_the_open_transaction() {
    let mut db = postgres!();
    let statements = db.statements(&["UPDATE {t} SET balance = 1 WHERE id = 1"]);
    let url = db.url.clone();
    let target = Target {
        driver: Driver::Postgres,
        url: &url,
    };
    let mut status_while_recording = None;
    let report = execute(target, plan(&statements), async |identity: RunIdentity| {
        let txid = identity.txid.expect("a txid");
        let sql = format!("SELECT CASE txid_status({txid}) WHEN 'in progress' THEN 1 ELSE 0 END");
        status_while_recording = Some(db.scalar(&sql).await);
        Ok::<(), Infallible>(())
    })
    .await;
    assert_eq!(report.outcome, ExecutionOutcome::Committed, "{report:?}");
    assert_eq!(
        status_while_recording,
        Some(1),
        "in progress, not yet committed"
    );
    db.clean_up().await;
}

#[tokio::test]
async fn a_failing_record_txid_rolls_back() {
    let mut db = postgres!();
    scenarios::a_failing_record_txid_rolls_back(&mut db).await;
    db.clean_up().await;
}

#[tokio::test]
async fn pg_sleep_times_out_at_the_statement_timeout() {
    let mut db = postgres!();
    scenarios::a_slow_statement_times_out(&mut db, "SELECT pg_sleep(5)").await;
    db.clean_up().await;
}

#[tokio::test]
async fn a_row_lock_times_out_at_the_lock_timeout() {
    let mut db = postgres!();
    scenarios::a_lock_wait_times_out(&mut db, 300, Step::Statement(1)).await;
    db.clean_up().await;
}

#[tokio::test]
async fn the_limits_are_in_force_and_absent_ones_leave_the_defaults() {
    let mut db = postgres!();
    let limited = db.statements(&["UPDATE {t} SET balance = 1 WHERE id = 1 \
         AND current_setting('statement_timeout') = '1500ms' \
         AND current_setting('lock_timeout') = '250ms'"]);
    let limited = Plan {
        limits: common::limits(1_500, 250),
        ..plan(&limited)
    };
    let report = execute(db.target(), limited, ignore_txid).await;
    assert_eq!(report.rows_affected, 1, "the limits are set: {report:?}");

    let default_statement_timeout = db.text("SELECT current_setting('statement_timeout')").await;
    let unlimited = db.statements(&[&format!(
        "UPDATE {{t}} SET balance = 1 WHERE id = 2 \
         AND current_setting('statement_timeout') = '{default_statement_timeout}'"
    )]);
    let report = execute(db.target(), plan(&unlimited), ignore_txid).await;
    assert_eq!(report.rows_affected, 1, "the default stays: {report:?}");
    db.clean_up().await;
}

#[tokio::test]
async fn a_constraint_violation_reports_sqlstate_and_detail() {
    let db = postgres!();
    let statements = db.statements(&["INSERT INTO {t} (id, balance) VALUES (1, 0)"]);
    let report = execute(db.target(), plan(&statements), ignore_txid).await;
    let Some(Failure::Statement { code, message, .. }) = &report.error else {
        panic!("expected a statement failure: {report:?}");
    };
    assert_eq!(code.as_deref(), Some("23505"));
    assert!(message.contains("(id)=(1)"), "{message}");
    db.clean_up().await;
}

#[tokio::test]
async fn reconcile_finds_a_committed_run_committed() {
    let db = postgres!();
    let statements = db.statements(&["UPDATE {t} SET balance = 1 WHERE id = 1"]);
    let report = execute(db.target(), plan(&statements), ignore_txid).await;
    assert_eq!(report.outcome, ExecutionOutcome::Committed, "{report:?}");
    assert_eq!(
        reconcile(db.target(), &report.identity, false).await,
        Ok(Settlement::Committed)
    );
    db.clean_up().await;
}

#[tokio::test]
async fn reconcile_finds_a_rolled_back_run_aborted() {
    let db = postgres!();
    let statements = db.statements(&["UPDATE {t} SET balance = 1 WHERE id <= 2"]);
    let plan = Plan {
        expected_rows: Some(1),
        ..plan(&statements)
    };
    let report = execute(db.target(), plan, ignore_txid).await;
    assert_eq!(report.outcome, ExecutionOutcome::Guard, "{report:?}");
    assert_eq!(
        reconcile(db.target(), &report.identity, false).await,
        Ok(Settlement::RolledBack)
    );
    db.clean_up().await;
}

/// A transaction still in progress is not settled while its server may be alive; once the
/// caller knows it orphaned, its session is ended and the outcome read afterwards.
#[tokio::test]
async fn reconcile_ends_an_orphaned_transaction_and_reads_the_outcome() {
    let mut db = postgres!();
    let mut open = db.other_connection().await;
    sqlx::raw_sql(AssertSqlSafe(
        db.sql("BEGIN; UPDATE {t} SET balance = 9 WHERE id = 1"),
    ))
    .execute(&mut open)
    .await
    .expect("begin");
    let row: (String, String) =
        sqlx::query_as("SELECT txid_current()::text, pg_backend_pid()::text")
            .fetch_one(&mut open)
            .await
            .expect("a txid");
    let identity = RunIdentity {
        txid: Some(row.0),
        session: Some(row.1),
        marker: None,
    };
    assert_eq!(
        reconcile(db.target(), &identity, false).await,
        Ok(Settlement::InProgress),
        "a live run is left alone"
    );
    let started = std::time::Instant::now();
    assert_eq!(
        reconcile(db.target(), &identity, true).await,
        Ok(Settlement::RolledBack),
        "an orphaned one is ended, then read"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert_eq!(db.balance(1).await, 0, "its change never committed");
    drop(open);
    db.clean_up().await;
}

#[tokio::test]
async fn reconcile_refuses_what_is_not_a_txid_and_cannot_tell_without_one() {
    let db = postgres!();
    let forged = RunIdentity {
        txid: Some("12; DROP TABLE x".into()),
        ..RunIdentity::default()
    };
    assert_eq!(
        reconcile(db.target(), &forged, true).await,
        Err(ReconcileError::InvalidIdentity {
            what: "transaction id",
            value: "12; DROP TABLE x".into()
        })
    );
    assert_eq!(
        reconcile(db.target(), &RunIdentity::default(), true).await,
        Ok(Settlement::Unknown)
    );
    db.clean_up().await;
}

#[tokio::test]
async fn a_wrong_port_is_a_connection_error_that_leaks_nothing() {
    if std::env::var(POSTGRES_ENV).is_err() {
        println!("skipped: {POSTGRES_ENV} is not set");
        return;
    }
    let url = "postgres://postgres:Sup3r%2FSecret@127.0.0.1:1/test";
    scenarios::a_connection_failure_leaks_nothing(
        Driver::Postgres,
        url,
        &["Sup3r", "Sup3r%2FSecret", "Sup3r/Secret", "127.0.0.1:1"],
    )
    .await;
}

#[tokio::test]
async fn an_unknown_role_is_refused_without_naming_it() {
    let Ok(server) = std::env::var(POSTGRES_ENV) else {
        println!("skipped: {POSTGRES_ENV} is not set");
        return;
    };
    // Same server, another user: the server's message names the role.
    let Some((_, host_and_db)) = server.split_once('@') else {
        panic!("{POSTGRES_ENV} must name a user (user@host)");
    };
    let url = format!("postgres://cs_nobody_here:Sup3rSecret@{host_and_db}");
    scenarios::a_connection_failure_leaks_nothing(
        Driver::Postgres,
        &url,
        &["cs_nobody_here", "Sup3rSecret"],
    )
    .await;
}

#[tokio::test]
async fn a_select_does_not_count_toward_the_guard_when_the_plan_says_so() {
    let db = postgres!();
    let statements = db.statements(&[
        "UPDATE {t} SET balance = 1 WHERE id = 1",
        "SELECT * FROM {t}",
    ]);
    // Counted as PostgreSQL reports it, the SELECT's rows would break the guard…
    let naive = Plan {
        expected_rows: Some(1),
        ..plan(&statements)
    };
    let report = execute(db.target(), naive, ignore_txid).await;
    assert_eq!(report.outcome, ExecutionOutcome::Guard, "{report:?}");
    // …so the server says which statements change rows, and a SELECT counts 0.
    let flags = [true, false];
    let plan = Plan {
        expected_rows: Some(1),
        changes_rows: Some(&flags),
        ..plan(&statements)
    };
    let report = execute(db.target(), plan, ignore_txid).await;
    assert_eq!(report.outcome, ExecutionOutcome::Committed, "{report:?}");
    assert_eq!(report.rows_affected, 1);
    assert_eq!(report.statements[1].rows_affected, 0);
    db.clean_up().await;
}
