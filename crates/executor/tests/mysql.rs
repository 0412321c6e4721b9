//! The executor on a real MySQL/MariaDB server (`COUNTERSIGN_TEST_MYSQL_URL`).

mod common;

use common::{Db, MYSQL_ENV, ignore_txid, plan, scenarios};
use countersign_executor::{
    Driver, ExecutionOutcome, Failure, Plan, RunIdentity, Settlement, Step, TableChanges, execute,
    reconcile,
};
use sqlx::AssertSqlSafe;

/// Skips the test (returning from it) without a MySQL/MariaDB server.
macro_rules! mysql {
    () => {
        match Db::mysql().await {
            Some(db) => db,
            None => return,
        }
    };
}

driver_tests!(Db::mysql().await;
    commits_and_counts_rows_per_statement,
    rolls_back_the_whole_script_when_a_statement_fails,
    the_guard_rolls_back_a_different_total,
    the_guard_lets_the_expected_total_commit,
    the_guard_refuses_a_table_the_rehearsal_did_not_change,
    records_the_txid_before_anything_runs,
    a_failing_record_txid_rolls_back,
);

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

// --- What runs is what was approved, and the guard counts what the database changed -------

fn guarded<'a>(script: &'a common::Script, kinds: &'a [bool], expected: i64) -> Plan<'a> {
    Plan {
        expected_rows: Some(expected),
        changes_rows: Some(kinds),
        ..plan(script)
    }
}

/// MariaDB runs `/*M! … */` as code: the `WHERE` the server reads matches every row. The
/// statement's own count and the session's counters say so, and the guard rolls back.
#[tokio::test]
async fn an_executable_comment_is_run_and_counted_as_the_server_reads_it() {
    let mut db = mysql!();
    let script = db.script(
        "UPDATE {t} SET balance = 3 WHERE /*M! id > 0 OR */ id = 1",
        1,
    );
    let report = execute(db.target(), guarded(&script, &[true], 1), ignore_txid).await;
    assert_eq!(report.outcome, ExecutionOutcome::Guard, "{report:?}");
    assert_eq!(report.rows_affected, 10);
    assert_eq!(
        report.tables,
        [TableChanges {
            table: "*".into(),
            inserted: 0,
            updated: 10,
            deleted: 0
        }]
    );
    assert!(db.is_untouched().await);
    db.clean_up().await;
}

/// The text of an executable comment reaches the server whole (it was once cut at the
/// analyzer's idea of a statement's end), and the server runs it.
#[tokio::test]
async fn a_versioned_executable_comment_reaches_the_server_whole() {
    let mut db = mysql!();
    let script = db.script(
        "UPDATE {t} SET balance = 4 WHERE id = 4 /*!50000 AND 1=1 */",
        1,
    );
    let report = execute(db.target(), guarded(&script, &[true], 1), ignore_txid).await;
    assert_eq!(report.outcome, ExecutionOutcome::Committed, "{report:?}");
    assert_eq!(db.balance(4).await, 4);
    db.clean_up().await;
}

/// `SET sql_mode = 'NO_BACKSLASH_ESCAPES'` makes the server end the string where the analyzer
/// did not, and run an UPDATE the analyzer never saw: the changed mode, the extra statement
/// and the counted rows each roll it back.
#[tokio::test]
async fn a_script_that_changes_how_strings_are_read_is_rolled_back() {
    let mut db = mysql!();
    let script = db.script(
        "SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES'; SELECT 'a\\'; \
         UPDATE {t} SET balance = 0x6e WHERE id > 0; -- '",
        2,
    );
    let report = execute(
        db.target(),
        guarded(&script, &[false, false], 0),
        ignore_txid,
    )
    .await;
    assert_eq!(report.outcome, ExecutionOutcome::Guard, "{report:?}");
    assert!(
        matches!(report.error, Some(Failure::Lexing { .. })),
        "{report:?}"
    );
    assert!(db.is_untouched().await);
    db.clean_up().await;
}

/// Stored functions and triggers that write are in the session's counters.
#[tokio::test]
async fn functions_and_triggers_that_write_are_counted() {
    let mut db = mysql!();
    db.exec("CREATE TABLE {t}_log (id BIGINT)").await;
    db.exec(
        "CREATE TRIGGER {t}_logged AFTER UPDATE ON {t} FOR EACH ROW INSERT INTO {t}_log VALUES (NEW.id)",
    )
    .await;
    let script = db.script("UPDATE {t} SET balance = 1 WHERE id = 1", 1);
    let report = execute(db.target(), guarded(&script, &[true], 1), ignore_txid).await;
    assert_eq!(report.outcome, ExecutionOutcome::Guard, "{report:?}");
    assert_eq!(report.rows_affected, 2, "the trigger's row counts");
    assert!(db.is_untouched().await);
    assert_eq!(db.scalar("SELECT COUNT(*) FROM {t}_log").await, 0);

    db.exec(
        "CREATE FUNCTION {t}_touch() RETURNS INT MODIFIES SQL DATA \
         BEGIN UPDATE {t} SET balance = balance + 1 WHERE id > 5; RETURN 1; END",
    )
    .await;
    let script = db.script("SELECT {t}_touch()", 1);
    let report = execute(db.target(), guarded(&script, &[false], 0), ignore_txid).await;
    assert_eq!(report.outcome, ExecutionOutcome::Guard, "{report:?}");
    assert_eq!(
        report.rows_affected, 10,
        "5 updates and their 5 trigger rows"
    );
    assert!(db.is_untouched().await);
    db.exec("DROP FUNCTION {t}_touch").await;
    db.exec("DROP TABLE {t}_log").await;
    db.clean_up().await;
}

