//! Property: for random scripts — comments anywhere, `;`, quotes and comment markers inside
//! strings and comments, dollar quoting, odd whitespace — the PostgreSQL server receives the
//! approved text byte for byte, and splits it into as many statements as the analyzer saw
//! (`COUNTERSIGN_TEST_POSTGRES_URL`). The script itself records what the server received
//! (`current_query()`).

mod common;

use common::{Db, ignore_txid, plan};
use countersign_analyzer::{Dialect, analyze};
use countersign_executor::{ExecutionOutcome, execute};
use proptest::prelude::*;

/// Filler between tokens: whitespace and comments that carry SQL's own punctuation.
fn filler() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        " ",
        "  ",
        "\t",
        "\n",
        "\r\n",
        " /* ; */ ",
        " /* it's -- */ ",
        " /* nested /* ; */ still */ ",
        " -- ; ' \" $$\n",
        "\n-- WHERE 1=1;\n",
        " /**/ ",
    ])
    .prop_map(String::from)
}

/// A string literal whose text holds what a naive splitter would stumble on.
fn literal() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "'a;b'",
        "'it''s'",
        "'-- not a comment'",
        "'/* not a comment */'",
        "'back\\slash'",
        "$$;$$",
        "$x$ ' ; $x$",
        "'é ü ✓'",
        "''",
    ])
    .prop_map(String::from)
}

/// One statement on the test's table `{t}`.
fn statement() -> impl Strategy<Value = String> {
    (1..=10_i64, 0..100_i64, literal(), filler(), filler(), filler()).prop_map(
        |(id, n, lit, f1, f2, f3)| {
            format!(
                "UPDATE{f1}{{t}} SET balance = balance + {n}{f2}WHERE id = {id} AND {lit} IS NOT NULL{f3}"
            )
        },
    )
}

fn script() -> impl Strategy<Value = (Vec<String>, String, String)> {
    (prop::collection::vec(statement(), 1..5), filler(), filler())
}

#[test]
fn the_server_receives_random_scripts_byte_for_byte() {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let Some(mut db) = runtime.block_on(Db::postgres()) else {
        return;
    };
    runtime.block_on(db.exec("CREATE TABLE {t}_sent (q TEXT)"));
    let cell = std::cell::RefCell::new(db);
    let config = ProptestConfig {
        cases: 24,
        ..ProptestConfig::default()
    };
    let mut runner = proptest::test_runner::TestRunner::new(config);
    let result = runner.run(&script(), |(statements, lead, tail)| {
        let mut db = cell.borrow_mut();
        let sql = db.sql(&format!(
            "{lead}{};\nINSERT INTO {{t}}_sent SELECT current_query(){tail}",
            statements.join(";")
        ));
        let analyzed = analyze(&sql, Dialect::Postgres).statements.len();
        prop_assert_eq!(
            analyzed,
            statements.len() + 1,
            "the analyzer's split of {}",
            sql
        );
        let script = common::Script {
            sql: sql.clone(),
            count: analyzed,
        };
        let received = runtime.block_on(async {
            db.exec("DELETE FROM {t}_sent").await;
            let report = execute(db.target(), plan(&script), ignore_txid).await;
            assert_eq!(report.outcome, ExecutionOutcome::Committed, "{report:?}");
            db.text("SELECT q FROM {t}_sent").await
        });
        prop_assert_eq!(received, sql);
        Ok(())
    });
    let mut db = cell.into_inner();
    runtime.block_on(db.exec("DROP TABLE {t}_sent"));
    runtime.block_on(db.clean_up());
    if let Err(failure) = result {
        panic!("{failure}");
    }
}
