//! Throw-away stores for tests: a fresh SQLite file, or a fresh PostgreSQL database on the server
//! named by `COUNTERSIGN_TEST_POSTGRES_URL` (skipped, with the reason printed, when it is unset).
//!
//! A PostgreSQL test database goes when its [`TestStore`] does — at [`TestStore::cleanup`], or
//! when a panicking test drops it — and the first store of a test process sweeps away those a
//! killed test process left behind (their names carry the process id).

use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::{AssertSqlSafe, Connection, PgConnection};

use crate::{Store, StoreError};

/// The environment variable naming a PostgreSQL server for tests.
pub const POSTGRES_URL_ENV: &str = "COUNTERSIGN_TEST_POSTGRES_URL";

/// A store made for one test. Call [`TestStore::cleanup`] at the end of the test; a test that
/// panics before it still has its database dropped.
pub struct TestStore {
    pub store: Store,
    /// The URL of the store, for tests that open it a second time (a "restarted server").
    pub url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres { admin_url: String, database: String },
    Done,
}

impl Drop for TestStore {
    fn drop(&mut self) {
        if let Cleanup::Postgres {
            admin_url,
            database,
        } = std::mem::replace(&mut self.cleanup, Cleanup::Done)
        {
            // Drop runs outside any async context we could use: drop the database from a
            // thread of its own, with a runtime of its own.
            let _ = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build();
                if let Ok(runtime) = runtime {
                    runtime.block_on(drop_database(&admin_url, &database));
                }
            })
            .join();
        }
    }
}

/// Drops `database`, best effort: one left behind only costs disk space on a test server.
async fn drop_database(admin_url: &str, database: &str) {
    if let Ok(mut admin) = PgConnection::connect(admin_url).await {
        let drop = format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)");
        let _ = sqlx::query(AssertSqlSafe(drop)).execute(&mut admin).await;
        admin.close().await.ok();
    }
}

/// Drops the test databases of test processes that are gone (once per process).
async fn sweep_stale(admin: &mut PgConnection, admin_url: &str) {
    static SWEPT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if SWEPT.swap(true, Ordering::SeqCst) {
        return;
    }
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT datname::text FROM pg_database WHERE datname LIKE 'cs\\_test\\_%'",
    )
    .fetch_all(&mut *admin)
    .await
    .unwrap_or_default();
    for name in names {
        let pid = name.split('_').nth(2).and_then(|p| p.parse::<u32>().ok());
        let alive = pid.is_some_and(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists());
        if !alive && pid.is_some() {
            drop_database(admin_url, &name).await;
        }
    }
}

impl TestStore {
    /// A migrated store in a new SQLite file.
    pub async fn sqlite() -> TestStore {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let url = format!("sqlite://{}", dir.path().join("store.db").display());
        let store = Store::open(&url).await.expect("a fresh SQLite store");
        TestStore {
            store,
            url,
            cleanup: Cleanup::Sqlite(dir),
        }
    }

    /// A migrated store in a new PostgreSQL database, or `None` (with the reason printed) when
    /// [`POSTGRES_URL_ENV`] is unset.
    pub async fn postgres() -> Option<TestStore> {
        let Ok(admin_url) = std::env::var(POSTGRES_URL_ENV) else {
            eprintln!(
                "skipped: {POSTGRES_URL_ENV} is not set, so there is no PostgreSQL to test on"
            );
            return None;
        };
        let database = unique_name();
        let mut admin = PgConnection::connect(&admin_url).await.unwrap_or_else(|e| {
            panic!("{POSTGRES_URL_ENV} is set but PostgreSQL is unreachable: {e}")
        });
        sweep_stale(&mut admin, &admin_url).await;
        sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {database}")))
            .execute(&mut admin)
            .await
            .expect("CREATE DATABASE for a test");
        admin.close().await.ok();
        let url = with_database(&admin_url, &database);
        let store = Store::open(&url).await.expect("a fresh PostgreSQL store");
        Some(TestStore {
            store,
            url,
            cleanup: Cleanup::Postgres {
                admin_url,
                database,
            },
        })
    }

    /// Closes the store and removes its database.
    pub async fn cleanup(mut self) {
        self.store.close().await;
        if let Cleanup::Postgres {
            admin_url,
            database,
        } = std::mem::replace(&mut self.cleanup, Cleanup::Done)
        {
            drop_database(&admin_url, &database).await;
        }
    }

    /// Opens a second handle on the same store (as a restarted or second server would).
    pub async fn reopen(&self) -> Result<Store, StoreError> {
        Store::open(&self.url).await
    }
}

impl Store {
    /// Every audit event, oldest first (tests only: exports stream instead).
    pub async fn audit_events_for_test(
        &self,
    ) -> Result<Vec<countersign_core::audit::AuditEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, at, actor, action, request_id, revision, details, prev_hash, hash \
             FROM audit_events ORDER BY seq",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(crate::audit::event_from_row).collect()
    }

    /// Runs a statement directly, bypassing the store's API: for tests that tamper.
    pub async fn raw_execute_for_test(&self, sql: &'static str) -> Result<u64, StoreError> {
        Ok(sqlx::query(sql).execute(&self.pool).await?.rows_affected())
    }
}

fn unique_name() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "cs_test_{}_{}_{}",
        std::process::id(),
        nanos,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// `postgres://u@h:5432/test?x=y` with its database replaced by `database`.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let root = match base[authority_end..].find('/') {
        Some(i) => &base[..authority_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{root}/{database}?{q}"),
        None => format!("{root}/{database}"),
    }
}

/// Defines each test twice: `sqlite::name` (always) and `postgres::name` (when PostgreSQL is
/// configured), so one suite runs unchanged on both backends.
#[macro_export]
macro_rules! store_tests {
    ($(async fn $name:ident($store:ident: $ty:ty) $body:block)*) => {
        mod sqlite {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    let db = $crate::testing::TestStore::sqlite().await;
                    let $store: $ty = db.store.clone();
                    $body
                    db.cleanup().await;
                }
            )*
        }
        mod postgres {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    let Some(db) = $crate::testing::TestStore::postgres().await else { return };
                    let $store: $ty = db.store.clone();
                    $body
                    db.cleanup().await;
                }
            )*
        }
    };
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn replaces_the_database_keeping_the_options() {
        assert_eq!(
            with_database("postgres://p@h:5432/test", "x"),
            "postgres://p@h:5432/x"
        );
        assert_eq!(
            with_database("postgres://p@h/test?sslmode=disable", "x"),
            "postgres://p@h/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://p@h", "x"), "postgres://p@h/x");
    }
}

#[cfg(test)]
mod drop_tests {
    use super::*;

    /// A test that panics before its cleanup still has its PostgreSQL database dropped.
    #[tokio::test]
    async fn a_panicking_test_leaves_no_database_behind() {
        let Ok(admin_url) = std::env::var(POSTGRES_URL_ENV) else {
            eprintln!("skipped: {POSTGRES_URL_ENV} is not set");
            return;
        };
        let (tx, rx) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            let db = TestStore::postgres().await.expect("a store");
            let name = db.url.rsplit('/').next().unwrap_or_default().to_owned();
            let _ = tx.send(name);
            panic!("a failing test");
        });
        assert!(task.await.is_err(), "the test panicked");
        let name = rx.await.expect("the database's name");
        let mut admin = PgConnection::connect(&admin_url).await.expect("admin");
        let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pg_database WHERE datname = $1")
            .bind(&name)
            .fetch_one(&mut admin)
            .await
            .expect("count");
        assert_eq!(left, 0, "{name} was left behind");
    }
}
