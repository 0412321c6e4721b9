//! The two migration sets (`migrations/sqlite`, `migrations/postgres`) must build the same
//! schema: the same tables with the same columns. Needs `COUNTERSIGN_TEST_POSTGRES_URL`.

use std::collections::BTreeSet;

use countersign_store::testing::TestStore;
use sqlx::{Connection, PgConnection, SqliteConnection};

/// `(table, column)` of every table of the app's own (not the migrator's, not SQLite's).
type Columns = BTreeSet<(String, String)>;

fn ours(table: &str) -> bool {
    !table.starts_with("_sqlx") && !table.starts_with("sqlite_")
}

async fn sqlite_columns(url: &str) -> Columns {
    let mut c = SqliteConnection::connect(url).await.expect("sqlite");
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p \
         WHERE m.type = 'table'",
    )
    .fetch_all(&mut c)
    .await
    .expect("columns");
    rows.into_iter().filter(|(t, _)| ours(t)).collect()
}

async fn postgres_columns(url: &str) -> Columns {
    let mut c = PgConnection::connect(url).await.expect("postgres");
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text FROM information_schema.columns \
         WHERE table_schema = 'public'",
    )
    .fetch_all(&mut c)
    .await
    .expect("columns");
    rows.into_iter().filter(|(t, _)| ours(t)).collect()
}

#[tokio::test]
async fn both_backends_have_the_same_tables_and_columns() {
    let Some(pg) = TestStore::postgres().await else {
        return;
    };
    let lite = TestStore::sqlite().await;
    let on_sqlite = sqlite_columns(&lite.url).await;
    let on_postgres = postgres_columns(&pg.url).await;
    assert!(!on_sqlite.is_empty(), "the SQLite store has tables");
    let only_sqlite: Vec<_> = on_sqlite.difference(&on_postgres).collect();
    let only_postgres: Vec<_> = on_postgres.difference(&on_sqlite).collect();
    assert!(
        only_sqlite.is_empty() && only_postgres.is_empty(),
        "only on SQLite: {only_sqlite:?}; only on PostgreSQL: {only_postgres:?}"
    );
    lite.cleanup().await;
    pg.cleanup().await;
}
