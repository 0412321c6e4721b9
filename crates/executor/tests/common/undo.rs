//! Undo on real databases: runs that capture their rows' images, reverts generated from them,
//! and the cases where capture must refuse (or, when optional, say why there is no undo).
//! Checksums cover every column of every table of the test, before and after.

use std::convert::Infallible;

use countersign_analyzer::{Analysis, analyze};
use countersign_executor::{
    Driver, ExecutionOutcome, Images, Limits, Plan, RehearsalOptions, Report, RowImage, Undo,
    UndoMode, execute_with_undo, rehearse, revert_sql,
};

use super::{Db, ignore_txid};

/// A table of every type the images must carry losslessly (`{t}_typed`), and one with a
/// composite primary key (`{t}_pair`), seeded with quotes, newlines, NULLs and bytes.
async fn typed_tables(db: &mut Db) {
    let typed = match db.driver {
        Driver::Postgres => {
            "CREATE TABLE {t}_typed (id INT PRIMARY KEY, n NUMERIC(14,4), s TEXT, b BOOLEAN, \
             ts TIMESTAMPTZ, j JSONB, bin BYTEA, u UUID, f DOUBLE PRECISION, \
             g INT GENERATED ALWAYS AS (id * 2) STORED)"
        }
        Driver::Mysql => {
            "CREATE TABLE {t}_typed (id INT PRIMARY KEY, n DECIMAL(14,4), s TEXT, b BOOLEAN, \
             ts TIMESTAMP(6) NULL, j JSON, bin BLOB, u CHAR(36), f DOUBLE, \
             g INT AS (id * 2) STORED)"
        }
        Driver::Sqlite => {
            "CREATE TABLE {t}_typed (id INTEGER PRIMARY KEY, n NUMERIC, s TEXT, b BOOLEAN, \
             ts TEXT, j TEXT, bin BLOB, u TEXT, f REAL, \
             g INT GENERATED ALWAYS AS (id * 2) STORED)"
        }
    };
    db.exec(typed).await;
    let bytes = match db.driver {
        Driver::Postgres => "'\\x00ff27'::bytea",
        Driver::Mysql | Driver::Sqlite => "X'00FF27'",
    };
    let (yes, no) = match db.driver {
        Driver::Postgres => ("true", "false"),
        Driver::Mysql | Driver::Sqlite => ("1", "0"),
    };
    let ts = match db.driver {
        Driver::Postgres => "'2024-02-29 23:59:59.123456+01'",
        Driver::Mysql | Driver::Sqlite => "'2024-02-29 22:59:59.123456'",
    };
    db.exec(&format!(
        "INSERT INTO {{t}}_typed (id, n, s, b, ts, j, bin, u, f) VALUES \
         (1, 12345.6789, 'it''s a \"quote\"\nand a newline', {yes}, {ts}, '{{\"a\": [1, \"x\"]}}', \
          {bytes}, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 0.1), \
         (2, -0.0001, NULL, {no}, NULL, NULL, NULL, NULL, NULL), \
         (3, 0, 'back\\slash', NULL, {ts}, '[]', {bytes}, 'b0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 1e300)"
    ))
    .await;
    db.exec(
        "CREATE TABLE {t}_pair (a INT NOT NULL, b VARCHAR(20) NOT NULL, v TEXT, \
         PRIMARY KEY (a, b))",
    )
    .await;
    db.exec(
        "INSERT INTO {t}_pair (a, b, v) VALUES (1, 'x', 'one'), (1, 'y', NULL), (2, 'x', 'two')",
    )
    .await;
}

async fn drop_typed_tables(db: &mut Db) {
    if db.driver != Driver::Sqlite {
        db.exec("DROP TABLE {t}_typed").await;
        db.exec("DROP TABLE {t}_pair").await;
    }
}

/// The checksum of the test's tables, without the executor's own marker table (whose rows
/// each run adds on SQLite).
async fn checksum(db: &mut Db) -> String {
    db.checksum()
        .await
        .split(';')
        .filter(|t| !t.starts_with("countersign_runs="))
        .collect::<Vec<_>>()
        .join(";")
}

