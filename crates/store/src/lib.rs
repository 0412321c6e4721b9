//! Countersign's own store: users, tokens, sessions, edit requests, their executions and
//! rehearsals, and the audit trail, through
//! `sqlx` on SQLite (the embedded default) or PostgreSQL (for several server instances).
//!
//! Every SQL string of the app's own tables lives in this crate. Both backends run the same
//! statements through sqlx's `Any` driver (`$n` placeholders work on both); only the schema differs
//! (`migrations/sqlite`, `migrations/postgres`). Times are stored as fixed-width RFC 3339 text
//! (see [`countersign_core::timestamp`]).

pub mod audit;
mod checkpoints;
mod columns;
mod comments;
mod emails;
mod error;
mod executions;
mod expiry;
mod images;
mod list_cache;
pub mod outbox;
mod rehearsals;
mod requests;
mod select;
mod sessions;
mod throttle;
mod tokens;
mod transition;
mod users;
mod waiting;
pub use waiting::WAITING_COUNT_CAP;

#[cfg(feature = "testing")]
pub mod testing;

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{Any, AnyPool, Transaction};

pub use audit::{CopiedChunk, CopyChunks, CopyFormat, NewEvent, StoredEvent};
pub use checkpoints::CheckpointRecord;
pub use comments::CommentRecord;
pub use error::{Conflict, StoreError};
pub use executions::{ExecutionRecord, ExecutionResult, OpenExecution};
pub use expiry::ExpiredApproval;
pub use list_cache::StoreVersion;
pub use rehearsals::{INTERRUPTED, RehearsalRecord, RehearsalResult};
pub use requests::{
    RequestFilter, RequestRecord, RequestSummary, RevisionInput, RevisionRecord, SummaryPage,
};
pub use sessions::{RequestVersion, Session};
pub use throttle::{FailureRecorded, ThrottleKey};
pub use tokens::TokenRecord;
pub use users::Credentials;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("../../migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("../../migrations/postgres");

/// Which database holds the store, chosen by the URL's scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl FromStr for Backend {
    type Err = StoreError;

    fn from_str(url: &str) -> Result<Self, Self::Err> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Ok(Backend::Postgres)
        } else {
            Err(StoreError::UnsupportedUrl)
        }
    }
}

/// A handle on the store; cheap to clone (it shares its connection pools).
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// On PostgreSQL, a second, small pool of the native driver for the audit trail's bulk
    /// reads (exports): rows read without the `Any` driver's per-row conversion. Connects on
    /// first use.
    bulk: Option<PgPool>,
    /// Users' ids by name, as the list filters found them: a user is never renamed or removed,
    /// so a name, once found, keeps its id.
    user_ids: std::sync::Arc<users::KnownIds>,
    /// The request lists' pages read, kept against the store's version they were read at.
    lists: std::sync::Arc<list_cache::ListCache>,
}

/// How long a PostgreSQL connection of the store stands idle before it is pinged again when
/// handed out (one that was just used is not: that would double the round trips of a query).
pub const PING_AFTER_IDLE: Duration = Duration::from_secs(1);

