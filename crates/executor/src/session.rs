//! One connection to a target, whatever its driver: the few operations a run needs, each
//! dispatched to the driver's module.

use std::io;
use std::time::Duration;

use crate::target::{Driver, Limits, Target};
use crate::{mysql, postgres, sqlite};

/// How long opening a connection may take before the run fails.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// A single connection (never a pool) to the target, owned by one run.
#[derive(Debug)]
pub(crate) enum Session {
    Postgres(postgres::Session),
    Mysql(mysql::Session),
    Sqlite(sqlite::Session),
}

impl Session {
    /// Connects and applies the limits that belong to the session rather than the
    /// transaction. Gives up after [`CONNECT_TIMEOUT`].
    pub(crate) async fn open(target: Target<'_>, limits: &Limits) -> Result<Self, sqlx::Error> {
        let open = async {
            Ok(match target.driver {
                Driver::Postgres => Self::Postgres(postgres::Session::open(target.url).await?),
                Driver::Mysql => Self::Mysql(mysql::Session::open(target.url, limits).await?),
                Driver::Sqlite => Self::Sqlite(sqlite::Session::open(target.url, limits).await?),
            })
        };
        within_connect_timeout(open).await
    }

    /// Opens the transaction with `limits` and returns its id where the target has one that
    /// can be asked about later (PostgreSQL).
    pub(crate) async fn begin(&mut self, limits: &Limits) -> Result<Option<String>, sqlx::Error> {
        match self {
            Self::Postgres(session) => session.begin(limits).await.map(Some),
            Self::Mysql(session) => session.begin().await.map(|()| None),
            Self::Sqlite(session) => session.begin().await.map(|()| None),
        }
    }

    /// Runs one statement; returns the rows it affected.
    pub(crate) async fn run(&mut self, sql: &str) -> Result<u64, sqlx::Error> {
        match self {
            Self::Postgres(session) => session.run(sql).await,
            Self::Mysql(session) => session.run(sql).await,
            Self::Sqlite(session) => session.run(sql).await,
        }
    }

    pub(crate) async fn commit(&mut self) -> Result<(), sqlx::Error> {
        match self {
            Self::Postgres(session) => session.commit().await,
            Self::Mysql(session) => session.commit().await,
            Self::Sqlite(session) => session.commit().await,
        }
    }

    pub(crate) async fn rollback(&mut self) -> Result<(), sqlx::Error> {
        match self {
            Self::Postgres(session) => session.rollback().await,
            Self::Mysql(session) => session.rollback().await,
            Self::Sqlite(session) => session.rollback().await,
        }
    }

    /// Closes the connection politely. Anything uncommitted is rolled back by the database.
    pub(crate) async fn close(self) -> Result<(), sqlx::Error> {
        match self {
            Self::Postgres(session) => session.close().await,
            Self::Mysql(session) => session.close().await,
            Self::Sqlite(session) => session.close().await,
        }
    }
}

/// `connecting`, given up as a timed-out I/O error after [`CONNECT_TIMEOUT`].
pub(crate) async fn within_connect_timeout<T>(
    connecting: impl Future<Output = Result<T, sqlx::Error>>,
) -> Result<T, sqlx::Error> {
    tokio::time::timeout(CONNECT_TIMEOUT, connecting)
        .await
        .unwrap_or_else(|_| Err(io::Error::from(io::ErrorKind::TimedOut).into()))
}