/// Runs `sql` with undo (`mode`, at most `limit` rows), keeping its images.
pub async fn run_with_undo(
    db: &Db,
    sql: &str,
    mode: UndoMode,
    limit: u64,
) -> (Report, Vec<RowImage>) {
    let analysis: Analysis = analyze(sql, db.driver.dialect());
    let mut kept = Vec::new();
    let report = execute_with_undo(
        db.target(),
        Plan::new(sql, analysis.statements.len()),
        Some(Undo {
            analysis: &analysis,
            mode,
            limit_rows: limit,
        }),
        ignore_txid,
        async |images: Images| {
            kept = images.collect();
            Ok::<(), Infallible>(())
        },
    )
    .await;
    (report, kept)
}

/// Runs the revert of `images`, guarded by one row an image — with undo required itself, so
/// every form of revert statement is one capture can follow (a revert can be reverted).
pub async fn revert(db: &Db, images: &[RowImage]) -> Report {
    let statements = revert_sql(db.driver, images);
    let sql: Vec<&str> = statements.iter().map(|s| s.sql.as_str()).collect();
    let sql = sql.join(";\n");
    let analysis: Analysis = analyze(&sql, db.driver.dialect());
    let plan = Plan {
        expected_rows: Some(i64::try_from(statements.len()).expect("a small count")),
        ..Plan::new(&sql, analysis.statements.len())
    };
    let undo = Undo {
        analysis: &analysis,
        mode: UndoMode::Required,
        limit_rows: 10_000,
    };
    let report = execute_with_undo(db.target(), plan, Some(undo), ignore_txid, async |_| {
        Ok::<(), Infallible>(())
    })
    .await;
    assert_ne!(
        report.outcome,
        ExecutionOutcome::NoUndo,
        "{sql}: {report:?}"
    );
    report
}

/// UPDATE, DELETE, INSERT and a script of all three, over every type and a composite key:
/// executed, then reverted, leave every table's checksum as it was before the first run.
pub async fn every_change_is_reverted_to_the_same_checksum(db: &mut Db) {
    typed_tables(db).await;
    let scripts = [
        "UPDATE {t}_typed SET s = 'new ''value''\nline two', n = n + 1, b = NULL, bin = NULL \
         WHERE id IN (1, 3)",
        "DELETE FROM {t}_typed WHERE id <> 2",
        "INSERT INTO {t}_typed (id, n, s) VALUES (7, 1.5, 'x'), (8, NULL, 'y\nz')",
        "UPDATE {t}_pair SET v = 'changed' WHERE a = 1;\n\
         DELETE FROM {t}_pair WHERE a = 2;\n\
         INSERT INTO {t}_pair (a, b, v) VALUES (3, 'z', 'new');\n\
         UPDATE {t}_typed SET j = NULL, f = 2.5 WHERE id = 1;\n\
         DELETE FROM {t}_typed WHERE id = 3;\n\
         INSERT INTO {t}_typed (id, s) VALUES (9, 'inserted');\n\
         UPDATE {t}_typed SET s = 'then updated' WHERE id = 9;\n\
         SELECT COUNT(*) FROM {t}_pair",
    ];
    for script in scripts {
        let sql = db.sql(script);
        let before = checksum(db).await;
        let (report, images) = run_with_undo(db, &sql, UndoMode::Required, 1_000).await;
        assert_eq!(
            report.outcome,
            ExecutionOutcome::Committed,
            "{sql}: {report:?}"
        );
        let undo = report.undo.clone().expect("an undo report");
        assert!(undo.available, "{sql}: {undo:?}");
        assert_eq!(undo.rows, images.len() as u64, "{sql}");
        assert_ne!(checksum(db).await, before, "{sql} changed nothing");
        let reverted = revert(db, &images).await;
        assert_eq!(
            reverted.outcome,
            ExecutionOutcome::Committed,
            "the revert of {sql}: {reverted:?}"
        );
        assert_eq!(checksum(db).await, before, "the revert of {sql}");
    }
    // The mixed script: a row inserted then updated in one run has one image, inserted.
    drop_typed_tables(db).await;
}

