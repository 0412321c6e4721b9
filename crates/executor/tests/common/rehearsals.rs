//! What every driver's rehearsal must do, written once and run by `tests/rehearse.rs` for each
//! driver: exact counts, nothing left behind on any path, samples, masks, skips, timeouts.

use std::time::{Duration, Instant};

use countersign_executor::{
    Driver, Failure, Limits, Rehearsal, RehearsalError, RehearsalOptions, RehearsalStatus,
    SkipReason, Step, Target, rehearse,
};
use sqlx::{AssertSqlSafe, Connection};

use super::Db;

fn options() -> RehearsalOptions<'static> {
    RehearsalOptions::new(Limits::default())
}

fn some(values: &[&str]) -> Vec<Option<String>> {
    values.iter().map(|v| Some((*v).to_owned())).collect()
}

/// The rehearsal of `templates` (one statement each), with the table left as it was.
async fn rehearse_unchanged(
    db: &mut Db,
    templates: &[&str],
    options: RehearsalOptions<'_>,
) -> Rehearsal {
    let before = db.checksum().await;
    let script = db.statements(templates);
    let rehearsal = rehearse(db.target(), &script.sql, options).await;
    assert_eq!(
        db.checksum().await,
        before,
        "the rehearsal changed the table: {rehearsal:#?}"
    );
    rehearsal
}

/// The fixture's checksum sees a changed value, a new row, a new column and a new table.
pub async fn the_fixtures_checksum_sees_every_change(db: &mut Db) {
    let mut sums = vec![db.checksum().await];
    for change in [
        "UPDATE {t} SET balance = 1 WHERE id = 3",
        "INSERT INTO {t} (id, balance) VALUES (11, 0)",
        "ALTER TABLE {t} ADD COLUMN note VARCHAR(10)",
        "CREATE TABLE {t}_other (id BIGINT PRIMARY KEY)",
    ] {
        db.exec(change).await;
        let sum = db.checksum().await;
        assert!(!sums.contains(&sum), "{change} went unseen: {sum}");
        sums.push(sum);
    }
    db.exec("DROP TABLE {t}_other").await;
}

/// UPDATE, DELETE and INSERT in one script: each statement's count, the database's count per
/// table, and samples before and after, by key, in key order; then everything rolled back.
pub async fn counts_and_samples_each_statement_and_leaves_nothing(db: &mut Db) {
    let rehearsal = rehearse_unchanged(
        db,
        &[
            "UPDATE {t} SET balance = balance + 5 WHERE id <= 3",
            "DELETE FROM {t} WHERE id = 10",
            "INSERT INTO {t} (id, balance) VALUES (11, 7), (12, 8)",
        ],
        options(),
    )
    .await;

    assert_eq!(rehearsal.status, RehearsalStatus::Done, "{rehearsal:#?}");
    assert_eq!(rehearsal.error, None);
    let rows: Vec<u64> = rehearsal
        .statements
        .iter()
        .map(|s| s.rows_affected)
        .collect();
    assert_eq!(rows, [3, 1, 2]);
    assert_eq!(rehearsal.rows_affected, 6);
    assert_eq!(rehearsal.tables.len(), 1, "{:?}", rehearsal.tables);
    let table = &rehearsal.tables[0];
    assert_eq!((table.inserted, table.updated, table.deleted), (2, 3, 1));
    match db.driver {
        Driver::Postgres => assert_eq!(table.table, format!("public.{}", db.table)),
        Driver::Sqlite => assert_eq!(table.table, format!("main.{}", db.table)),
        Driver::Mysql => assert_eq!(table.table, "*"),
    }
    assert_eq!(
        rehearsal.statements[0].summary,
        format!("update {}", db.table)
    );
    assert!(rehearsal.finished_at >= rehearsal.started_at);

    let update = rehearsal.statements[0]
        .sample
        .as_ref()
        .expect("an UPDATE's sample");
    assert_eq!(update.table, db.table);
    assert_eq!(update.columns, ["id", "balance"]);
    assert_eq!(
        update.before,
        [some(&["1", "0"]), some(&["2", "0"]), some(&["3", "0"])]
    );
    assert_eq!(
        update.after,
        [some(&["1", "5"]), some(&["2", "5"]), some(&["3", "5"])]
    );
    let delete = rehearsal.statements[1]
        .sample
        .as_ref()
        .expect("a DELETE's sample");
    assert_eq!(delete.before, [some(&["10", "0"])]);
    assert!(delete.after.is_empty());
    let insert = rehearsal.statements[2]
        .sample
        .as_ref()
        .expect("an INSERT's sample");
    assert!(insert.before.is_empty());
    assert_eq!(insert.after, [some(&["11", "7"]), some(&["12", "8"])]);
}

