//! SQLite. The lock timeout is the connection's busy timeout (sqlx's default of 5 s when the
//! policy gives none); the transaction starts with `BEGIN IMMEDIATE`, so the write lock is
//! taken — or waited for, up to the busy timeout — before the first statement, never in the
//! middle of the script. The statement timeout is a deadline checked by SQLite's progress
//! handler every [`PROGRESS_OPS`] virtual-machine instructions: past it, SQLite interrupts the
//! statement (`SQLITE_INTERRUPT`) and the run times out. The handler is set through sqlx's safe
//! wrapper; no `unsafe` here.
//!
//! A statement's rows are `sqlite3_changes()` only when `total_changes()` moved: SQLite keeps
//! reporting the last `INSERT`/`UPDATE`/`DELETE`'s count after a `SELECT` or DDL, which would
//! otherwise count twice against the guard.
//!
//! sqlx turns `foreign_keys` on for every connection; SQLite's other settings are the file's.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sqlx::error::DatabaseError;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection};

use crate::target::Limits;

/// How many VM instructions SQLite runs between two looks at the deadline (~tens of µs).
const PROGRESS_OPS: i32 = 1_000;

/// Primary result codes of a lock or deadline: `SQLITE_BUSY`, `SQLITE_LOCKED`,
/// `SQLITE_INTERRUPT`.
const TIMEOUT_CODES: &[i32] = &[5, 6, 9];

/// One session on a SQLite target.
#[derive(Debug)]
pub(crate) struct Session {
    conn: SqliteConnection,
    /// Present when the policy has a statement timeout.
    deadline: Option<(Duration, Arc<Deadline>)>,
    /// `total_changes()` after the last statement.
    total_changes: i64,
}

impl Session {
    pub(crate) async fn open(url: &str, limits: &Limits) -> Result<Self, sqlx::Error> {
        let mut options = SqliteConnectOptions::from_str(url)?;
        if let Some(limit) = limits.lock_timeout {
            options = options.busy_timeout(limit);
        }
        let mut conn = options.connect().await?;
        let deadline = match limits.statement_timeout {
            Some(limit) => Some((limit, watch_deadline(&mut conn).await?)),
            None => None,
        };
        Ok(Self {
            conn,
            deadline,
            total_changes: 0,
        })
    }

    pub(crate) async fn begin(&mut self) -> Result<(), sqlx::Error> {
        sqlx::raw_sql("BEGIN IMMEDIATE")
            .execute(&mut self.conn)
            .await?;
        self.total_changes = self.total_changes().await?;
        Ok(())
    }

    /// Runs one approved statement under the statement deadline and returns the rows it
    /// changed.
    pub(crate) async fn run(&mut self, sql: &str) -> Result<u64, sqlx::Error> {
        if let Some((limit, deadline)) = &self.deadline {
            deadline.arm(*limit);
        }
        let result = sqlx::raw_sql(AssertSqlSafe(sql))
            .execute(&mut self.conn)
            .await;
        if let Some((_, deadline)) = &self.deadline {
            deadline.disarm();
        }
        let changes = result?.rows_affected();
        let total = self.total_changes().await?;
        let moved = total != std::mem::replace(&mut self.total_changes, total);
        Ok(if moved { changes } else { 0 })
    }

    async fn total_changes(&mut self) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar("SELECT total_changes()")
            .fetch_one(&mut self.conn)
            .await
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

/// Installs a progress handler that interrupts whatever runs past the returned deadline.
async fn watch_deadline(conn: &mut SqliteConnection) -> Result<Arc<Deadline>, sqlx::Error> {
    let deadline = Arc::new(Deadline::new());
    let watched = Arc::clone(&deadline);
    conn.lock_handle()
        .await?
        .set_progress_handler(PROGRESS_OPS, move || !watched.has_passed());
    Ok(deadline)
}

/// The moment the running statement must end by, shared with the progress handler, which
/// runs on sqlx's SQLite worker thread. Lock-free: an instant stored as nanoseconds since
/// `origin`.
#[derive(Debug)]
struct Deadline {
    origin: Instant,
    nanos: AtomicU64,
}

impl Deadline {
    const UNARMED: u64 = u64::MAX;

    fn new() -> Self {
        Self {
            origin: Instant::now(),
            nanos: AtomicU64::new(Self::UNARMED),
        }
    }

    fn arm(&self, limit: Duration) {
        let at = self.origin.elapsed().saturating_add(limit).as_nanos();
        let at = u64::try_from(at).unwrap_or(Self::UNARMED - 1);
        self.nanos.store(at, Ordering::Release);
    }

    fn disarm(&self) {
        self.nanos.store(Self::UNARMED, Ordering::Release);
    }

    fn has_passed(&self) -> bool {
        let at = self.nanos.load(Ordering::Acquire);
        at != Self::UNARMED && self.origin.elapsed().as_nanos() >= u128::from(at)
    }
}

pub(crate) fn is_timeout(error: &dyn DatabaseError) -> bool {
    error
        .code()
        .and_then(|code| code.parse::<i32>().ok())
        .is_some_and(|extended| TIMEOUT_CODES.contains(&(extended & 0xff)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deadline_passes_only_while_armed() {
        let deadline = Deadline::new();
        assert!(!deadline.has_passed());
        deadline.arm(Duration::ZERO);
        assert!(deadline.has_passed());
        deadline.disarm();
        assert!(!deadline.has_passed());
        deadline.arm(Duration::from_secs(3600));
        assert!(!deadline.has_passed());
        deadline.arm(Duration::MAX);
        assert!(!deadline.has_passed());
    }
}
