//! PostgreSQL: the limits are set with `set_config(…, is_local => true)` (the bind-parameter
//! form of `SET LOCAL`), so they bind this transaction only, and the transaction's id comes from
//! `txid_current()` — the value [`crate::reconcile`] asks `txid_status()` about after a crash.

use std::str::FromStr;
use std::time::Duration;

use sqlx::error::DatabaseError;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgDatabaseError};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, Row};

use crate::target::Limits;

/// `application_name` of our sessions, unless the URL names one: shows in `pg_stat_activity`.
const APPLICATION_NAME: &str = "countersign";

/// SQLSTATEs of a statement or lock timeout: `query_canceled` (statement_timeout) and
/// `lock_not_available` (lock_timeout).
const TIMEOUT_CODES: &[&str] = &["57014", "55P03"];

/// Sets the limits that are given (an absent limit is set to its current value, so the role's
/// or database's own default stays in force) and returns the transaction's id. Forces the
/// assignment of a transaction id, which is what makes the run reconcilable.
const START: &str = "SELECT \
     set_config('statement_timeout', COALESCE($1, current_setting('statement_timeout')), true), \
     set_config('lock_timeout', COALESCE($2, current_setting('lock_timeout')), true), \
     txid_current()::text AS txid";

/// One session on a PostgreSQL target.
#[derive(Debug)]
pub(crate) struct Session {
    conn: PgConnection,
}

impl Session {
    pub(crate) async fn open(url: &str) -> Result<Self, sqlx::Error> {
        let mut options = PgConnectOptions::from_str(url)?;
        if options.get_application_name().is_none() {
            options = options.application_name(APPLICATION_NAME);
        }
        let conn = options.connect().await?;
        Ok(Self { conn })
    }

    /// Opens the transaction, applies `limits` to it and returns its id.
    pub(crate) async fn begin(&mut self, limits: &Limits) -> Result<String, sqlx::Error> {
        sqlx::raw_sql("BEGIN").execute(&mut self.conn).await?;
        let row = sqlx::query(START)
            .bind(limits.statement_timeout.map(milliseconds))
            .bind(limits.lock_timeout.map(milliseconds))
            .fetch_one(&mut self.conn)
            .await?;
        row.try_get("txid")
    }

    /// Runs one approved statement with the simple query protocol (no prepared statement, one
    /// round trip) and returns the rows it affected.
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

    /// What `txid_status()` says of `txid`: `committed`, `aborted`, `in progress`, or `None`
    /// when the id is too old for the server to remember.
    pub(crate) async fn txid_status(&mut self, txid: i64) -> Result<Option<String>, sqlx::Error> {
        sqlx::query_scalar("SELECT txid_status($1)")
            .bind(txid)
            .fetch_one(&mut self.conn)
            .await
    }
}

/// A duration as PostgreSQL's integer milliseconds, at least 1 (0 would mean "no limit").
fn milliseconds(limit: Duration) -> String {
    limit.as_millis().max(1).to_string()
}

pub(crate) fn is_timeout(error: &dyn DatabaseError) -> bool {
    error
        .code()
        .is_some_and(|code| TIMEOUT_CODES.contains(&code.as_ref()))
}

/// The server's message, with its DETAIL line when it has one (e.g. the duplicate key).
pub(crate) fn message(error: &dyn DatabaseError) -> String {
    match error
        .try_downcast_ref::<PgDatabaseError>()
        .and_then(PgDatabaseError::detail)
    {
        Some(detail) => format!("{} ({detail})", error.message()),
        None => error.message().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_whole_milliseconds_and_never_zero() {
        assert_eq!(milliseconds(Duration::from_millis(1500)), "1500");
        assert_eq!(milliseconds(Duration::from_micros(10)), "1");
        assert_eq!(milliseconds(Duration::ZERO), "1");
    }
}