/// A sample holds at most `max_samples` rows; samples off: counts only.
pub async fn samples_are_bounded_and_can_be_turned_off(db: &mut Db) {
    let bounded = RehearsalOptions {
        max_samples: 4,
        ..options()
    };
    let rehearsal =
        rehearse_unchanged(db, &["UPDATE {t} SET balance = 1 WHERE id > 0"], bounded).await;
    assert_eq!(rehearsal.statements[0].rows_affected, 10, "{rehearsal:#?}");
    let sample = rehearsal.statements[0].sample.as_ref().expect("a sample");
    assert_eq!((sample.before.len(), sample.after.len()), (4, 4));
    assert_eq!(sample.after[3], some(&["4", "1"]));

    let off = RehearsalOptions {
        samples: false,
        ..options()
    };
    let rehearsal = rehearse_unchanged(
        db,
        &[
            "UPDATE {t} SET balance = 1 WHERE id > 5",
            "INSERT INTO {t} (id, balance) VALUES (20, 1)",
        ],
        off,
    )
    .await;
    assert_eq!(rehearsal.status, RehearsalStatus::Done, "{rehearsal:#?}");
    assert_eq!(rehearsal.rows_affected, 6);
    assert!(rehearsal.statements.iter().all(|s| s.sample.is_none()));

    // Only the first statements that change rows are sampled; the rest are counted.
    let first_two = RehearsalOptions {
        max_sampled_statements: 2,
        ..options()
    };
    let rehearsal = rehearse_unchanged(
        db,
        &[
            "UPDATE {t} SET balance = 1 WHERE id = 1",
            "SELECT balance FROM {t} WHERE id = 1",
            "UPDATE {t} SET balance = 1 WHERE id = 2",
            "UPDATE {t} SET balance = 1 WHERE id IN (3, 4)",
        ],
        first_two,
    )
    .await;
    let sampled: Vec<bool> = rehearsal
        .statements
        .iter()
        .map(|s| s.sample.is_some())
        .collect();
    assert_eq!(sampled, [true, false, true, false], "{rehearsal:#?}");
    assert_eq!(rehearsal.statements[3].rows_affected, 2);
}

/// Statement 2 fails: status `error`, statement 1's change rolled back, statement 3 not run.
pub async fn an_error_in_statement_two_leaves_nothing(db: &mut Db) {
    let rehearsal = rehearse_unchanged(
        db,
        &[
            "UPDATE {t} SET balance = 100 WHERE id = 1",
            "INSERT INTO {t} (id, balance) VALUES (2, 0)",
            "UPDATE {t} SET balance = 100 WHERE id = 3",
        ],
        options(),
    )
    .await;
    assert_eq!(rehearsal.status, RehearsalStatus::Error, "{rehearsal:#?}");
    assert!(
        matches!(
            rehearsal.error,
            Some(RehearsalError::Failed(Failure::Statement { index: 1, .. }))
        ),
        "{rehearsal:#?}"
    );
    assert_eq!(rehearsal.statements.len(), 1);
    assert_eq!(rehearsal.statements[0].rows_affected, 1);
}