/// A row changed between the run and its revert is not overwritten: the revert's guard fails
/// and nothing is restored.
pub async fn a_row_changed_since_is_not_overwritten(db: &mut Db) {
    let sql = db.sql("UPDATE {t} SET balance = 5 WHERE id IN (1, 2)");
    let (report, images) = run_with_undo(db, &sql, UndoMode::Required, 1_000).await;
    assert_eq!(report.outcome, ExecutionOutcome::Committed, "{report:?}");
    assert_eq!(images.len(), 2);
    db.exec("UPDATE {t} SET balance = 99 WHERE id = 2").await;
    let reverted = revert(db, &images).await;
    assert_eq!(reverted.outcome, ExecutionOutcome::Guard, "{reverted:?}");
    assert_eq!(db.balance(1).await, 5, "nothing was restored");
    assert_eq!(db.balance(2).await, 99, "the newer value stays");
    let unmatched: Vec<usize> = reverted
        .statements
        .iter()
        .filter(|s| s.rows_affected == 0)
        .map(|s| s.index)
        .collect();
    assert_eq!(unmatched.len(), 1, "{reverted:?}");

    // A deleted row whose key someone took since: not overwritten either.
    let sql = db.sql("DELETE FROM {t} WHERE id IN (7, 8)");
    let (report, images) = run_with_undo(db, &sql, UndoMode::Required, 1_000).await;
    assert_eq!(report.outcome, ExecutionOutcome::Committed, "{report:?}");
    db.exec("INSERT INTO {t} (id, balance) VALUES (8, 77)")
        .await;
    let reverted = revert(db, &images).await;
    assert_eq!(reverted.outcome, ExecutionOutcome::Guard, "{reverted:?}");
    assert_eq!(db.balance(8).await, 77, "the newer row stays");
    assert_eq!(db.scalar("SELECT COUNT(*) FROM {t} WHERE id = 7").await, 0);
}

/// A table without a primary key: refused before any change under `required`; run, with the
/// reason, under `optional`.
pub async fn a_table_without_a_key_is_refused_unless_optional(db: &mut Db) {
    db.exec("CREATE TABLE {t}_nokey (a INT, b INT)").await;
    db.exec("INSERT INTO {t}_nokey (a, b) VALUES (1, 1), (2, 2)")
        .await;
    let sql = db.sql("UPDATE {t} SET balance = 1 WHERE id = 1;\nUPDATE {t}_nokey SET b = 3");
    let (report, images) = run_with_undo(db, &sql, UndoMode::Required, 1_000).await;
    assert_eq!(report.outcome, ExecutionOutcome::NoUndo, "{report:?}");
    let error = report.error.expect("a reason").to_string();
    assert!(error.contains("no primary key"), "{error}");
    assert!(images.is_empty());
    assert!(db.is_untouched().await);
    assert_eq!(db.scalar("SELECT MAX(b) FROM {t}_nokey").await, 2);

    let (report, images) = run_with_undo(db, &sql, UndoMode::Optional, 1_000).await;
    assert_eq!(report.outcome, ExecutionOutcome::Committed, "{report:?}");
    let undo = report.undo.expect("an undo report");
    assert!(!undo.available);
    assert!(undo.reason.unwrap().contains("no primary key"));
    assert!(images.is_empty());
    assert_eq!(db.scalar("SELECT MAX(b) FROM {t}_nokey").await, 3);
    if db.driver != Driver::Sqlite {
        db.exec("DROP TABLE {t}_nokey").await;
    }
}

/// More rows than `undo_limit_rows`: refused with the count, nothing changed.
pub async fn more_rows_than_the_limit_are_refused(db: &mut Db) {
    let sql = db.sql("UPDATE {t} SET balance = 1");
    let (report, _) = run_with_undo(db, &sql, UndoMode::Required, 4).await;
    assert_eq!(report.outcome, ExecutionOutcome::NoUndo, "{report:?}");
    let error = report.error.expect("a reason").to_string();
    assert!(error.contains("more than 4 rows"), "{error}");
    assert!(error.contains("at least 10"), "{error}");
    assert!(db.is_untouched().await);
}

