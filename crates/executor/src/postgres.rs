//! PostgreSQL. The limits are set with `set_config(…, is_local => true)` (the bind-parameter
//! form of `SET LOCAL`), so they bind this transaction only; so is `standard_conforming_strings
//! = on`, the way the analyzer read the text. The transaction's id (`txid_current()`) and the
//! backend's pid are the run's identity: [`crate::reconcile`] asks `txid_status()` about the one
//! and can end the other.
//!
//! The approved text goes to the server in one simple-query message; the server splits it and
//! answers each statement with its command tag. The changed rows are counted by
//! `pg_stat_xact_user_tables`, which needs `track_counts` (the default): a run refuses to start
//! without it. `client_connection_check_interval` (PostgreSQL 14+) makes the server notice
//! within a second that a dead Countersign has gone, so a run it cut short ends rather than
//! holding its locks.

use std::str::FromStr;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use sqlx::error::DatabaseError;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgDatabaseError, PgQueryResult};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, Row};

use crate::counting::{Counters, non_negative};
use crate::report::RunIdentity;
use crate::session::{ColumnInfo, Integrity};
use crate::target::Limits;
use crate::text::{self, Fetch, Keep};

/// `application_name` of our sessions, unless the URL names one: shows in `pg_stat_activity`.
const APPLICATION_NAME: &str = "countersign";

/// SQLSTATEs of a statement or lock timeout: `query_canceled` (statement_timeout) and
/// `lock_not_available` (lock_timeout).
const TIMEOUT_CODES: &[&str] = &["57014", "55P03"];

/// Sets the limits that are given (an absent limit is set to its current value, so the role's
/// or database's own default stays in force), pins the lexing setting, and returns the
/// transaction's id (forcing its assignment, which makes the run reconcilable), the backend's
/// pid and whether the server counts changes.
const START: &str = "SELECT \
     set_config('statement_timeout', COALESCE($1, current_setting('statement_timeout')), true), \
     set_config('lock_timeout', COALESCE($2, current_setting('lock_timeout')), true), \
     set_config('standard_conforming_strings', 'on', true), \
     txid_current()::text AS txid, \
     pg_backend_pid()::text AS pid, \
     current_setting('track_counts') AS track_counts";

/// PostgreSQL 14+: end a statement soon after its client has gone.
const CHECK_CLIENT: &str = "SELECT set_config('client_connection_check_interval', '1000', false) \
     WHERE current_setting('server_version_num')::int >= 140000";

/// The rows the transaction has changed so far, per table.
const COUNTERS: &str = "SELECT schemaname || '.' || relname AS name, \
     n_tup_ins, n_tup_upd, n_tup_del FROM pg_stat_xact_user_tables \
     WHERE n_tup_ins + n_tup_upd + n_tup_del > 0";

/// Whether the transaction is still the run's own and the text was still read as analyzed.
const INTEGRITY: &str = "SELECT txid_current_if_assigned()::text AS txid, \
     current_setting('standard_conforming_strings') AS scs";