/// Masked columns show `••••`, in samples before and after; their values appear nowhere in
/// the result.
pub async fn masked_columns_never_appear(db: &mut Db) {
    db.exec("CREATE TABLE {t}_c (id BIGINT PRIMARY KEY, email VARCHAR(100), note VARCHAR(100))")
        .await;
    db.exec("INSERT INTO {t}_c (id, email, note) VALUES (1, 'ann@example.com', 'a'), (2, 'bob@example.com', 'b')")
        .await;
    let masks = vec![format!("{}_c.email", db.table), "*.pass*".to_owned()];
    let masked = RehearsalOptions {
        mask_columns: &masks,
        ..options()
    };
    let rehearsal = rehearse_unchanged(
        db,
        &[
            "UPDATE {t}_c SET note = 'changed', email = 'new@example.com' WHERE id <= 2",
            "DELETE FROM {t}_c WHERE id = 2",
            "INSERT INTO {t}_c (id, email, note) VALUES (3, 'cy@example.com', 'c')",
        ],
        masked,
    )
    .await;
    db.exec("DROP TABLE {t}_c").await;

    assert_eq!(rehearsal.status, RehearsalStatus::Done, "{rehearsal:#?}");
    for statement in &rehearsal.statements {
        let sample = statement.sample.as_ref().expect("a sample");
        assert_eq!(sample.masked, ["email"]);
        assert_eq!(sample.columns, ["id", "email", "note"]);
        for row in sample.before.iter().chain(&sample.after) {
            assert_eq!(row[1].as_deref(), Some("••••"));
        }
    }
    assert_eq!(
        rehearsal.statements[0].sample.as_ref().unwrap().after[0][2].as_deref(),
        Some("changed")
    );
    let shown = format!("{rehearsal:?}");
    assert!(!shown.contains("@example.com"), "{shown}");
}

/// A statement calling a function the analyzer cannot see into is skipped, with its reason,
/// and nothing after it runs — unless functions are allowed.
pub async fn an_unknown_function_is_skipped_unless_allowed(db: &mut Db) {
    let templates = [
        "UPDATE {t} SET balance = 1 WHERE id = 1",
        "UPDATE {t} SET balance = cs_no_such_function(balance) WHERE id = 2",
        "UPDATE {t} SET balance = 1 WHERE id = 3",
    ];
    let rehearsal = rehearse_unchanged(db, &templates, options()).await;
    assert_eq!(rehearsal.status, RehearsalStatus::Done, "{rehearsal:#?}");
    assert_eq!(rehearsal.statements.len(), 2);
    let skipped = rehearsal.skipped().expect("a skipped statement");
    assert_eq!(skipped.index, 1);
    let reason = skipped.skipped.as_ref().unwrap();
    assert_eq!(reason.reason, SkipReason::UnknownFunction);
    assert!(
        reason
            .detail
            .as_deref()
            .unwrap_or_default()
            .contains("cs_no_such_function")
    );
    assert_eq!(rehearsal.rows_affected, 1);

    let allowed = RehearsalOptions {
        allow_functions: true,
        ..options()
    };
    let rehearsal = rehearse_unchanged(db, &templates, allowed).await;
    assert_eq!(
        rehearsal.status,
        RehearsalStatus::Error,
        "run, and the database refuses it: {rehearsal:#?}"
    );
    assert!(rehearsal.skipped().is_none());
}

/// A dangerous function (`sql`, of this driver) is skipped and nothing after it runs.
pub async fn a_dangerous_function_is_skipped(db: &mut Db, sql: &str) {
    let templates = [
        "UPDATE {t} SET balance = 1 WHERE id = 1",
        sql,
        "DELETE FROM {t}",
    ];
    let allowed = RehearsalOptions {
        allow_functions: true,
        ..options()
    };
    let rehearsal = rehearse_unchanged(db, &templates, allowed).await;
    assert_eq!(rehearsal.status, RehearsalStatus::Done, "{rehearsal:#?}");
    let skipped = rehearsal.skipped().expect("a skipped statement");
    assert_eq!(skipped.index, 1);
    assert_eq!(
        skipped.skipped.as_ref().map(|s| s.reason),
        Some(SkipReason::DangerousFunction)
    );
    assert_eq!(rehearsal.rows_affected, 1);
}

