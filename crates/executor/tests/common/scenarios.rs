//! The behaviour every driver must show, written once and run by each driver's test file.

use std::cell::Cell;
use std::time::Duration;

use countersign_executor::{
    Driver, ExecutionOutcome, Failure, Limits, Plan, RunIdentity, Step, Target, execute,
};
use sqlx::{AssertSqlSafe, Connection};

use super::{Db, SEEDED_ROWS, ignore_txid, limits, plan};

/// All statements commit; each statement's rows are counted.
pub async fn commits_and_counts_rows_per_statement(db: &mut Db) {
    let statements = db.statements(&[
        "UPDATE {t} SET balance = balance + 1 WHERE id <= 3",
        "DELETE FROM {t} WHERE id = 10",
        "INSERT INTO {t} (id, balance) VALUES (11, 7), (12, 7)",
    ]);
    let report = execute(db.target(), plan(&statements), ignore_txid).await;

    assert_eq!(report.outcome, ExecutionOutcome::Committed, "{report:?}");
    assert_eq!(report.error, None);
    let rows: Vec<u64> = report.statements.iter().map(|s| s.rows_affected).collect();
    assert_eq!(rows, [3, 1, 2]);
    let indexes: Vec<usize> = report.statements.iter().map(|s| s.index).collect();
    assert_eq!(indexes, [0, 1, 2]);
    assert_eq!(report.rows_affected, 6);
    assert!(report.finished_at >= report.started_at);
    assert_eq!(db.balance(1).await, 1);
    assert_eq!(db.balance(4).await, 0);
    assert_eq!(db.count().await, SEEDED_ROWS + 1);
}

/// Statement 2 of 3 fails: nothing of statement 1 remains, statement 3 never runs.
pub async fn rolls_back_the_whole_script_when_a_statement_fails(db: &mut Db) {
    let statements = db.statements(&[
        "UPDATE {t} SET balance = 100 WHERE id = 1",
        "INSERT INTO {t} (id, balance) VALUES (2, 0)",
        "UPDATE {t} SET balance = 100 WHERE id = 3",
    ]);
    let report = execute(db.target(), plan(&statements), ignore_txid).await;

    assert_eq!(report.outcome, ExecutionOutcome::Error, "{report:?}");
    let Some(Failure::Statement { index, message, .. }) = &report.error else {
        panic!("expected a statement failure: {report:?}");
    };
    assert_eq!(*index, 1);
    assert!(!message.is_empty());
    assert_eq!(report.statements.len(), 1, "only statement 1 completed");
    assert_eq!(report.rows_affected, 1);
    assert!(
        db.is_untouched().await,
        "statement 1's change must be rolled back"
    );
}

/// Expected 5 rows, the statements affect 6: rolled back, both numbers reported.
pub async fn the_guard_rolls_back_a_different_total(db: &mut Db) {
    let statements = db.statements(&[
        "UPDATE {t} SET balance = 1 WHERE id <= 4",
        "UPDATE {t} SET balance = 1 WHERE id IN (5, 6)",
    ]);
    let plan = Plan {
        expected_rows: Some(5),
        ..plan(&statements)
    };
    let report = execute(db.target(), plan, ignore_txid).await;

    assert_eq!(report.outcome, ExecutionOutcome::Guard, "{report:?}");
    assert_eq!(
        report.error,
        Some(Failure::Guard {
            expected: 5,
            actual: 6
        })
    );
    assert_eq!(report.expected_rows, Some(5));
    assert_eq!(report.rows_affected, 6);
    let text = report.error.map(|e| e.to_string()).unwrap_or_default();
    assert!(text.contains('5') && text.contains('6'), "{text}");
    assert!(
        db.is_untouched().await,
        "the guard must roll everything back"
    );
}

/// The exact total passes the guard.
pub async fn the_guard_lets_the_expected_total_commit(db: &mut Db) {
    let statements = db.statements(&["UPDATE {t} SET balance = 1 WHERE id <= 5"]);
    let plan = Plan {
        expected_rows: Some(5),
        ..plan(&statements)
    };
    let report = execute(db.target(), plan, ignore_txid).await;

    assert_eq!(report.outcome, ExecutionOutcome::Committed, "{report:?}");
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM {t} WHERE balance = 1")
            .await,
        5
    );
}

/// Held to a rehearsal's tables, a run that changes a table the rehearsal did not change
/// rolls back (outcome guard); one that changes only those tables commits.
pub async fn the_guard_refuses_a_table_the_rehearsal_did_not_change(db: &mut Db) {
    let statements = db.statements(&["UPDATE {t} SET balance = 1 WHERE id <= 2"]);
    let elsewhere = ["some_schema.another_table".to_owned()];
    let held = Plan {
        expected_rows: Some(2),
        changed_tables: Some(&elsewhere),
        ..plan(&statements)
    };
    let report = execute(db.target(), held, ignore_txid).await;
    assert_eq!(report.outcome, ExecutionOutcome::Guard, "{report:?}");
    assert!(
        matches!(report.error, Some(Failure::UnrehearsedTable { .. })),
        "{report:?}"
    );
    assert!(db.is_untouched().await, "rolled back");

    let seen: Vec<String> = report.tables.iter().map(|t| t.table.clone()).collect();
    assert!(!seen.is_empty(), "{report:?}");
    let held = Plan {
        expected_rows: Some(2),
        changed_tables: Some(&seen),
        ..plan(&statements)
    };
    let report = execute(db.target(), held, ignore_txid).await;
    assert_eq!(report.outcome, ExecutionOutcome::Committed, "{report:?}");
}

