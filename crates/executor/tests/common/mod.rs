//! Real databases for the executor's tests: a fresh SQLite file, or a fresh table on the
//! PostgreSQL / MariaDB server named by `COUNTERSIGN_TEST_POSTGRES_URL` /
//! `COUNTERSIGN_TEST_MYSQL_URL` (a test whose variable is unset says so and passes).
//!
//! Each test gets its own table `cs_exec_<pid>_<n>`, seeded with ten accounts (`id` 1–10,
//! `balance` 0), and drops it when it passes (a failed test leaves it for inspection). The
//! fixture's own queries go through sqlx's `Any` driver on a separate connection.

#![allow(dead_code)] // each test binary uses its own part of the fixture

pub mod rehearsals;
pub mod scenarios;
pub mod undo;

/// One test per scenario of [`scenarios`] that takes only the database, on the database `db`
/// (an expression giving `Option<Db>`; `None` skips): the executor's twin of the store's
/// `store_tests!`. Each driver's test file names the scenarios it runs.
#[macro_export]
macro_rules! driver_tests {
    ($db:expr; $($scenario:ident),* $(,)?) => {
        driver_tests!($db; in scenarios; $($scenario),*);
    };
    ($db:expr; in $module:ident; $($scenario:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $scenario() {
                let Some(mut db) = $db else {
                    return;
                };
                common::$module::$scenario(&mut db).await;
                db.clean_up().await;
            }
        )*
    };
}

use std::convert::Infallible;
use std::sync::Once;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use countersign_executor::{Driver, Limits, Plan, RunIdentity, Target};
use sqlx::AnyConnection;
use sqlx::{AssertSqlSafe, Connection};

pub const POSTGRES_ENV: &str = "COUNTERSIGN_TEST_POSTGRES_URL";
pub const MYSQL_ENV: &str = "COUNTERSIGN_TEST_MYSQL_URL";

/// The rows each fresh table starts with.
pub const SEEDED_ROWS: i64 = 10;

/// A table of accounts on a real database, with a connection of the fixture's own.
pub struct Db {
    pub driver: Driver,
    pub url: String,
    pub table: String,
    admin: AnyConnection,
    _dir: Option<tempfile::TempDir>,
}

impl Db {
    /// A fresh SQLite file in a temporary directory.
    pub async fn sqlite() -> Db {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("target.db");
        let path = path.to_str().expect("a UTF-8 temporary path");
        let admin = connect(&format!("sqlite://{path}?mode=rwc")).await;
        Db::seed(Driver::Sqlite, format!("sqlite://{path}"), admin, Some(dir)).await
    }

    /// A fresh table on the PostgreSQL server, or `None` (test skipped) without one.
    pub async fn postgres() -> Option<Db> {
        let url = server_url(POSTGRES_ENV)?;
        let admin = connect(&url).await;
        Some(Db::seed(Driver::Postgres, url, admin, None).await)
    }

    /// A fresh table on the MySQL/MariaDB server, or `None` (test skipped) without one.
    pub async fn mysql() -> Option<Db> {
        let url = server_url(MYSQL_ENV)?;
        let admin = connect(&url).await;
        Some(Db::seed(Driver::Mysql, url, admin, None).await)
    }

    async fn seed(
        driver: Driver,
        url: String,
        admin: AnyConnection,
        dir: Option<tempfile::TempDir>,
    ) -> Db {
        let mut db = Db {
            driver,
            url,
            table: unique_name(),
            admin,
            _dir: dir,
        };
        let table = db.table.clone();
        db.exec(&format!(
            "CREATE TABLE {table} (id BIGINT PRIMARY KEY, balance BIGINT NOT NULL)"
        ))
        .await;
        let rows: Vec<String> = (1..=SEEDED_ROWS).map(|id| format!("({id}, 0)")).collect();
        db.exec(&format!(
            "INSERT INTO {table} (id, balance) VALUES {}",
            rows.join(", ")
        ))
        .await;
        db
    }