/// Past its timeout (here: `slow`, a long statement after a row was changed) a rehearsal is
/// `timeout`, rolled back, and its session gone: a concurrent writer of the changed row
/// proceeds at once.
pub async fn a_rehearsal_past_its_timeout_leaves_no_lock(db: &mut Db, slow: &str) {
    let timed = RehearsalOptions {
        timeout: Duration::from_millis(1_500),
        ..options()
    };
    let clock = Instant::now();
    let rehearsal = rehearse_unchanged(
        db,
        &["UPDATE {t} SET balance = 1 WHERE id = 1", slow],
        timed,
    )
    .await;
    assert_eq!(rehearsal.status, RehearsalStatus::Timeout, "{rehearsal:#?}");
    // Without a statement timeout of the target's, the database's limit (the rehearsal's
    // timeout, from the statement's start) comes after the rehearsal's own deadline: the
    // connection was dropped and the session ended from outside.
    assert!(
        matches!(rehearsal.error, Some(RehearsalError::TimedOut { .. })),
        "{rehearsal:#?}"
    );
    assert!(
        clock.elapsed() < Duration::from_secs(8),
        "{:?}",
        clock.elapsed()
    );

    let mut writer = db.other_connection().await;
    let short_wait = match db.driver {
        Driver::Postgres => "SET lock_timeout = '2s'",
        Driver::Mysql => "SET SESSION innodb_lock_wait_timeout = 2",
        Driver::Sqlite => "PRAGMA busy_timeout = 2000",
    };
    sqlx::raw_sql(short_wait)
        .execute(&mut writer)
        .await
        .expect("a short lock wait");
    let clock = Instant::now();
    sqlx::raw_sql(AssertSqlSafe(
        db.sql("UPDATE {t} SET balance = 2 WHERE id = 1"),
    ))
    .execute(&mut writer)
    .await
    .expect("the writer proceeds: the rehearsal left no lock");
    assert!(clock.elapsed() < Duration::from_secs(2));
    let _ = writer.close().await;
    assert_eq!(db.balance(1).await, 2);
}

/// The target's statement timeout (shorter than the rehearsal's) is the database's to
/// enforce: `timeout`, rolled back on its own connection, naming the statement.
pub async fn the_targets_statement_timeout_bounds_each_statement(db: &mut Db, slow: &str) {
    let limited = RehearsalOptions::new(Limits {
        statement_timeout: Some(Duration::from_millis(300)),
        lock_timeout: None,
    });
    let rehearsal = rehearse_unchanged(
        db,
        &["UPDATE {t} SET balance = 1 WHERE id = 1", slow],
        limited,
    )
    .await;
    assert_eq!(rehearsal.status, RehearsalStatus::Timeout, "{rehearsal:#?}");
    assert_eq!(
        failed_at(&rehearsal),
        Some(Step::Statement(1)),
        "{rehearsal:#?}"
    );
    assert!(
        rehearsal.duration < Duration::from_secs(3),
        "{:?}",
        rehearsal.duration
    );
    assert_eq!(rehearsal.statements.len(), 1);
}