/// `record` runs once, before any statement and so before the commit, and receives the run's
/// identity: PostgreSQL's transaction id and backend pid, MySQL's connection id and marker,
/// SQLite's marker.
pub async fn records_the_txid_before_anything_runs(db: &mut Db) {
    let statements = db.statements(&["UPDATE {t} SET balance = 1 WHERE id = 1"]);
    let url = db.url.clone();
    let target = Target {
        driver: db.driver,
        url: &url,
    };
    let calls = Cell::new(0);
    let mut seen = None;
    let report = execute(target, plan(&statements), async |identity: RunIdentity| {
        calls.set(calls.get() + 1);
        assert!(db.is_untouched().await, "called before the statements ran");
        seen = Some(identity);
        Ok::<(), String>(())
    })
    .await;

    assert_eq!(report.outcome, ExecutionOutcome::Committed, "{report:?}");
    assert_eq!(calls.get(), 1);
    let seen = seen.expect("record was called");
    assert_eq!(seen, report.identity);
    match db.driver {
        Driver::Postgres => {
            let txid = seen.txid.expect("PostgreSQL has a transaction id");
            assert!(txid.parse::<i64>().is_ok(), "{txid}");
            let pid = seen.session.expect("PostgreSQL has a backend pid");
            assert!(pid.parse::<i32>().is_ok(), "{pid}");
            assert_eq!(seen.marker, None);
        }
        Driver::Mysql => {
            assert_eq!(seen.txid, None);
            let connection = seen.session.expect("MySQL has a connection id");
            assert!(connection.parse::<u64>().is_ok(), "{connection}");
            assert_eq!(seen.marker.map(|m| m.len()), Some(36), "a UUID");
        }
        Driver::Sqlite => {
            assert_eq!((seen.txid, seen.session), (None, None));
            assert_eq!(seen.marker.map(|m| m.len()), Some(36), "a UUID");
        }
    }
}

/// When `record_txid` fails, nothing runs and nothing commits.
pub async fn a_failing_record_txid_rolls_back(db: &mut Db) {
    let statements = db.statements(&["UPDATE {t} SET balance = 1 WHERE id = 1"]);
    let report = execute(db.target(), plan(&statements), async |_| {
        Err("the store is read-only")
    })
    .await;

    assert_eq!(report.outcome, ExecutionOutcome::Error, "{report:?}");
    assert_eq!(
        report.error,
        Some(Failure::Record {
            message: "the store is read-only".into()
        })
    );
    assert!(report.statements.is_empty());
    assert!(db.is_untouched().await);
}

/// A statement that runs past the statement timeout is stopped by the database: outcome
/// `timeout`, well before the executor's own backstop.
pub async fn a_slow_statement_times_out(db: &mut Db, slow_statement: &str) {
    let statements = db.statements(&["UPDATE {t} SET balance = 1 WHERE id = 1", slow_statement]);
    let plan = Plan {
        limits: Limits {
            statement_timeout: Some(Duration::from_millis(200)),
            lock_timeout: None,
        },
        ..plan(&statements)
    };
    let report = execute(db.target(), plan, ignore_txid).await;

    assert_eq!(report.outcome, ExecutionOutcome::Timeout, "{report:?}");
    assert!(
        matches!(
            report.error,
            Some(Failure::Timeout {
                step: Step::Statement(1),
                ..
            })
        ),
        "{report:?}"
    );
    assert!(
        report.duration < Duration::from_millis(1_500),
        "stopped by the database, not the backstop: {:?}",
        report.duration
    );
    assert!(db.is_untouched().await);
}

/// A row held locked by another connection: the lock timeout fires, outcome `timeout`.
/// `step` is where the wait happens (SQLite takes its write lock at `BEGIN IMMEDIATE`).
pub async fn a_lock_wait_times_out(db: &mut Db, lock_timeout_ms: u64, step: Step) {
    let mut holder = db.other_connection().await;
    for sql in ["BEGIN", "UPDATE {t} SET balance = 5 WHERE id = 1"] {
        sqlx::raw_sql(AssertSqlSafe(db.sql(sql)))
            .execute(&mut holder)
            .await
            .expect("the holder takes its lock");
    }
    let statements = db.statements(&[
        "UPDATE {t} SET balance = 1 WHERE id = 2",
        "UPDATE {t} SET balance = 1 WHERE id = 1",
    ]);
    let plan = Plan {
        limits: limits(30_000, lock_timeout_ms),
        ..plan(&statements)
    };
    let report = execute(db.target(), plan, ignore_txid).await;
    sqlx::raw_sql("ROLLBACK")
        .execute(&mut holder)
        .await
        .expect("the holder lets go");
    let _ = holder.close().await;

    assert_eq!(report.outcome, ExecutionOutcome::Timeout, "{report:?}");
    assert!(
        matches!(&report.error, Some(Failure::Timeout { step: s, .. }) if *s == step),
        "{report:?}"
    );
    assert!(report.duration < Duration::from_millis(lock_timeout_ms + 3_000));
    assert!(db.is_untouched().await);
}

/// Connecting fails: outcome `error`, and the message holds nothing of the URL.
pub async fn a_connection_failure_leaks_nothing(driver: Driver, url: &str, secrets: &[&str]) {
    let report = execute(
        Target { driver, url },
        Plan::new("SELECT 1", 1),
        ignore_txid,
    )
    .await;

    assert_eq!(report.outcome, ExecutionOutcome::Error, "{report:?}");
    let Some(failure @ Failure::Connect { .. }) = &report.error else {
        panic!("expected a connection failure: {report:?}");
    };
    let text = failure.to_string();
    for secret in secrets.iter().chain([&url]) {
        assert!(!text.contains(secret), "{secret:?} leaked in {text:?}");
    }
    assert!(!format!("{report:?}").contains(url));
    assert_eq!(report.identity, RunIdentity::default());
    assert!(report.statements.is_empty());
}
