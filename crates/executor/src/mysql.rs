//! MySQL and MariaDB. The limits are session variables set before `BEGIN`:
//!
//! - statement timeout: MariaDB's `max_statement_time` (fractional seconds, every statement);
//!   where the server does not know it (MySQL), `max_execution_time` (milliseconds, which MySQL
//!   applies to `SELECT` only — its other statements are bounded by the executor's own deadline);
//! - lock timeout: `innodb_lock_wait_timeout` (row locks) and `lock_wait_timeout` (metadata
//!   locks, which DDL waits for), both whole seconds, rounded up, at least 1.
//!
//! The session is opened without the SQL mode and time zone that sqlx sets by default
//! (`PIPES_AS_CONCAT`, `time_zone = '+00:00'`): approved SQL must mean on the target what it
//! meant to its reviewers, so the server's own settings stay in force. `UPDATE` counts the rows
//! it matched, not only those it changed (sqlx connects with `CLIENT_FOUND_ROWS`), as
//! PostgreSQL does.

use std::str::FromStr;
use std::time::Duration;

use sqlx::error::DatabaseError;
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlDatabaseError};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection};

use crate::target::Limits;

/// `ER_UNKNOWN_SYSTEM_VARIABLE`: the server does not have the variable (MySQL vs MariaDB).
const UNKNOWN_VARIABLE: u16 = 1193;

/// `ER_LOCK_WAIT_TIMEOUT`, `ER_STATEMENT_TIMEOUT` (MariaDB), `ER_QUERY_TIMEOUT` (MySQL).
const TIMEOUT_ERRORS: &[u16] = &[1205, 1969, 3024];

/// One session on a MySQL or MariaDB target.
#[derive(Debug)]
pub(crate) struct Session {
    conn: MySqlConnection,
}

impl Session {
    pub(crate) async fn open(url: &str) -> Result<Self, sqlx::Error> {
        let options = MySqlConnectOptions::from_str(url)?
            .pipes_as_concat(false)
            .no_engine_substitution(false)
            .timezone(None);
        let conn = options.connect().await?;
        Ok(Self { conn })
    }

    /// Applies `limits` to the session, then opens the transaction.
    pub(crate) async fn begin(&mut self, limits: &Limits) -> Result<(), sqlx::Error> {
        self.apply(limits).await?;
        sqlx::raw_sql("BEGIN").execute(&mut self.conn).await?;
        Ok(())
    }

    async fn apply(&mut self, limits: &Limits) -> Result<(), sqlx::Error> {
        if let Some(limit) = limits.statement_timeout {
            self.set_statement_timeout(limit).await?;
        }
        if let Some(limit) = limits.lock_timeout {
            let seconds = whole_seconds(limit);
            sqlx::query("SET SESSION innodb_lock_wait_timeout = ?, SESSION lock_wait_timeout = ?")
                .bind(seconds)
                .bind(seconds)
                .execute(&mut self.conn)
                .await?;
        }
        Ok(())
    }

    async fn set_statement_timeout(&mut self, limit: Duration) -> Result<(), sqlx::Error> {
        let mariadb = sqlx::query("SET SESSION max_statement_time = ?")
            .bind(limit.as_secs_f64().max(0.001))
            .execute(&mut self.conn)
            .await;
        match mariadb {
            Err(error) if is_unknown_variable(&error) => {}
            other => return other.map(drop),
        }
        let mysql = sqlx::query("SET SESSION max_execution_time = ?")
            .bind(u64::try_from(limit.as_millis().max(1)).unwrap_or(u64::MAX))
            .execute(&mut self.conn)
            .await;
        match mysql {
            Err(error) if is_unknown_variable(&error) => {
                tracing::warn!(
                    "the server knows neither max_statement_time nor max_execution_time; \
                     only the executor's own deadline bounds statements"
                );
                Ok(())
            }
            other => other.map(drop),
        }
    }

    /// Runs one approved statement as text (no prepared statement, which some DDL refuses)
    /// and returns the rows it affected.
    pub(crate) async fn run(&mut self, sql: &str) -> Result<u64, sqlx::Error> {
        let result = sqlx::raw_sql(AssertSqlSafe(sql))
            .execute(&mut self.conn)
            .await?;
        Ok(result.rows_affected())
    }

    pub(crate) async fn commit(&mut self) -> Result<(), sqlx::Error> {
        sqlx::raw_sql("COMMIT").execute(&mut self.conn).await?;
        Ok(())
    }

    pub(crate) async fn rollback(&mut self) -> Result<(), sqlx::Error> {
        sqlx::raw_sql("ROLLBACK").execute(&mut self.conn).await?;
        Ok(())
    }

    pub(crate) async fn close(self) -> Result<(), sqlx::Error> {
        self.conn.close().await
    }
}

/// A duration as whole seconds, rounded up, at least 1.
fn whole_seconds(limit: Duration) -> u64 {
    let rounded_up = limit.as_secs() + u64::from(limit.subsec_nanos() > 0);
    rounded_up.max(1)
}

fn number(error: &dyn DatabaseError) -> Option<u16> {
    error
        .try_downcast_ref::<MySqlDatabaseError>()
        .map(MySqlDatabaseError::number)
}

fn is_unknown_variable(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .and_then(number)
        .is_some_and(|n| n == UNKNOWN_VARIABLE)
}

pub(crate) fn is_timeout(error: &dyn DatabaseError) -> bool {
    number(error).is_some_and(|n| TIMEOUT_ERRORS.contains(&n))
}

/// The server's error number (more telling than MySQL's SQLSTATE, often `HY000`).
pub(crate) fn code(error: &dyn DatabaseError) -> Option<String> {
    number(error).map(|n| n.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_timeouts_round_up_to_whole_seconds() {
        assert_eq!(whole_seconds(Duration::from_millis(200)), 1);
        assert_eq!(whole_seconds(Duration::ZERO), 1);
        assert_eq!(whole_seconds(Duration::from_secs(5)), 5);
        assert_eq!(whole_seconds(Duration::from_millis(5001)), 6);
    }
}