/// Statements whose rows capture cannot find again, and DDL, are refused before any change.
pub async fn statements_capture_cannot_follow_are_refused(db: &mut Db) {
    let mut cases = vec![
        "CREATE TABLE {t}_new (id INT PRIMARY KEY)",
        "UPDATE {t} SET id = id + 100 WHERE id = 1",
        "UPDATE {t} SET ID = 5 WHERE id = 1",
        "WITH x AS (SELECT 1) UPDATE {t} SET balance = 1",
        "SET @x = 1",
    ];
    cases.extend(match db.driver {
        Driver::Postgres => [
            "INSERT INTO {t} (id, balance) VALUES (1, 5) ON CONFLICT (id) DO UPDATE SET balance = 5",
            "UPDATE {t} SET balance = 1 FROM {t} AS o WHERE o.id = {t}.id",
        ],
        Driver::Mysql => [
            "INSERT INTO {t} (id, balance) VALUES (1, 5) ON DUPLICATE KEY UPDATE balance = 5",
            "UPDATE {t} SET balance = 1 LIMIT 2",
        ],
        Driver::Sqlite => [
            "INSERT OR REPLACE INTO {t} (id, balance) VALUES (1, 5)",
            "REPLACE INTO {t} (id, balance) VALUES (1, 5)",
        ],
    });
    for case in cases {
        let sql = db.sql(case);
        let (report, _) = run_with_undo(db, &sql, UndoMode::Required, 1_000).await;
        assert_eq!(
            report.outcome,
            ExecutionOutcome::NoUndo,
            "{sql}: {report:?}"
        );
        assert!(report.statements.is_empty(), "{sql}: nothing ran");
        assert!(db.is_untouched().await, "{sql}");
    }
}

/// A trigger that changes another table: capture did not see those rows, so there is no
/// undo (refused when required).
pub async fn a_trigger_capture_cannot_see_makes_undo_unavailable(db: &mut Db) {
    db.exec("CREATE TABLE {t}_log (id BIGINT)").await;
    match db.driver {
        Driver::Postgres => {
            db.exec(
                "CREATE FUNCTION {t}_f() RETURNS trigger LANGUAGE plpgsql AS \
                 $$ BEGIN INSERT INTO {t}_log VALUES (NEW.id); RETURN NEW; END $$",
            )
            .await;
            db.exec(
                "CREATE TRIGGER {t}_tr AFTER UPDATE ON {t} FOR EACH ROW EXECUTE FUNCTION {t}_f()",
            )
            .await;
        }
        Driver::Mysql => {
            db.exec(
                "CREATE TRIGGER {t}_tr AFTER UPDATE ON {t} FOR EACH ROW \
                 INSERT INTO {t}_log VALUES (NEW.id)",
            )
            .await;
        }
        Driver::Sqlite => {
            db.exec(
                "CREATE TRIGGER {t}_tr AFTER UPDATE ON {t} BEGIN \
                 INSERT INTO {t}_log VALUES (NEW.id); END",
            )
            .await;
        }
    }
    let sql = db.sql("UPDATE {t} SET balance = 1 WHERE id = 1");
    let (report, _) = run_with_undo(db, &sql, UndoMode::Required, 1_000).await;
    assert_eq!(report.outcome, ExecutionOutcome::NoUndo, "{report:?}");
    assert!(db.is_untouched().await);
    let (report, images) = run_with_undo(db, &sql, UndoMode::Optional, 1_000).await;
    assert_eq!(report.outcome, ExecutionOutcome::Committed, "{report:?}");
    assert!(!report.undo.expect("an undo report").available);
    assert!(images.is_empty());
    if db.driver != Driver::Sqlite {
        db.exec("DROP TABLE {t}_log").await;
        if db.driver == Driver::Postgres {
            db.exec("DROP TRIGGER {t}_tr ON {t}").await;
            db.exec("DROP FUNCTION {t}_f()").await;
        }
    }
}