/// An unreachable target: `error`, and the message holds nothing of the URL.
pub async fn an_unreachable_target_is_an_error_without_the_url(
    driver: Driver,
    url: &str,
    secrets: &[&str],
) {
    let rehearsal = rehearse(
        Target { driver, url },
        "UPDATE t SET a = 1 WHERE id = 1",
        options(),
    )
    .await;
    assert_eq!(rehearsal.status, RehearsalStatus::Error, "{rehearsal:#?}");
    let Some(RehearsalError::Failed(failure @ Failure::Connect { .. })) = &rehearsal.error else {
        panic!("expected a connection failure: {rehearsal:#?}");
    };
    let text = failure.to_string();
    let shown = format!("{rehearsal:?}");
    for secret in secrets.iter().chain([&url]) {
        assert!(
            !text.contains(secret) && !shown.contains(secret),
            "{secret:?} leaked in {shown}"
        );
    }
    assert!(rehearsal.statements.is_empty());
}

/// The step a statement failure names, for drivers' own tests.
pub fn failed_at(rehearsal: &Rehearsal) -> Option<Step> {
    match &rehearsal.error {
        Some(RehearsalError::Failed(Failure::Statement { index, .. })) => {
            Some(Step::Statement(*index))
        }
        Some(RehearsalError::Failed(Failure::Timeout { step, .. })) => Some(*step),
        _ => None,
    }
}

/// A table created by the script (PostgreSQL, SQLite: DDL is transactional) is rehearsed into,
/// sampled (the key is read after the DDL ran) and gone afterwards.
pub async fn a_table_the_script_creates_is_sampled_and_gone_afterwards(db: &mut Db) {
    let rehearsal = rehearse_unchanged(
        db,
        &[
            "CREATE TABLE {t}_new (id BIGINT PRIMARY KEY, v BIGINT NOT NULL)",
            "INSERT INTO {t}_new (id, v) VALUES (1, 1), (2, 2)",
            "UPDATE {t}_new SET v = v * 10 WHERE id = 2",
        ],
        options(),
    )
    .await;
    assert_eq!(rehearsal.status, RehearsalStatus::Done, "{rehearsal:#?}");
    let rows: Vec<u64> = rehearsal
        .statements
        .iter()
        .map(|s| s.rows_affected)
        .collect();
    assert_eq!(rows, [0, 2, 1]);
    let update = rehearsal.statements[2].sample.as_ref().expect("a sample");
    assert_eq!(update.before, [some(&["2", "2"])]);
    assert_eq!(update.after, [some(&["2", "20"])]);
    let left = match db.driver {
        Driver::Sqlite => {
            db.scalar("SELECT COUNT(*) FROM sqlite_master WHERE name = '{t}_new'")
                .await
        }
        _ => {
            db.scalar("SELECT COUNT(*) FROM information_schema.tables WHERE table_name = '{t}_new'")
                .await
        }
    };
    assert_eq!(left, 0, "the created table is rolled back");
}

/// A rehearsal whose caller gives up on it (its future dropped mid-statement, as when the
/// server shuts down) leaves nothing and no lock: its connection goes, and the database ends
/// the transaction.
pub async fn a_dropped_rehearsal_leaves_nothing_and_no_lock(db: &mut Db, slow: &str) {
    let before = db.checksum().await;
    let script = db.statements(&["UPDATE {t} SET balance = 1 WHERE id = 1", slow]);
    let rehearsal = rehearse(db.target(), &script.sql, options());
    let given_up = tokio::time::timeout(Duration::from_millis(500), rehearsal).await;
    assert!(given_up.is_err(), "the slow statement was still running");

    let mut writer = db.other_connection().await;
    let wait = match db.driver {
        Driver::Postgres => "SET lock_timeout = '5s'",
        Driver::Mysql => "SET SESSION innodb_lock_wait_timeout = 5",
        Driver::Sqlite => "PRAGMA busy_timeout = 5000",
    };
    sqlx::raw_sql(wait)
        .execute(&mut writer)
        .await
        .expect("a lock wait");
    sqlx::raw_sql(AssertSqlSafe(
        db.sql("UPDATE {t} SET balance = balance WHERE id = 1"),
    ))
    .execute(&mut writer)
    .await
    .expect("the writer proceeds: the dropped rehearsal left no lock");
    let _ = writer.close().await;
    assert_eq!(db.checksum().await, before);
}
