//! One connection to a target, whatever its driver: the few operations a run needs, each
//! dispatched to the driver's module, and what they share (the marker table, [`Integrity`]).

use std::io;
use std::time::Duration;

use futures_util::stream::BoxStream;

use crate::counting::Counters;
use crate::report::RunIdentity;
use crate::target::{Driver, Limits, Target};
use crate::text::{Fetch, Keep};
use crate::{mysql, postgres, sqlite};

/// The table in a MySQL/MariaDB or SQLite target where each run writes its marker row inside
/// its own transaction (see [`RunIdentity::marker`]).
pub(crate) const MARKER_TABLE: &str = "countersign_runs";

/// What a script left of the run's footing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Integrity {
    /// The transaction that began is still open: nothing in the text committed it.
    pub(crate) same_transaction: bool,
    /// The settings that decide how SQL is read are as the run pinned them.
    pub(crate) lexing_pinned: bool,
}

/// A table as a statement names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TableName {
    /// As written in the statement, quotes and all.
    pub(crate) written: String,
    /// The schema (database on MySQL) it is qualified with, unquoted.
    pub(crate) schema: Option<String>,
    /// Its own name, unquoted.
    pub(crate) name: String,
}

/// A column of a table, from the target's catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ColumnInfo {
    pub(crate) name: String,
    /// Its values are bytes (MySQL: written back as `X'…'`).
    pub(crate) binary: bool,
    /// The database computes it (a generated column): never written back.
    pub(crate) generated: bool,
}

/// What the catalog says of a table a run changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TableInfo {
    /// Its name among the database's counters ([`crate::counting`]): `schema.table`
    /// (PostgreSQL), `main.table` (SQLite), `*` (MySQL/MariaDB).
    pub(crate) counter: String,
    /// Its columns, in the table's order; empty when there is no such table.
    pub(crate) columns: Vec<ColumnInfo>,
    /// Its primary key's columns, in key order; empty without one.
    pub(crate) key: Vec<String>,
}

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

    /// Opens the transaction with `limits`, pins the settings that decide how SQL is read,
    /// and returns what identifies the run on the target.
    /// `implicit_commits`: the script is DDL that commits implicitly on MySQL (see
    /// [`crate::Plan::implicit_commits`]).
    pub(crate) async fn begin(
        &mut self,
        limits: &Limits,
        implicit_commits: bool,
    ) -> Result<RunIdentity, sqlx::Error> {
        match self {
            Self::Postgres(session) => session.begin(limits).await,
            Self::Mysql(session) => session.begin(limits, implicit_commits).await,
            Self::Sqlite(session) => session.begin().await,
        }
    }

    /// Sends the approved text as it is; yields each statement's count as it ends.
    pub(crate) fn script<'c>(&'c mut self, sql: &str) -> BoxStream<'c, Result<u64, sqlx::Error>> {
        match self {
            Self::Postgres(session) => session.script(sql),
            Self::Mysql(session) => session.script(sql),
            Self::Sqlite(session) => session.script(sql),
        }
    }

    /// The database's count of the rows changed so far (see [`crate::counting`]).
    pub(crate) async fn counters(&mut self) -> Result<Counters, sqlx::Error> {
        match self {
            Self::Postgres(session) => session.counters().await,
            Self::Mysql(session) => session.counters().await,
            Self::Sqlite(session) => session.counters().await,
        }
    }

    /// What the script left of the run's footing. SQLite refuses a `COMMIT` or `BEGIN` the
    /// analysis let through only by its own errors, and has no lexing settings to pin.
    pub(crate) async fn integrity(
        &mut self,
        identity: &RunIdentity,
    ) -> Result<Integrity, sqlx::Error> {
        match self {
            Self::Postgres(session) => session.integrity(identity.txid.as_deref()).await,
            Self::Mysql(session) => session.integrity().await,
            Self::Sqlite(_) => Ok(Integrity {
                same_transaction: true,
                lexing_pinned: true,
            }),
        }
    }

    /// Opens a rehearsal's transaction with `limits` and the lexing settings pinned, as
    /// [`Self::begin`] does, but without a marker: nothing of a rehearsal may stay. On MySQL
    /// it is an XA transaction, which refuses any statement that would commit implicitly.
    pub(crate) async fn begin_rehearsal(
        &mut self,
        limits: &Limits,
    ) -> Result<RunIdentity, sqlx::Error> {
        match self {
            Self::Postgres(session) => session.begin(limits).await,
            Self::Mysql(session) => session.begin_rehearsal(limits).await,
            Self::Sqlite(session) => session.begin_rehearsal().await,
        }
    }

    /// Runs `sql` (one or more statements, in one message) and reads what each returns as
    /// text, keeping the rows `keep` says.
    pub(crate) async fn fetch(&mut self, sql: &str, keep: &[Keep]) -> Fetch {
        match self {
            Self::Postgres(session) => session.fetch(sql, keep).await,
            Self::Mysql(session) => session.fetch(sql, keep).await,
            Self::Sqlite(session) => session.fetch(sql, keep).await,
        }
    }

    /// The primary key's columns of `table`, in key order; empty without one.
    pub(crate) async fn primary_key(
        &mut self,
        table: &TableName,
    ) -> Result<Vec<String>, sqlx::Error> {
        let schema = table.schema.as_deref();
        match self {
            Self::Postgres(session) => session.primary_key(&table.written).await,
            Self::Mysql(session) => session.primary_key(schema, &table.name).await,
            Self::Sqlite(session) => session.primary_key(schema, &table.name).await,
        }
    }

    /// What the catalog says of `table`: its counter name, columns and primary key.
    pub(crate) async fn table_info(&mut self, table: &TableName) -> Result<TableInfo, sqlx::Error> {
        let key = self.primary_key(table).await?;
        let schema = table.schema.as_deref();
        let (counter, columns) = match self {
            Self::Postgres(session) => session.table_info(&table.written).await?,
            Self::Mysql(session) => ("*".to_owned(), session.columns(schema, &table.name).await?),
            Self::Sqlite(session) => (
                format!("{}.{}", schema.unwrap_or("main"), table.name),
                session.columns(schema, &table.name).await?,
            ),
        };
        Ok(TableInfo {
            counter,
            columns,
            key,
        })
    }

    /// Whether `INSERT … RETURNING` and `DELETE … RETURNING` are understood (PostgreSQL,
    /// SQLite, MariaDB; not MySQL).
    pub(crate) async fn has_returning(&mut self) -> Result<bool, sqlx::Error> {
        match self {
            Self::Postgres(_) | Self::Sqlite(_) => Ok(true),
            Self::Mysql(session) => session.is_mariadb().await,
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
    if target.driver.accepts_url(target.url) {
        return Ok(());
    }
    let expected = target.driver.url_schemes().join(" or ");
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