/// A script the analysis takes for DML runs in an XA transaction: a DDL statement in it (the
/// analysis refuses such a mix; this is the executor's own wall) is refused by the server
/// instead of committing what ran before it.
#[tokio::test]
async fn ddl_hidden_in_a_dml_script_cannot_commit_it() {
    let mut db = mysql!();
    let script = db.script(
        "UPDATE {t} SET balance = 1 WHERE id IN (2, 3); CREATE TABLE {t}_tmp (a INT)",
        2,
    );
    let report = execute(
        db.target(),
        guarded(&script, &[true, false], 2),
        ignore_txid,
    )
    .await;
    assert_eq!(report.outcome, ExecutionOutcome::Error, "{report:?}");
    assert!(
        matches!(&report.error, Some(Failure::Statement { index: 1, code, .. }) if code.as_deref() == Some("1399")),
        "XAER_RMFAIL: {report:?}"
    );
    assert!(db.is_untouched().await, "the UPDATE did not stay");
    let tables = db
        .scalar(&format!(
            "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_NAME = '{}_tmp'",
            db.table
        ))
        .await;
    assert_eq!(tables, 0, "the table was not created");
    db.clean_up().await;
}

/// A DDL script (the analysis says its statements commit implicitly) runs statement by
/// statement: what ran stays, and the record says so — never "rolled back" — even when the
/// guard would have refused it.
#[tokio::test]
async fn ddl_that_commits_implicitly_is_recorded_as_committed() {
    let mut db = mysql!();
    let script = db.script(
        "UPDATE {t} SET balance = 1 WHERE id IN (2, 3); CREATE TABLE {t}_tmp (a INT)",
        2,
    );
    let plan = Plan {
        implicit_commits: true,
        ..guarded(&script, &[true, false], 1)
    };
    let report = execute(db.target(), plan, ignore_txid).await;
    assert_eq!(report.outcome, ExecutionOutcome::Committed, "{report:?}");
    let Some(Failure::CommittedEarly { message }) = &report.error else {
        panic!("the record must say what stayed: {report:?}");
    };
    assert!(message.contains("stay committed"), "{message}");
    assert!(message.contains("could no longer roll back"), "{message}");
    assert_eq!((db.balance(2).await, db.balance(3).await), (1, 1));
    db.exec("DROP TABLE {t}_tmp").await;
    db.clean_up().await;
}

/// A run whose connection is gone without its marker rolled back; a live one is left alone
/// until the caller knows it orphaned, then ended and read.
#[tokio::test]
async fn reconcile_ends_an_orphaned_connection_and_reads_the_marker() {
    let mut db = mysql!();
    let mut open = db.other_connection().await;
    sqlx::raw_sql(AssertSqlSafe(db.sql(
        "CREATE TABLE IF NOT EXISTS countersign_runs (run_id CHAR(36) NOT NULL PRIMARY KEY, \
         ran_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP) ENGINE=InnoDB",
    )))
    .execute(&mut open)
    .await
    .expect("marker table");
    let marker = "00000000-0000-4000-8000-00000000cafe";
    sqlx::raw_sql(AssertSqlSafe(format!(
        "BEGIN; INSERT INTO countersign_runs (run_id) VALUES ('{marker}'); {}",
        db.sql("UPDATE {t} SET balance = 9 WHERE id = 1")
    )))
    .execute(&mut open)
    .await
    .expect("a run in progress");
    let connection: i64 = sqlx::query_scalar("SELECT CAST(CONNECTION_ID() AS SIGNED)")
        .fetch_one(&mut open)
        .await
        .expect("connection id");
    let identity = RunIdentity {
        txid: None,
        session: Some(connection.to_string()),
        marker: Some(marker.into()),
    };
    assert_eq!(
        reconcile(db.target(), &identity, false).await,
        Ok(Settlement::InProgress)
    );
    assert_eq!(
        reconcile(db.target(), &identity, true).await,
        Ok(Settlement::RolledBack)
    );
    assert_eq!(db.balance(1).await, 0);
    drop(open);
    db.clean_up().await;
}