    pub fn target(&self) -> Target<'_> {
        Target {
            driver: self.driver,
            url: &self.url,
        }
    }

    /// `template` with every `{t}` replaced by the test's table name.
    pub fn sql(&self, template: &str) -> String {
        template.replace("{t}", &self.table)
    }

    /// A script of the statements of `templates` on this test's table, one a line.
    pub fn statements(&self, templates: &[&str]) -> Script {
        let statements: Vec<String> = templates.iter().map(|t| self.sql(t)).collect();
        Script {
            sql: statements.join(";\n"),
            count: statements.len(),
        }
    }

    /// A script as it is (with `{t}` for the table), of `count` statements as analyzed.
    pub fn script(&self, template: &str, count: usize) -> Script {
        Script {
            sql: self.sql(template),
            count,
        }
    }

    /// Runs `sql` (with `{t}` for the table) on the fixture's connection.
    pub async fn exec(&mut self, sql: &str) {
        let sql = self.sql(sql);
        sqlx::raw_sql(AssertSqlSafe(sql.clone()))
            .execute(&mut self.admin)
            .await
            .unwrap_or_else(|e| panic!("fixture statement {sql:?} failed: {e}"));
    }

    /// One integer from `sql` (with `{t}` for the table).
    pub async fn scalar(&mut self, sql: &str) -> i64 {
        let sql = self.sql(sql);
        sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql.clone()))
            .fetch_one(&mut self.admin)
            .await
            .unwrap_or_else(|e| panic!("fixture query {sql:?} failed: {e}"))
    }

    /// One text from `sql` (with `{t}` for the table).
    pub async fn text(&mut self, sql: &str) -> String {
        let sql = self.sql(sql);
        sqlx::query_scalar::<_, String>(AssertSqlSafe(sql.clone()))
            .fetch_one(&mut self.admin)
            .await
            .unwrap_or_else(|e| panic!("fixture query {sql:?} failed: {e}"))
    }

    /// Every row of the table, `(id, balance)` by id: what a rehearsal must leave as it was.
    pub async fn snapshot(&mut self) -> Vec<(i64, i64)> {
        let sql = self.sql("SELECT id, balance FROM {t} ORDER BY id");
        sqlx::query_as::<_, (i64, i64)>(AssertSqlSafe(sql))
            .fetch_all(&mut self.admin)
            .await
            .expect("the fixture reads its table")
    }

    /// A checksum of every table of this test (its table and those named `<table>_…`; on
    /// SQLite every table of the file), shape and rows: equal before and after means nothing
    /// changed.
    pub async fn checksum(&mut self) -> String {
        let list = match self.driver {
            Driver::Sqlite => "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name",
            Driver::Postgres => {
                "SELECT table_name::text FROM information_schema.tables \
                 WHERE table_schema = current_schema() ORDER BY 1"
            }
            Driver::Mysql => {
                "SELECT CAST(table_name AS CHAR) FROM information_schema.tables \
                 WHERE table_schema = DATABASE() ORDER BY 1"
            }
        };
        let names: Vec<String> = sqlx::query_scalar(list)
            .fetch_all(&mut self.admin)
            .await
            .expect("the fixture lists its tables");
        let own = format!("{}_", self.table);
        let mut sum = String::new();
        for name in names {
            if self.driver != Driver::Sqlite && name != self.table && !name.starts_with(&own) {
                continue;
            }
            let sql = match self.driver {
                Driver::Postgres => format!(
                    "SELECT (SELECT string_agg(column_name || ' ' || data_type, ',' \
                     ORDER BY ordinal_position) FROM information_schema.columns \
                     WHERE table_schema = current_schema() AND table_name = '{name}') \
                     || ':' || COALESCE((SELECT md5(string_agg(x::text, '|' ORDER BY x::text)) \
                     FROM {name} x), '')"
                ),
                Driver::Mysql => {
                    let columns: Vec<(String, String)> = sqlx::query_as(AssertSqlSafe(format!(
                        "SELECT CAST(column_name AS CHAR), CAST(column_type AS CHAR) \
                         FROM information_schema.columns WHERE table_schema = DATABASE() \
                         AND table_name = '{name}' ORDER BY ordinal_position"
                    )))
                    .fetch_all(&mut self.admin)
                    .await
                    .expect("the fixture reads a table's columns");
                    let shape: Vec<String> =
                        columns.iter().map(|(c, t)| format!("{c} {t}")).collect();
                    let row: Vec<String> = columns
                        .iter()
                        .map(|(c, _)| format!("QUOTE(`{c}`)"))
                        .collect();
                    format!(
                        "SELECT CONCAT('{}:', COALESCE(MD5(GROUP_CONCAT(CONCAT_WS(',', {}) \
                         ORDER BY 1 SEPARATOR '|')), '')) FROM `{name}`",
                        shape.join(","),
                        row.join(", ")
                    )
                }
                Driver::Sqlite => {
                    let columns: Vec<String> = sqlx::query_scalar(AssertSqlSafe(format!(
                        "SELECT name FROM pragma_table_info('{name}') ORDER BY cid"
                    )))
                    .fetch_all(&mut self.admin)
                    .await
                    .expect("the fixture reads a table's columns");
                    let row: Vec<String> =
                        columns.iter().map(|c| format!("quote(\"{c}\")")).collect();
                    format!(
                        "SELECT '{}:' || COALESCE((SELECT group_concat(r, '|') FROM \
                         (SELECT {} AS r FROM \"{name}\" ORDER BY 1)), '')",
                        columns.join(","),
                        row.join(" || ',' || ")
                    )
                }
            };
            let table_sum: String = sqlx::query_scalar(AssertSqlSafe(sql.clone()))
                .fetch_one(&mut self.admin)
                .await
                .unwrap_or_else(|e| panic!("fixture checksum {sql:?} failed: {e}"));
            sum.push_str(&format!("{name}={table_sum};"));
        }
        sum
    }

    pub async fn balance(&mut self, id: i64) -> i64 {
        self.scalar(&format!("SELECT balance FROM {{t}} WHERE id = {id}"))
            .await
    }

    pub async fn count(&mut self) -> i64 {
        self.scalar("SELECT COUNT(*) FROM {t}").await
    }

    /// Whether the table is exactly as seeded.
    pub async fn is_untouched(&mut self) -> bool {
        let changed = self
            .scalar("SELECT COUNT(*) FROM {t} WHERE balance <> 0")
            .await;
        changed == 0 && self.count().await == SEEDED_ROWS
    }

    /// A second connection of the fixture's, e.g. to hold a lock against the executor.
    pub async fn other_connection(&self) -> AnyConnection {
        let url = match self.driver {
            Driver::Sqlite => format!("{}?mode=rw", self.url),
            _ => self.url.clone(),
        };
        connect(&url).await
    }

    /// Drops the table (a SQLite file goes with its directory).
    pub async fn clean_up(mut self) {
        if self.driver != Driver::Sqlite {
            self.exec("DROP TABLE {t}").await;
        }
        let _ = self.admin.close().await;
    }
}

/// The URL in `var`, or `None` after saying the test is skipped.
fn server_url(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            println!("skipped: {var} is not set");
            None
        }
    }
}

async fn connect(url: &str) -> AnyConnection {
    static DRIVERS: Once = Once::new();
    DRIVERS.call_once(sqlx::any::install_default_drivers);
    AnyConnection::connect(url)
        .await
        .unwrap_or_else(|e| panic!("the test database is not reachable: {e}"))
}

fn unique_name() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "cs_exec_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// An approved text and how many statements the analysis saw in it.
pub struct Script {
    pub sql: String,
    pub count: usize,
}

/// A plan with no guard and no limits.
pub fn plan(script: &Script) -> Plan<'_> {
    Plan::new(&script.sql, script.count)
}

/// The limits of a test that expects a timeout.
pub fn limits(statement_timeout_ms: u64, lock_timeout_ms: u64) -> Limits {
    Limits {
        statement_timeout: Some(Duration::from_millis(statement_timeout_ms)),
        lock_timeout: Some(Duration::from_millis(lock_timeout_ms)),
    }
}

/// A `record` that records nothing.
pub async fn ignore_txid(_identity: RunIdentity) -> Result<(), Infallible> {
    Ok(())
}
