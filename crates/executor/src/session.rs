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
    /// Connects (SQLite: with the limits, which belong to its connection). Gives up after
    /// [`CONNECT_TIMEOUT`].
    pub(crate) async fn open(target: Target<'_>, limits: &Limits) -> Result<Self, sqlx::Error> {
        check_scheme(target)?;
        let open = async {
            Ok(match target.driver {
                Driver::Postgres => Self::Postgres(postgres::Session::open(target.url).await?),
                Driver::Mysql => Self::Mysql(mysql::Session::open(target.url).await?),
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
            Self::Mysql(session) => session.begin(limits).await.map(|()| None),
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

/// Refuses a URL made for another driver, which the drivers would otherwise try to make sense
/// of (SQLite would take it for a file name).
fn check_scheme(target: Target<'_>) -> Result<(), sqlx::Error> {
    let schemes: &[&str] = match target.driver {
        Driver::Postgres => &["postgres://", "postgresql://"],
        Driver::Mysql => &["mysql://", "mariadb://"],
        Driver::Sqlite => &["sqlite:"],
    };
    let matches = |scheme: &&str| {
        target
            .url
            .get(..scheme.len())
            .is_some_and(|start| start.eq_ignore_ascii_case(scheme))
    };
    if schemes.iter().any(matches) {
        return Ok(());
    }
    let expected = schemes.join(" or ");
    let message = format!("a {} URL must start with {expected}", target.driver);
    Err(sqlx::Error::Configuration(message.into()))
}

/// `connecting`, given up as a timed-out I/O error after [`CONNECT_TIMEOUT`].
pub(crate) async fn within_connect_timeout<T>(
    connecting: impl Future<Output = Result<T, sqlx::Error>>,
) -> Result<T, sqlx::Error> {
    tokio::time::timeout(CONNECT_TIMEOUT, connecting)
        .await
        .unwrap_or_else(|_| Err(io::Error::from(io::ErrorKind::TimedOut).into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(driver: Driver, url: &str) -> Target<'_> {
        Target { driver, url }
    }

    #[test]
    fn a_url_must_be_made_for_its_driver() {
        assert!(check_scheme(target(Driver::Postgres, "postgres://u@h/d")).is_ok());
        assert!(check_scheme(target(Driver::Postgres, "PostgreSQL://u@h/d")).is_ok());
        assert!(check_scheme(target(Driver::Mysql, "mariadb://u@h/d")).is_ok());
        assert!(check_scheme(target(Driver::Sqlite, "sqlite:///srv/shop.db")).is_ok());
        assert!(check_scheme(target(Driver::Sqlite, "postgres://u:pw@h/d")).is_err());
        assert!(check_scheme(target(Driver::Mysql, "postgres://u@h/d")).is_err());
        assert!(check_scheme(target(Driver::Postgres, "")).is_err());
    }
}
