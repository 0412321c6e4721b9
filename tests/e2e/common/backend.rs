//! Targets for the end-to-end tests: a SQLite file always, and the PostgreSQL and MariaDB
//! servers whose URLs the environment gives (`COUNTERSIGN_TEST_POSTGRES_URL`,
//! `COUNTERSIGN_TEST_MYSQL_URL`), each with a table of its own.

use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::{AnyConnection, AssertSqlSafe, Connection, Row};

/// A target database for a test, with a fresh table of its own.
#[derive(Clone)]
pub struct Backend {
    pub name: &'static str,
    pub driver: &'static str,
    pub url: String,
    pub table: String,
    _dir: Option<std::sync::Arc<tempfile::TempDir>>,
}

pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

impl Backend {
    pub fn sqlite() -> Backend {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("target.db").display()
        );
        Backend {
            name: "lite",
            driver: "sqlite",
            url,
            table: unique("accounts"),
            _dir: Some(std::sync::Arc::new(dir)),
        }
    }

    /// Another database of the same server (its URL), with the same table name.
    pub fn with_url(mut self, url: String) -> Backend {
        self.url = url;
        self
    }

    /// The same database with the table `table` (e.g. a copy of another target's).
    pub fn with_table(mut self, table: &str) -> Backend {
        table.clone_into(&mut self.table);
        self
    }

    pub fn from_env(var: &str, name: &'static str, driver: &'static str) -> Option<Backend> {
        match std::env::var(var) {
            Ok(url) => Some(Backend {
                name,
                driver,
                url,
                table: unique("cs_accounts"),
                _dir: None,
            }),
            Err(_) => {
                eprintln!("skipped on {driver}: {var} is not set");
                None
            }
        }
    }

    /// SQLite always; the servers whose URL the environment gives.
    pub fn all() -> Vec<Backend> {
        let mut all = vec![Backend::sqlite()];
        all.extend(Backend::from_env(
            "COUNTERSIGN_TEST_POSTGRES_URL",
            "pg",
            "postgres",
        ));
        all.extend(Backend::from_env(
            "COUNTERSIGN_TEST_MYSQL_URL",
            "my",
            "mysql",
        ));
        all
    }

    pub fn target_toml(&self, extra: &str) -> String {
        format!(
            "[[target]]\nname = \"{}\"\ndriver = \"{}\"\nurl = \"{}\"\n{extra}\n",
            self.name, self.driver, self.url
        )
    }

    pub async fn conn(&self) -> AnyConnection {
        sqlx::any::install_default_drivers();
        AnyConnection::connect(&self.url)
            .await
            .expect("target connection")
    }

    pub async fn exec(&self, sql: String) {
        let mut c = self.conn().await;
        sqlx::raw_sql(AssertSqlSafe(sql))
            .execute(&mut c)
            .await
            .expect("setup SQL");
        c.close().await.ok();
    }

    /// A table `id, v` with rows 1..=n, each `v = 0`.
    pub async fn create_accounts(&self, n: i64) {
        self.exec(format!(
            "CREATE TABLE {} (id INTEGER PRIMARY KEY, v INTEGER NOT NULL)",
            self.table
        ))
        .await;
        let values: Vec<String> = (1..=n).map(|i| format!("({i}, 0)")).collect();
        self.exec(format!(
            "INSERT INTO {} (id, v) VALUES {}",
            self.table,
            values.join(", ")
        ))
        .await;
    }

    pub async fn values(&self) -> Vec<i64> {
        self.column("v").await
    }

    /// The ids of the table, in order.
    pub async fn ids(&self) -> Vec<i64> {
        self.column("id").await
    }

    /// One integer column of the table, ordered by id.
    async fn column(&self, name: &str) -> Vec<i64> {
        let mut c = self.conn().await;
        let int = if self.driver == "mysql" {
            "SIGNED"
        } else {
            "BIGINT"
        };
        let sql = format!(
            "SELECT CAST({name} AS {int}) AS n FROM {} ORDER BY id",
            self.table
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .fetch_all(&mut c)
            .await
            .expect("select");
        c.close().await.ok();
        rows.iter()
            .map(|r| r.try_get::<i64, _>("n").expect("n"))
            .collect()
    }

    pub async fn drop_table(&self) {
        if self.driver != "sqlite" {
            self.exec(format!("DROP TABLE IF EXISTS {}", self.table))
                .await;
        }
    }
}