/// What the same run does to one row is its net effect: a row updated twice has one image with
/// its first before and last after; an UPDATE that changes nothing leaves nothing to undo; a
/// revert can itself be reverted; MySQL's ORDER BY … LIMIT is captured.
pub async fn net_effects_no_ops_and_the_revert_of_a_revert(db: &mut Db) {
    let sql = db.sql(
        "UPDATE {t} SET balance = 1 WHERE id = 3;\nUPDATE {t} SET balance = balance + 1 WHERE id = 3",
    );
    let before_first = checksum(db).await;
    let (report, first) = run_with_undo(db, &sql, UndoMode::Required, 100).await;
    assert_eq!(report.outcome, ExecutionOutcome::Committed, "{report:?}");
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!(first[0].statement, 0);
    assert_eq!(db.balance(3).await, 2);
    let after_first = checksum(db).await;

    let noop = db.sql("UPDATE {t} SET balance = balance WHERE id = 4");
    let (report, images) = run_with_undo(db, &noop, UndoMode::Required, 100).await;
    assert_eq!(report.outcome, ExecutionOutcome::Committed, "{report:?}");
    assert!(images.is_empty(), "{images:?}");
    let undo = report.undo.expect("an undo report");
    assert!(!undo.available && undo.reason.unwrap().contains("no rows"));

    // The revert, run with undo itself; then the revert of the revert.
    let statements = revert_sql(db.driver, &first);
    let text: Vec<&str> = statements.iter().map(|s| s.sql.as_str()).collect();
    let text = text.join(";\n");
    let (report, reverting) = run_with_undo(db, &text, UndoMode::Required, 100).await;
    assert_eq!(
        report.outcome,
        ExecutionOutcome::Committed,
        "{text}: {report:?}"
    );
    assert_eq!(checksum(db).await, before_first, "reverted");
    assert_eq!(reverting.len(), 1);
    let again = revert(db, &reverting).await;
    assert_eq!(again.outcome, ExecutionOutcome::Committed, "{again:?}");
    assert_eq!(checksum(db).await, after_first, "the revert reverted");

    if db.driver == Driver::Mysql {
        let limited = db.sql("UPDATE {t} SET balance = 9 ORDER BY id DESC LIMIT 2");
        let before = checksum(db).await;
        let (report, images) = run_with_undo(db, &limited, UndoMode::Required, 100).await;
        assert_eq!(report.outcome, ExecutionOutcome::Committed, "{report:?}");
        assert_eq!(images.len(), 2);
        assert_eq!(db.balance(10).await, 9);
        let reverted = revert(db, &images).await;
        assert_eq!(
            reverted.outcome,
            ExecutionOutcome::Committed,
            "{reverted:?}"
        );
        assert_eq!(checksum(db).await, before);
    }
}

/// The rehearsal says in advance whether undo will be possible, and why not.
pub async fn the_rehearsal_says_whether_undo_is_possible(db: &mut Db) {
    db.exec("CREATE TABLE {t}_nokey (a INT)").await;
    let cases: [(&str, u64, Option<&str>); 3] = [
        ("UPDATE {t} SET balance = 1 WHERE id <= 3", 100, None),
        (
            "UPDATE {t} SET balance = 1 WHERE id <= 3",
            2,
            Some("more than the target's undo_limit_rows (2)"),
        ),
        (
            "UPDATE {t}_nokey SET a = 1",
            100,
            Some("has no primary key"),
        ),
    ];
    for (template, limit, reason) in cases {
        let sql = db.sql(template);
        let options = RehearsalOptions {
            undo_limit_rows: Some(limit),
            ..RehearsalOptions::new(Limits::default())
        };
        let rehearsal = rehearse(db.target(), &sql, options).await;
        let check = rehearsal.undo.clone().expect("asked");
        match reason {
            None => assert!(check.possible, "{sql}: {check:?}"),
            Some(words) => {
                assert!(!check.possible, "{sql}");
                let said = check.reason.unwrap_or_default();
                assert!(said.contains(words), "{sql}: {said}");
            }
        }
    }
    assert!(db.is_untouched().await);
    if db.driver != Driver::Sqlite {
        db.exec("DROP TABLE {t}_nokey").await;
    }
}
