//! The executor on a real PostgreSQL server (`COUNTERSIGN_TEST_POSTGRES_URL`).

mod common;

use std::convert::Infallible;

use common::{Db, POSTGRES_ENV, ignore_txid, plan, scenarios};
use countersign_executor::{
    Driver, ExecutionOutcome, Failure, Plan, ReconcileError, RunIdentity, Settlement, Step,
    TableChanges, Target, execute, reconcile,
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

driver_tests!(Db::postgres().await;
    commits_and_counts_rows_per_statement,
    rolls_back_the_whole_script_when_a_statement_fails,
    the_guard_rolls_back_a_different_total,
    the_guard_lets_the_expected_total_commit,
    the_guard_refuses_a_table_the_rehearsal_did_not_change,
    records_the_txid_before_anything_runs,
    a_failing_record_txid_rolls_back,
);

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

// --- What runs is what was approved, and the guard counts what the database changed -------

/// A plan of `script` whose statement `kinds` are as today's analyzer would give them: a
/// statement it takes for a read (`false`) shows 0 rows of its own.
fn guarded<'a>(script: &'a common::Script, kinds: &'a [bool], expected: i64) -> Plan<'a> {
    Plan {
        expected_rows: Some(expected),
        changes_rows: Some(kinds),
        ..plan(script)
    }
}

/// `WITH u AS (UPDATE …) SELECT 1` reports the SELECT's one row; the database counts the
/// nine rows the CTE changed, and the guard rolls them back.
#[tokio::test]
async fn a_data_modifying_cte_under_a_select_is_counted_by_the_database() {
    let mut db = postgres!();
    let script = db.script(
        "WITH u AS (UPDATE {t} SET balance = 7 WHERE id > 1 RETURNING 1) SELECT 1",
        1,
    );
    let report = execute(db.target(), guarded(&script, &[false], 1), ignore_txid).await;
    assert_eq!(report.outcome, ExecutionOutcome::Guard, "{report:?}");
    assert_eq!(report.rows_affected, 9);
    assert_eq!(
        report.tables,
        [TableChanges {
            table: format!("public.{}", db.table),
            inserted: 0,
            updated: 9,
            deleted: 0
        }]
    );
    assert!(db.is_untouched().await, "nothing of it stays");
    db.clean_up().await;
}

#[tokio::test]
async fn explain_analyze_of_an_update_is_counted_by_the_database() {
    let mut db = postgres!();
    let script = db.script("EXPLAIN ANALYZE UPDATE {t} SET balance = 5 WHERE id > 5", 1);
    let report = execute(db.target(), guarded(&script, &[false], 0), ignore_txid).await;
    assert_eq!(report.outcome, ExecutionOutcome::Guard, "{report:?}");
    assert_eq!(report.rows_affected, 5);
    assert!(db.is_untouched().await);
    db.clean_up().await;
}

/// A function that writes, called from a SELECT; and a trigger that writes to another table:
/// both counted, per table.
#[tokio::test]
async fn functions_and_triggers_that_write_are_counted_per_table() {
    let mut db = postgres!();
    db.exec(
        "CREATE FUNCTION {t}_touch() RETURNS int LANGUAGE sql AS \
         $$ UPDATE {t} SET balance = balance + 1 WHERE id <= 4 RETURNING 1 $$",
    )
    .await;
    let script = db.script("SELECT {t}_touch()", 1);
    let report = execute(db.target(), guarded(&script, &[false], 0), ignore_txid).await;
    assert_eq!(report.outcome, ExecutionOutcome::Guard, "{report:?}");
    assert_eq!(report.rows_affected, 4);
    assert!(db.is_untouched().await);

    db.exec("CREATE TABLE {t}_log (id BIGINT)").await;
    db.exec(
        "CREATE FUNCTION {t}_log_it() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN INSERT INTO {t}_log VALUES (NEW.id); RETURN NEW; END $$",
    )
    .await;
    db.exec(
        "CREATE TRIGGER {t}_logged AFTER UPDATE ON {t} FOR EACH ROW EXECUTE FUNCTION {t}_log_it()",
    )
    .await;
    let script = db.script("UPDATE {t} SET balance = 1 WHERE id = 1", 1);
    let report = execute(db.target(), guarded(&script, &[true], 1), ignore_txid).await;
    assert_eq!(
        report.outcome,
        ExecutionOutcome::Guard,
        "the trigger's row counts: {report:?}"
    );
    let mut tables: Vec<(String, u64, u64)> = report
        .tables
        .iter()
        .map(|t| (t.table.clone(), t.inserted, t.updated))
        .collect();
    tables.sort();
    assert_eq!(
        tables,
        [
            (format!("public.{}", db.table), 0, 1),
            (format!("public.{}_log", db.table), 1, 0)
        ]
    );
    let report = execute(db.target(), guarded(&script, &[true], 2), ignore_txid).await;
    assert_eq!(report.outcome, ExecutionOutcome::Committed, "{report:?}");
    assert_eq!(db.scalar("SELECT COUNT(*) FROM {t}_log").await, 1);
    db.exec("DROP TABLE {t}_log").await;
    db.clean_up().await;
}

/// A script that turns `standard_conforming_strings` off reads its strings otherwise than
/// the analyzer did: rolled back, whatever it changed.
#[tokio::test]
async fn a_script_that_changes_how_strings_are_read_is_rolled_back() {
    let mut db = postgres!();
    let script = db.script(
        "SET standard_conforming_strings = off;\nUPDATE {t} SET balance = 1 WHERE id = 1",
        2,
    );
    let report = execute(
        db.target(),
        guarded(&script, &[false, true], 1),
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

/// The server ran another number of statements than the analysis saw: rolled back.
#[tokio::test]
async fn a_different_split_is_rolled_back() {
    let mut db = postgres!();
    let script = db.script(
        "UPDATE {t} SET balance = 1 WHERE id = 1; UPDATE {t} SET balance = 1 WHERE id = 2",
        1,
    );
    let report = execute(db.target(), plan(&script), ignore_txid).await;
    assert_eq!(report.outcome, ExecutionOutcome::Guard, "{report:?}");
    assert_eq!(
        report.error,
        Some(Failure::Split {
            analyzed: 1,
            executed: 2
        })
    );
    assert!(db.is_untouched().await);
    db.clean_up().await;
}

/// A `COMMIT` hidden in the text (the analysis refuses one; this is the executor's own
/// check): the record says the changes stayed, never "rolled back".
#[tokio::test]
async fn a_commit_inside_the_text_is_recorded_as_committed() {
    let mut db = postgres!();
    let script = db.script(
        "UPDATE {t} SET balance = 1 WHERE id = 1; COMMIT; UPDATE {t} SET balance = 1 WHERE id = 2",
        3,
    );
    let report = execute(
        db.target(),
        guarded(&script, &[true, false, true], 5),
        ignore_txid,
    )
    .await;
    assert_eq!(report.outcome, ExecutionOutcome::Committed, "{report:?}");
    let Some(Failure::CommittedEarly { message }) = &report.error else {
        panic!("the record must say what stayed: {report:?}");
    };
    assert!(message.contains("stay committed"), "{message}");
    assert!(message.contains("could no longer roll back"), "{message}");
    assert_eq!((db.balance(1).await, db.balance(2).await), (1, 1));
    db.clean_up().await;
}

/// The server receives the approved text byte for byte: comments, odd spacing, a `;` in a
/// string and in a comment, dollar quoting. The script records what the server received
/// (`current_query()`), and it is the approved text.
#[tokio::test]
async fn the_server_receives_the_approved_text_byte_for_byte() {
    let mut db = postgres!();
    db.exec("CREATE TABLE {t}_sent (q TEXT)").await;
    let script = db.script(
        "/* why: ticket 41; */ UPDATE {t}\tSET balance = 2   -- the ; stays\n\
         WHERE id = 4 AND 'a;b' <> $x$;$x$ ;\n\
         INSERT INTO {t}_sent SELECT current_query() ;  -- the end\n",
        2,
    );
    let report = execute(db.target(), plan(&script), ignore_txid).await;
    assert_eq!(report.outcome, ExecutionOutcome::Committed, "{report:?}");
    assert_eq!(db.text("SELECT q FROM {t}_sent").await, script.sql);
    db.exec("DROP TABLE {t}_sent").await;
    db.clean_up().await;
}

/// A run refuses to start on a server that cannot count the rows it changes.
#[tokio::test]
async fn a_server_without_track_counts_is_refused() {
    let mut db = postgres!();
    let user: String = db.text("SELECT current_user::text").await;
    let superuser = db
        .scalar("SELECT CASE WHEN rolsuper THEN 1 ELSE 0 END FROM pg_roles WHERE rolname = current_user")
        .await;
    if superuser == 0 {
        println!("skipped: {user} may not change track_counts");
        db.clean_up().await;
        return;
    }
    let url = if db.url.contains('?') {
        format!("{}&options=-c%20track_counts%3Doff", db.url)
    } else {
        format!("{}?options=-c%20track_counts%3Doff", db.url)
    };
    let script = db.statements(&["UPDATE {t} SET balance = 1 WHERE id = 1"]);
    let target = Target {
        driver: Driver::Postgres,
        url: &url,
    };
    let report = execute(target, plan(&script), ignore_txid).await;
    assert_eq!(report.outcome, ExecutionOutcome::Error, "{report:?}");
    let text = report.error.map(|e| e.to_string()).unwrap_or_default();
    assert!(text.contains("track_counts"), "{text}");
    assert!(db.is_untouched().await);
    db.clean_up().await;
}