/// The columns of a table's primary key, in key order (`$1`: the table's name as written).
const PRIMARY_KEY: &str = "SELECT a.attname::text FROM pg_index i \
     JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey) \
     WHERE i.indrelid = to_regclass($1) AND i.indisprimary \
     ORDER BY array_position(i.indkey::int2[], a.attnum)";

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

    /// Opens the transaction, applies `limits` and the lexing setting, and returns the run's
    /// identity. Refuses a server that does not count changes (`track_counts = off`).
    pub(crate) async fn begin(&mut self, limits: &Limits) -> Result<RunIdentity, sqlx::Error> {
        sqlx::raw_sql(CHECK_CLIENT).execute(&mut self.conn).await?;
        sqlx::raw_sql("BEGIN").execute(&mut self.conn).await?;
        let row = sqlx::query(START)
            .bind(limits.statement_timeout.map(milliseconds))
            .bind(limits.lock_timeout.map(milliseconds))
            .fetch_one(&mut self.conn)
            .await?;
        let track_counts: String = row.try_get("track_counts")?;
        if track_counts != "on" {
            return Err(sqlx::Error::Configuration(
                "the target has track_counts = off, so it cannot count the rows a run changes; \
                 Countersign refuses to run without that count"
                    .into(),
            ));
        }
        Ok(RunIdentity {
            txid: Some(row.try_get("txid")?),
            session: Some(row.try_get("pid")?),
            marker: None,
        })
    }

    /// Sends the approved text as it is, in one simple-query message; yields each statement's
    /// count as the server finishes it.
    pub(crate) fn script<'c>(&'c mut self, sql: &str) -> BoxStream<'c, Result<u64, sqlx::Error>> {
        sqlx::raw_sql(AssertSqlSafe(sql))
            .execute_many(&mut self.conn)
            .map(|done| done.map(|result| result.rows_affected()))
            .boxed()
    }

    pub(crate) async fn counters(&mut self) -> Result<Counters, sqlx::Error> {
        let rows = sqlx::query(COUNTERS).fetch_all(&mut self.conn).await?;
        let mut counters = Counters::default();
        for row in rows {
            counters.add(
                row.try_get::<String, _>("name")?,
                non_negative(row.try_get("n_tup_ins")?),
                non_negative(row.try_get("n_tup_upd")?),
                non_negative(row.try_get("n_tup_del")?),
            );
        }
        Ok(counters)
    }

    /// What the script left of the run's footing: whether the transaction is still the one
    /// that began (a `COMMIT` hidden in the text would have ended it) and whether the lexing
    /// setting still holds.
    pub(crate) async fn integrity(&mut self, txid: Option<&str>) -> Result<Integrity, sqlx::Error> {
        let row = sqlx::query(INTEGRITY).fetch_one(&mut self.conn).await?;
        let now: Option<String> = row.try_get("txid")?;
        let scs: String = row.try_get("scs")?;
        Ok(Integrity {
            same_transaction: now.as_deref() == txid,
            lexing_pinned: scs == "on",
        })
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

    /// Runs `sql` (one or more statements) and reads what it returns as text (see
    /// [`crate::text`]).
    pub(crate) async fn fetch(&mut self, sql: &str, keep: &[Keep]) -> Fetch {
        text::fetch(
            &mut self.conn,
            sql,
            keep,
            PgQueryResult::rows_affected,
            || {},
        )
        .await
    }

    /// The primary key's columns of `table` (as written in SQL, resolved by the search path),
    /// in key order; empty without one.
    pub(crate) async fn primary_key(&mut self, table: &str) -> Result<Vec<String>, sqlx::Error> {
        sqlx::query_scalar(PRIMARY_KEY)
            .bind(table)
            .fetch_all(&mut self.conn)
            .await
    }

    /// `schema.table` of `table` (as written in SQL), as the counters name it, and its
    /// columns; empty when there is no such table.
    pub(crate) async fn table_info(
        &mut self,
        table: &str,
    ) -> Result<(String, Vec<ColumnInfo>), sqlx::Error> {
        let counter: Option<String> = sqlx::query_scalar(
            "SELECT n.nspname || '.' || c.relname FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass($1)",
        )
        .bind(table)
        .fetch_optional(&mut self.conn)
        .await?;
        let columns = sqlx::query(
            "SELECT a.attname::text, a.atttypid = 'bytea'::regtype, a.attgenerated <> '' \
             FROM pg_attribute a WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 \
             AND NOT a.attisdropped ORDER BY a.attnum",
        )
        .bind(table)
        .fetch_all(&mut self.conn)
        .await?
        .into_iter()
        .map(|row| ColumnInfo {
            name: row.get(0),
            binary: row.get(1),
            generated: row.get(2),
        })
        .collect();
        Ok((counter.unwrap_or_default(), columns))
    }

    /// What `txid_status()` says of `txid`: `committed`, `aborted`, `in progress`, or `None`
    /// when the id is too old for the server to remember.
    pub(crate) async fn txid_status(&mut self, txid: i64) -> Result<Option<String>, sqlx::Error> {
        sqlx::query_scalar("SELECT txid_status($1)")
            .bind(txid)
            .fetch_one(&mut self.conn)
            .await
    }

    /// Ends backend `pid` if — and only if — it is still in transaction `txid` (a pid is reused
    /// once its backend has gone). Returns whether it was asked to end.
    pub(crate) async fn terminate(&mut self, pid: i32, txid: i64) -> Result<bool, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT COALESCE(bool_or(pg_terminate_backend(pid)), false) FROM pg_stat_activity \
             WHERE pid = $1 AND backend_xid::text::bigint = ($2 % 4294967296)",
        )
        .bind(pid)
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
