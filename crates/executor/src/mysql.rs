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
//! meant to its reviewers, so the server's own settings stay in force — except the modes that
//! change how text is read (`ANSI_QUOTES`, `NO_BACKSLASH_ESCAPES` and the combination modes
//! that imply one), which are taken out of the session's mode, whatever the server's global
//! mode, because the analyzer reads the text without them.
//!
//! The approved text goes to the server in one `COM_QUERY` (sqlx connects with
//! `CLIENT_MULTI_STATEMENTS`); the server splits it — executable comments included — and
//! answers each statement with its own OK packet. The session's `Handler_write`,
//! `Handler_update` and `Handler_delete` counters, read before and after, count every row the
//! transaction changed (triggers and stored functions included; a row set to the values it
//! already has is not changed and not counted); the server does not count per table, so the
//! run's changes are one `*` row.
//!
//! No implicit commit: unless the plan says the script is DDL that commits implicitly
//! ([`crate::Plan::implicit_commits`]), the run's transaction is an XA transaction (`XA START`
//! … `XA COMMIT … ONE PHASE`), in which the server refuses every statement that would commit
//! implicitly (DDL, `LOCK TABLES`, a hidden `COMMIT`) with `XAER_RMFAIL` instead of committing:
//! a script can never commit half of itself, whatever the analyzer saw in it.
//!
//! Crash safety: the run writes a row keyed by a fresh UUID into `countersign_runs` (created
//! on first use) inside its own transaction, and records the connection id. The row is there
//! exactly when the transaction committed; [`crate::reconcile`] can also `KILL` a connection a
//! dead server left behind.

use std::str::FromStr;
use std::time::Duration;

use futures_util::stream::BoxStream;
use futures_util::{StreamExt, TryStreamExt};
use sqlx::error::DatabaseError;
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlDatabaseError, MySqlQueryResult};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, Row};

use crate::counting::Counters;
use crate::report::RunIdentity;
use crate::session::{ColumnInfo, Integrity, MARKER_TABLE};
use crate::target::Limits;
use crate::text::{self, Fetch, Keep};

/// `ER_UNKNOWN_SYSTEM_VARIABLE`: the server does not have the variable (MySQL vs MariaDB).
const UNKNOWN_VARIABLE: u16 = 1193;

/// `ER_LOCK_WAIT_TIMEOUT`, `ER_STATEMENT_TIMEOUT` (MariaDB), `ER_QUERY_TIMEOUT` (MySQL).
const TIMEOUT_ERRORS: &[u16] = &[1205, 1969, 3024];

/// SQL modes that change how the text is read, and the combination modes that set one.
const LEXING_MODES: &[&str] = &[
    "ANSI_QUOTES",
    "NO_BACKSLASH_ESCAPES",
    "ANSI",
    "DB2",
    "MAXDB",
    "MSSQL",
    "ORACLE",
    "POSTGRESQL",
];

/// One session on a MySQL or MariaDB target.
#[derive(Debug)]
pub(crate) struct Session {
    conn: MySqlConnection,
    /// The SQL mode the run pinned, to find a script that changed it.
    sql_mode: String,
    /// The XA transaction's id, when the run is one.
    xid: Option<String>,
}

impl Session {
    pub(crate) async fn open(url: &str) -> Result<Self, sqlx::Error> {
        let options = MySqlConnectOptions::from_str(url)?
            .pipes_as_concat(false)
            .no_engine_substitution(false)
            .timezone(None);
        let conn = options.connect().await?;
        Ok(Self {
            conn,
            sql_mode: String::new(),
            xid: None,
        })
    }

    /// Applies `limits`, pins the SQL mode, opens the transaction and writes the run's marker
    /// in it. Without the marker table (a user who may not create it) the run goes on
    /// unmarked, and a crash leaves its outcome `unknown`.
    /// `implicit_commits`: the script is DDL that commits implicitly, so the transaction is a
    /// plain one (each statement commits); otherwise an XA transaction, which refuses them.
    pub(crate) async fn begin(
        &mut self,
        limits: &Limits,
        implicit_commits: bool,
    ) -> Result<RunIdentity, sqlx::Error> {
        self.begin_with(limits, implicit_commits, true).await
    }

    /// As [`Self::begin`] for a rehearsal: an XA transaction (which refuses whatever would
    /// commit implicitly), without a marker (nothing of a rehearsal may stay, not even the
    /// marker table).
    pub(crate) async fn begin_rehearsal(
        &mut self,
        limits: &Limits,
    ) -> Result<RunIdentity, sqlx::Error> {
        self.begin_with(limits, false, false).await
    }