impl Store {
    /// Connects to the store at `url` without changing its schema (see [`Store::migrate`]).
    ///
    /// SQLite stores are created when missing and switched to write-ahead logging.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        install_default_drivers();
        let backend: Backend = url.parse()?;
        let url = match backend {
            Backend::Sqlite => sqlite_url_creating_file(url),
            Backend::Postgres => url.to_owned(),
        };
        // sqlx pings a connection at every hand-out by default: a second round trip (to the
        // server, or to SQLite's worker thread) for each query. A SQLite file has nothing to
        // lose the connection; a PostgreSQL connection is pinged only after standing idle (a
        // server restarted meanwhile has closed it: it is dropped and another one handed out).
        let mut options = AnyPoolOptions::new()
            .max_connections(match backend {
                Backend::Sqlite => 4,
                Backend::Postgres => 10,
            })
            .acquire_timeout(Duration::from_secs(10))
            .test_before_acquire(false);
        if backend == Backend::Postgres {
            options = options.before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= PING_AFTER_IDLE {
                        sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            });
        }
        if backend == Backend::Sqlite {
            // A page read from the file is then a read of memory the kernel maps, not a
            // read() call each (SQLite's own cache is 2 MiB a connection; a store of a million
            // requests is about 1 GiB).
            options = options.after_connect(|conn, _| {
                Box::pin(async move {
                    sqlx::query("PRAGMA mmap_size = 1073741824")
                        .execute(conn)
                        .await?;
                    Ok(())
                })
            });
        }
        if backend == Backend::Postgres {
            // Every statement of the store reads a page or writes a few rows, but a plan made
            // once for any value can be estimated far above what it reads (a reviewer's list:
            // 700,000 for 51 rows), and past `jit_above_cost` PostgreSQL spends 200 ms compiling
            // it at every call.
            options = options.after_connect(|conn, _| {
                Box::pin(async move {
                    sqlx::query("SET jit = off").execute(conn).await?;
                    Ok(())
                })
            });
        }
        let pool = options.connect(&url).await.map_err(StoreError::Connect)?;
        if backend == Backend::Sqlite {
            sqlx::query("PRAGMA journal_mode = WAL")
                .execute(&pool)
                .await
                .map_err(StoreError::Connect)?;
        }
        let bulk = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(
                PgPoolOptions::new()
                    .max_connections(2)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_lazy(&url)
                    .map_err(StoreError::Connect)?,
            ),
        };
        Ok(Store {
            pool,
            backend,
            bulk,
            user_ids: std::sync::Arc::default(),
            lists: std::sync::Arc::default(),
        })
    }

    /// Connects and brings the schema up to date: what `serve` and `demo` do at start-up.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        let store = Store::connect(url).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Applies every migration not yet applied; returns how many the store has in all.
    pub async fn migrate(&self) -> Result<usize, StoreError> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run(&self.pool).await?;
        Ok(migrator.iter().count())
    }

    /// A transaction for a change. On SQLite it takes the write lock at once (`BEGIN IMMEDIATE`):
    /// a transaction that read first and wrote later could otherwise fail on a busy store
    /// instead of waiting its turn.
    pub(crate) async fn write_tx(&self) -> Result<Transaction<'static, Any>, StoreError> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    /// Answers when the store does: for health checks.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The value of PostgreSQL setting `name` on a connection of the store's pool: for the test
    /// of what every connection is set to.
    #[cfg(feature = "testing")]
    pub async fn postgres_setting(&self, name: &str) -> Result<String, StoreError> {
        Ok(sqlx::query_scalar("SELECT current_setting($1)")
            .bind(name)
            .fetch_one(&self.pool)
            .await?)
    }

    /// SQLite's `mmap_size` on a connection of the store's pool: for the test of what every
    /// connection is set to.
    #[cfg(feature = "testing")]
    pub async fn sqlite_mmap_size(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("PRAGMA mmap_size")
            .fetch_one(&self.pool)
            .await?)
    }

    /// Closes every connection; waits for connections in use to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
        if let Some(bulk) = &self.bulk {
            bulk.close().await;
        }
    }
}

/// sqlx opens SQLite files read-write but does not create them unless `mode=rwc` is given;
/// a store that does not exist yet is created, whatever other options the URL carries.
fn sqlite_url_creating_file(url: &str) -> String {
    if url.contains("mode=") || url.contains(":memory:") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_follows_the_scheme() {
        assert_eq!(
            "sqlite://x.db".parse::<Backend>().ok(),
            Some(Backend::Sqlite)
        );
        assert_eq!(
            "postgres://h/db".parse::<Backend>().ok(),
            Some(Backend::Postgres)
        );
        assert_eq!(
            "postgresql://h/db".parse::<Backend>().ok(),
            Some(Backend::Postgres)
        );
        assert!(matches!(
            "mysql://h/db".parse::<Backend>(),
            Err(StoreError::UnsupportedUrl)
        ));
    }

    #[test]
    fn sqlite_urls_create_their_file_unless_told_otherwise() {
        assert_eq!(
            sqlite_url_creating_file("sqlite://a.db"),
            "sqlite://a.db?mode=rwc"
        );
        assert_eq!(
            sqlite_url_creating_file("sqlite://a.db?cache=shared"),
            "sqlite://a.db?cache=shared&mode=rwc"
        );
        assert_eq!(
            sqlite_url_creating_file("sqlite://a.db?mode=ro"),
            "sqlite://a.db?mode=ro"
        );
    }
}
