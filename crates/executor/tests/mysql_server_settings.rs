//! The executor on a MariaDB/MySQL server whose global settings would make it read SQL
//! otherwise than the analyzer (`COUNTERSIGN_TEST_MYSQL_URL`). A binary of its own, with one
//! test: it changes the server's global `sql_mode` and general log for a moment, which no other
//! test may see (cargo runs test binaries one after another).

mod common;

use common::{Db, ignore_txid, plan};
use countersign_executor::{ExecutionOutcome, execute};
use sqlx::{AnyConnection, AssertSqlSafe};

async fn exec(conn: &mut AnyConnection, sql: &str) {
    sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
        .execute(conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// With `NO_BACKSLASH_ESCAPES` and `ANSI_QUOTES` in the server's global mode, and no `SET` in
/// the script, the run still reads `'a\'; UPDATE … -- '` as one string, as the analyzer does;
/// and the general log shows the server received the approved text byte for byte.
#[tokio::test]
async fn the_servers_global_lexing_modes_are_pinned_and_the_text_arrives_whole() {
    let Some(mut db) = Db::mysql().await else {
        return;
    };
    let mut admin = db.other_connection().await;
    let saved: (String, String, String) = sqlx::query_as(
        "SELECT CAST(@@GLOBAL.sql_mode AS CHAR), CAST(@@GLOBAL.general_log AS CHAR), \
         CAST(@@GLOBAL.log_output AS CHAR)",
    )
    .fetch_one(&mut admin)
    .await
    .expect("the global settings");
    exec(
        &mut admin,
        "SET GLOBAL sql_mode = CONCAT_WS(',', NULLIF(@@GLOBAL.sql_mode, ''), \
         'NO_BACKSLASH_ESCAPES', 'ANSI_QUOTES')",
    )
    .await;
    exec(&mut admin, "SET GLOBAL log_output = 'TABLE'").await;
    exec(&mut admin, "SET GLOBAL general_log = 1").await;

    let script = db.script(
        "SELECT 'a\\'; UPDATE {t} SET balance = 1 WHERE id > 0; -- '  /* one string */",
        1,
    );
    let report = execute(db.target(), plan(&script), ignore_txid).await;
    let connection = report.identity.session.clone().unwrap_or_default();
    let received: Result<Vec<String>, _> = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT CAST(argument AS CHAR) FROM mysql.general_log \
         WHERE thread_id = {} AND command_type = 'Query'",
        connection.parse::<u64>().unwrap_or(0)
    )))
    .fetch_all(&mut admin)
    .await;

    exec(&mut admin, &format!("SET GLOBAL general_log = {}", saved.1)).await;
    exec(
        &mut admin,
        &format!("SET GLOBAL log_output = '{}'", saved.2),
    )
    .await;
    exec(&mut admin, "TRUNCATE TABLE mysql.general_log").await;
    sqlx::query("SET GLOBAL sql_mode = ?")
        .bind(&saved.0)
        .execute(&mut admin)
        .await
        .expect("restore sql_mode");

    assert_eq!(report.outcome, ExecutionOutcome::Committed, "{report:?}");
    assert_eq!(report.statements.len(), 1, "one SELECT of one string");
    assert!(db.is_untouched().await, "no UPDATE ran");
    let received = received.expect("the general log");
    assert!(
        received.contains(&script.sql),
        "the approved text, byte for byte, among {received:#?}"
    );
    db.clean_up().await;
}