    async fn begin_with(
        &mut self,
        limits: &Limits,
        implicit_commits: bool,
        mark: bool,
    ) -> Result<RunIdentity, sqlx::Error> {
        self.apply(limits).await?;
        self.pin_sql_mode().await?;
        let marked = mark
            && match sqlx::raw_sql(AssertSqlSafe(format!(
                "CREATE TABLE IF NOT EXISTS {MARKER_TABLE} (\
             run_id CHAR(36) NOT NULL PRIMARY KEY, \
             ran_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP) ENGINE=InnoDB"
            )))
            .execute(&mut self.conn)
            .await
            {
                Ok(_) => true,
                Err(error) if error.as_database_error().is_some() => {
                    tracing::warn!(
                        code = ?error.as_database_error().and_then(code),
                        "cannot create the run marker table; a crash will leave this run's outcome unknown"
                    );
                    false
                }
                Err(error) => return Err(error),
            };
        let connection: u64 = sqlx::query_scalar("SELECT CONNECTION_ID()")
            .fetch_one(&mut self.conn)
            .await?;
        let key = uuid::Uuid::new_v4().to_string();
        if implicit_commits {
            sqlx::raw_sql("BEGIN").execute(&mut self.conn).await?;
        } else {
            sqlx::raw_sql(AssertSqlSafe(format!("XA START '{key}'")))
                .execute(&mut self.conn)
                .await?;
            self.xid = Some(key.clone());
        }
        let marker = if marked {
            let marker = key;
            sqlx::query(AssertSqlSafe(format!(
                "INSERT INTO {MARKER_TABLE} (run_id) VALUES (?)"
            )))
            .bind(&marker)
            .execute(&mut self.conn)
            .await?;
            Some(marker)
        } else {
            None
        };
        Ok(RunIdentity {
            txid: None,
            session: Some(connection.to_string()),
            marker,
        })
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

    /// Takes the lexing modes out of the session's SQL mode.
    async fn pin_sql_mode(&mut self) -> Result<(), sqlx::Error> {
        let mode: String = sqlx::query_scalar("SELECT CAST(@@SESSION.sql_mode AS CHAR)")
            .fetch_one(&mut self.conn)
            .await?;
        let pinned = pinned_sql_mode(&mode);
        if pinned != mode {
            sqlx::query("SET SESSION sql_mode = ?")
                .bind(&pinned)
                .execute(&mut self.conn)
                .await?;
        }
        self.sql_mode = pinned;
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

    /// Sends the approved text as it is, in one `COM_QUERY`; yields each statement's count
    /// as the server finishes it.
    pub(crate) fn script<'c>(&'c mut self, sql: &str) -> BoxStream<'c, Result<u64, sqlx::Error>> {
        sqlx::raw_sql(AssertSqlSafe(sql))
            .execute_many(&mut self.conn)
            .map(|done| done.map(|result| result.rows_affected()))
            .boxed()
    }

    pub(crate) async fn counters(&mut self) -> Result<Counters, sqlx::Error> {
        let rows = sqlx::raw_sql(
            "SHOW SESSION STATUS WHERE Variable_name IN \
             ('Handler_write', 'Handler_update', 'Handler_delete')",
        )
        .fetch_all(&mut self.conn)
        .await?;
        let mut counts = [0_u64; 3];
        for row in rows {
            let name: String = row.try_get(0)?;
            let value: String = row.try_get(1)?;
            let value = value.trim().parse().unwrap_or(0);
            match name.as_str() {
                "Handler_write" => counts[0] = value,
                "Handler_update" => counts[1] = value,
                "Handler_delete" => counts[2] = value,
                _ => {}
            }
        }
        let mut counters = Counters::default();
        counters.add("*", counts[0], counts[1], counts[2]);
        Ok(counters)
    }

    /// Whether the transaction is still open (DDL or a hidden `COMMIT` would have committed
    /// it) and the SQL mode is still the pinned one. A server without `@@in_transaction`
    /// (MySQL) cannot say; it is taken as open.
    pub(crate) async fn integrity(&mut self) -> Result<Integrity, sqlx::Error> {
        let mode: String = sqlx::query_scalar("SELECT CAST(@@SESSION.sql_mode AS CHAR)")
            .fetch_one(&mut self.conn)
            .await?;
        let in_transaction =
            sqlx::query_scalar::<_, i64>("SELECT CAST(@@in_transaction AS SIGNED)")
                .fetch_one(&mut self.conn)
                .await;
        let same_transaction = match in_transaction {
            Ok(open) => open != 0,
            Err(error) if is_unknown_variable(&error) => true,
            Err(error) => return Err(error),
        };
        Ok(Integrity {
            same_transaction,
            lexing_pinned: mode == self.sql_mode,
        })
    }

    pub(crate) async fn commit(&mut self) -> Result<(), sqlx::Error> {
        match self.xid.take() {
            Some(xid) => {
                sqlx::raw_sql(AssertSqlSafe(format!(
                    "XA END '{xid}'; XA COMMIT '{xid}' ONE PHASE"
                )))
                .execute_many(&mut self.conn)
                .try_collect::<Vec<_>>()
                .await?;
            }
            None => {
                sqlx::raw_sql("COMMIT").execute(&mut self.conn).await?;
            }
        }
        Ok(())
    }

