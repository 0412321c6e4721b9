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

/// The users a filled store refers to: they must exist before [`Store::fill_requests`].
pub const FILL_USERS: [&str; 5] = ["alice", "frank", "bob", "carol", "dave"];

/// What [`Store::fill_requests`] writes for each request number `i` (1, 2, …), so that every list
/// filter has many matches, few, or none:
///
/// - author `frank` when `i % 5000 == 0` (few), otherwise `alice`;
/// - target `archive` when `i % 10000 == 0` (few), otherwise `shop` (even) or `billing` (odd);
/// - status `executed` when `i % 10 == 0`, reviewed (approved) by `carol`, the one reviewer
///   named; `failed` when `i % 1000 == 1` (few) and `withdrawn` for the other `i % 10 == 1`,
///   with `bob` named; otherwise `pending_review` with `bob` named, and `dave` too when
///   `i % 3 == 0` — so `bob` has most of the store waiting for him, `carol` was named on a
///   tenth of it and has nothing waiting;
/// - one revision (`sql` an UPDATE of row `i`; its hash is **not** the SQL's) with the given
///   analysis, and one `request.submitted` audit event (by the author, on the request) whose
///   hashes do **not** chain: a filled store's trail does not verify.
#[derive(Debug, Clone)]
pub struct Fill<'a> {
    pub requests: i64,
    /// The analysis every revision carries (JSON text, as the store keeps it).
    pub analysis: &'a str,
}

impl Store {
    /// Adds `fill.requests` requests, with their revision, reviewers, reviews and one audit event
    /// each, by a few bulk statements (the same text on both backends): a store the size of a
    /// long-lived one in seconds, for the plan tests and `benches/load.sh`. The triggers that
    /// keep `pending_reviews` run as they do for every write. Requests are numbered on from the
    /// highest id; the users of [`FILL_USERS`] must exist.
    pub async fn fill_requests(&self, fill: &Fill<'_>) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        let first: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) + 1 FROM requests")
            .fetch_one(&mut *tx)
            .await?;
        let last = first + fill.requests - 1;
        let seq_base: i64 = sqlx::query_scalar("SELECT seq FROM audit_head WHERE id = 1")
            .fetch_one(&mut *tx)
            .await?;
        let now = countersign_core::timestamp::format(countersign_core::timestamp::now());
        // Every statement binds the same five values: the numbers, the time, the analysis and
        // the audit trail's last `seq`.
        let numbers = "WITH RECURSIVE s(i) AS (SELECT CAST($1 AS BIGINT) UNION ALL \
                       SELECT i + 1 FROM s WHERE i < CAST($2 AS BIGINT)), \
                       p(at, analysis, seq0) AS \
                       (SELECT CAST($3 AS TEXT), CAST($4 AS TEXT), CAST($5 AS BIGINT)) ";
        let user = |name: &str| format!("(SELECT id FROM users WHERE name = '{name}')");
        let statements = [
            format!(
                "{numbers}INSERT INTO requests \
                 (id, title, target, author_id, status, revision, created_at, updated_at) \
                 SELECT i, 'Fix order ' || i, \
                 CASE WHEN i % 10000 = 0 THEN 'archive' WHEN i % 2 = 0 THEN 'shop' \
                 ELSE 'billing' END, \
                 CASE WHEN i % 5000 = 0 THEN {frank} ELSE {alice} END, \
                 CASE WHEN i % 10 = 0 THEN 'executed' WHEN i % 1000 = 1 THEN 'failed' \
                 WHEN i % 10 = 1 THEN 'withdrawn' ELSE 'pending_review' END, \
                 1, p.at, p.at FROM s CROSS JOIN p",
                frank = user("frank"),
                alice = user("alice"),
            ),
            format!(
                "{numbers}INSERT INTO revisions (request_id, revision, intent, sql, sql_sha256, \
                 expected_rows, risk, analysis, created_at) \
                 SELECT i, 1, 'Order ' || i || ' is stuck; mark it paid', \
                 'UPDATE orders SET status = ''paid'' WHERE id = ' || i || ';', \
                 '{zeros}', 1, 'low', p.analysis, p.at FROM s CROSS JOIN p",
                zeros = "0".repeat(64),
            ),
            format!(
                "{numbers}INSERT INTO revision_reviewers (request_id, revision, reviewer_id) \
                 SELECT i, 1, CASE WHEN i % 10 = 0 THEN {carol} ELSE {bob} END \
                 FROM s CROSS JOIN p \
                 UNION ALL SELECT i, 1, {dave} FROM s WHERE i % 10 > 1 AND i % 3 = 0",
                carol = user("carol"),
                bob = user("bob"),
                dave = user("dave"),
            ),
            format!(
                "{numbers}INSERT INTO reviews (request_id, revision, reviewer_id, decision, \
                 comment, sql_sha256, created_at) \
                 SELECT i, 1, {carol}, 'approve', 'ok', '{zeros}', p.at FROM s CROSS JOIN p \
                 WHERE i % 10 = 0",
                carol = user("carol"),
                zeros = "0".repeat(64),
            ),
            format!(
                "{numbers}INSERT INTO audit_events \
                 (seq, at, actor, action, request_id, revision, details, prev_hash, hash) \
                 SELECT p.seq0 + i - CAST($1 AS BIGINT) + 1, p.at, \
                 CASE WHEN i % 5000 = 0 THEN 'frank' ELSE 'alice' END, 'request.submitted', \
                 i, 1, '{{}}', '{zeros}', '{zeros}' FROM s CROSS JOIN p",
                zeros = "0".repeat(64),
            ),
        ];
        for sql in statements {
            sqlx::query(AssertSqlSafe(sql))
                .bind(first)
                .bind(last)
                .bind(now.as_str())
                .bind(fill.analysis)
                .bind(seq_base)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("UPDATE audit_head SET seq = $1 WHERE id = 1")
            .bind(seq_base + fill.requests)
            .execute(&mut *tx)
            .await?;
        if self.backend == crate::Backend::Postgres {
            sqlx::query("SELECT setval('requests_id_seq', $1)")
                .bind(last)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        // PostgreSQL plans with statistics (autovacuum would gather them soon enough). SQLite is
        // left as the product leaves it: it plans the lists by the index they name, and with
        // sqlite_stat4 samples it would prepare a statement again whenever a value is bound.
        if self.backend == crate::Backend::Postgres {
            sqlx::query("ANALYZE").execute(&self.pool).await?;
        }
        Ok(())
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
