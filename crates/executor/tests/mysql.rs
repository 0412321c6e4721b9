//! The executor on a real MySQL/MariaDB server (`COUNTERSIGN_TEST_MYSQL_URL`).

mod common;

use common::{Db, MYSQL_ENV, ignore_txid, plan, scenarios};
use countersign_executor::{
    Driver, ExecutionOutcome, Failure, Plan, RunIdentity, Settlement, Step, execute, reconcile,
};

/// Skips the test (returning from it) without a MySQL/MariaDB server.
macro_rules! mysql {
    () => {
        match Db::mysql().await {
            Some(db) => db,
            None => return,
        }
    };
}

#[tokio::test]
async fn commits_and_counts_rows_per_statement() {
    let mut db = mysql!();
    scenarios::commits_and_counts_rows_per_statement(&mut db).await;
    db.clean_up().await;
}

#[tokio::test]
async fn rolls_back_the_whole_script_when_a_statement_fails() {
    let mut db = mysql!();
    scenarios::rolls_back_the_whole_script_when_a_statement_fails(&mut db).await;
    db.clean_up().await;
}

#[tokio::test]
async fn the_guard_rolls_back_a_different_total() {
    let mut db = mysql!();
    scenarios::the_guard_rolls_back_a_different_total(&mut db).await;
    db.clean_up().await;
}

#[tokio::test]
async fn the_guard_lets_the_expected_total_commit() {
    let mut db = mysql!();
    scenarios::the_guard_lets_the_expected_total_commit(&mut db).await;
    db.clean_up().await;
}

#[tokio::test]
async fn records_no_txid_before_anything_runs() {
    let mut db = mysql!();
    scenarios::records_the_txid_before_anything_runs(&mut db).await;
    db.clean_up().await;
}

#[tokio::test]
async fn a_failing_record_txid_rolls_back() {
    let mut db = mysql!();
    scenarios::a_failing_record_txid_rolls_back(&mut db).await;
    db.clean_up().await;
}

#[tokio::test]
async fn sleep_times_out_at_the_statement_timeout() {
    let mut db = mysql!();
    scenarios::a_slow_statement_times_out(&mut db, "SELECT SLEEP(5)").await;
    db.clean_up().await;
}

#[tokio::test]
async fn a_slow_update_times_out_at_the_statement_timeout() {
    let mut db = mysql!();
    scenarios::a_slow_statement_times_out(
        &mut db,
        "UPDATE {t} SET balance = SLEEP(5) WHERE id = 2",
    )
    .await;
    db.clean_up().await;
}

#[tokio::test]
async fn a_row_lock_times_out_at_the_lock_timeout() {
    let mut db = mysql!();
    scenarios::a_lock_wait_times_out(&mut db, 1_000, Step::Statement(1)).await;
    db.clean_up().await;
}

/// sqlx would add `PIPES_AS_CONCAT` to the SQL mode: `1 || 0` would be `'10'`, not `1`.
#[tokio::test]
async fn the_server_sql_mode_is_kept() {
    let mut db = mysql!();
    let statements = db.statements(&["UPDATE {t} SET balance = (1 || 0) WHERE id = 1"]);
    let report = execute(db.target(), plan(&statements), ignore_txid).await;
    assert_eq!(report.outcome, ExecutionOutcome::Committed, "{report:?}");
    assert_eq!(db.balance(1).await, 1, "|| is the server's logical OR");
    db.clean_up().await;
}

/// An `UPDATE` counts the rows it matched, also those it left as they were.
#[tokio::test]
async fn updates_count_matched_rows() {
    let db = mysql!();
    let statements = db.statements(&["UPDATE {t} SET balance = 0 WHERE id <= 4"]);
    let report = execute(db.target(), plan(&statements), ignore_txid).await;
    assert_eq!(report.rows_affected, 4, "{report:?}");
    db.clean_up().await;
}

#[tokio::test]
async fn a_duplicate_key_reports_the_error_number() {
    let db = mysql!();
    let statements = db.statements(&["INSERT INTO {t} (id, balance) VALUES (1, 0)"]);
    let report = execute(db.target(), plan(&statements), ignore_txid).await;
    let Some(Failure::Statement { code, .. }) = &report.error else {
        panic!("expected a statement failure: {report:?}");
    };
    assert_eq!(code.as_deref(), Some("1062"));
    db.clean_up().await;
}

#[tokio::test]
async fn reconcile_reads_the_marker_of_a_committed_and_a_rolled_back_run() {
    let db = mysql!();
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
    db.clean_up().await;
}

#[tokio::test]
async fn a_wrong_port_is_a_connection_error_that_leaks_nothing() {
    if std::env::var(MYSQL_ENV).is_err() {
        println!("skipped: {MYSQL_ENV} is not set");
        return;
    }
    let url = "mysql://root:Sup3r%40Secret@127.0.0.1:1/test";
    scenarios::a_connection_failure_leaks_nothing(
        Driver::Mysql,
        url,
        &["Sup3r", "Sup3r%40Secret", "Sup3r@Secret", "127.0.0.1:1"],
    )
    .await;
}

/// The server's "Access denied for user 'u'@'host'" names the user: it must not survive.
#[tokio::test]
async fn a_wrong_password_is_refused_without_naming_the_user() {
    let Ok(server) = std::env::var(MYSQL_ENV) else {
        println!("skipped: {MYSQL_ENV} is not set");
        return;
    };
    let Some((_, host_and_db)) = server.split_once('@') else {
        panic!("{MYSQL_ENV} must name a user (user@host)");
    };
    let url = format!("mysql://cs_nobody_here:Sup3rSecret@{host_and_db}");
    scenarios::a_connection_failure_leaks_nothing(
        Driver::Mysql,
        &url,
        &["cs_nobody_here", "Sup3rSecret"],
    )
    .await;
}