    pub(crate) async fn rollback(&mut self) -> Result<(), sqlx::Error> {
        match self.xid.take() {
            Some(xid) => {
                // After some errors the server has ended the branch itself: XA END may fail.
                let _ = sqlx::raw_sql(AssertSqlSafe(format!("XA END '{xid}'")))
                    .execute(&mut self.conn)
                    .await;
                sqlx::raw_sql(AssertSqlSafe(format!("XA ROLLBACK '{xid}'")))
                    .execute(&mut self.conn)
                    .await?;
            }
            None => {
                sqlx::raw_sql("ROLLBACK").execute(&mut self.conn).await?;
            }
        }
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
            MySqlQueryResult::rows_affected,
            || {},
        )
        .await
    }

    /// The primary key's columns of `table` (in `schema`, or the session's database), in
    /// key order; empty without one.
    pub(crate) async fn primary_key(
        &mut self,
        schema: Option<&str>,
        table: &str,
    ) -> Result<Vec<String>, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT CAST(COLUMN_NAME AS CHAR) FROM information_schema.KEY_COLUMN_USAGE \
             WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? \
             AND CONSTRAINT_NAME = 'PRIMARY' ORDER BY ORDINAL_POSITION",
        )
        .bind(schema)
        .bind(table)
        .fetch_all(&mut self.conn)
        .await
    }

    /// The columns of `table` (in `schema`, or the session's database), in the table's order.
    pub(crate) async fn columns(
        &mut self,
        schema: Option<&str>,
        table: &str,
    ) -> Result<Vec<ColumnInfo>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT CAST(COLUMN_NAME AS CHAR), \
             DATA_TYPE IN ('binary', 'varbinary', 'tinyblob', 'blob', 'mediumblob', 'longblob', \
             'bit', 'geometry', 'point', 'linestring', 'polygon'), \
             EXTRA LIKE '%GENERATED%' \
             FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? \
             ORDER BY ORDINAL_POSITION",
        )
        .bind(schema)
        .bind(table)
        .fetch_all(&mut self.conn)
        .await?;
        Ok(rows
            .into_iter()
            .map(|row| ColumnInfo {
                name: row.get(0),
                binary: row.get::<i64, _>(1) != 0,
                generated: row.get::<i64, _>(2) != 0,
            })
            .collect())
    }

    /// Whether the server is MariaDB (which has `INSERT … RETURNING`).
    pub(crate) async fn is_mariadb(&mut self) -> Result<bool, sqlx::Error> {
        let version: String = sqlx::query_scalar("SELECT CAST(VERSION() AS CHAR)")
            .fetch_one(&mut self.conn)
            .await?;
        Ok(version.to_ascii_lowercase().contains("mariadb"))
    }

    /// Whether the run marked `marker` committed (its row is there).
    pub(crate) async fn marker_committed(&mut self, marker: &str) -> Result<bool, sqlx::Error> {
        let found: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM {MARKER_TABLE} WHERE run_id = ?"
        )))
        .bind(marker)
        .fetch_one(&mut self.conn)
        .await?;
        Ok(found > 0)
    }

    /// Whether connection `id` is still on the server.
    pub(crate) async fn connection_alive(&mut self, id: u64) -> Result<bool, sqlx::Error> {
        let found: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = ?")
                .bind(id)
                .fetch_one(&mut self.conn)
                .await?;
        Ok(found > 0)
    }

    /// Ends connection `id` (which rolls back whatever it had not committed).
    pub(crate) async fn kill(&mut self, id: u64) -> Result<(), sqlx::Error> {
        match sqlx::raw_sql(AssertSqlSafe(format!("KILL CONNECTION {id}")))
            .execute(&mut self.conn)
            .await
        {
            // ER_NO_SUCH_THREAD: it has gone by itself.
            Err(error) if error.as_database_error().and_then(number) == Some(1094) => Ok(()),
            other => other.map(drop),
        }
    }
}

/// `mode` without the modes that change how text is read.
fn pinned_sql_mode(mode: &str) -> String {
    mode.split(',')
        .map(str::trim)
        .filter(|m| !m.is_empty() && !LEXING_MODES.iter().any(|l| l.eq_ignore_ascii_case(m)))
        .collect::<Vec<_>>()
        .join(",")
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

    #[test]
    fn the_pinned_mode_reads_quotes_and_backslashes_as_the_analyzer_does() {
        assert_eq!(
            pinned_sql_mode("STRICT_TRANS_TABLES,NO_BACKSLASH_ESCAPES,ANSI_QUOTES"),
            "STRICT_TRANS_TABLES"
        );
        assert_eq!(
            pinned_sql_mode("REAL_AS_FLOAT,PIPES_AS_CONCAT,ANSI_QUOTES,IGNORE_SPACE,ANSI"),
            "REAL_AS_FLOAT,PIPES_AS_CONCAT,IGNORE_SPACE"
        );
        assert_eq!(pinned_sql_mode(""), "");
        assert_eq!(pinned_sql_mode("ORACLE"), "");
        assert_eq!(
            pinned_sql_mode("STRICT_ALL_TABLES,NO_ZERO_DATE"),
            "STRICT_ALL_TABLES,NO_ZERO_DATE"
        );
    }
}
