//! SQLite. The lock timeout is the connection's busy timeout (sqlx's default of 5 s when the
//! policy gives none); the transaction starts with `BEGIN IMMEDIATE`, so the write lock is
//! taken — or waited for, up to the busy timeout — before the first statement, never in the
//! middle of the script. The statement timeout is a deadline checked by SQLite's progress
//! handler every [`PROGRESS_OPS`] virtual-machine instructions: past it, SQLite interrupts the
//! statement (`SQLITE_INTERRUPT`) and the run times out. The deadline is armed afresh as each
//! statement of the script begins. Handlers are set through sqlx's safe wrappers; no `unsafe`.
//!
//! The approved text is given to SQLite as it is, which prepares and runs it one statement at
//! a time by its own reading of the text. The rows the transaction changes are counted by
//! `total_changes()` (triggers included) and split per table and kind by the connection's
//! update hook; what the hook does not see (a `DELETE` without `WHERE`, which SQLite empties
//! the table by, without visiting rows) is counted as deleted in a `(not attributed)` row.
//!
//! Crash safety: the run writes a row keyed by a fresh UUID into `countersign_runs` inside its
//! transaction; the row is in the file exactly when the transaction committed.
//!
//! sqlx turns `foreign_keys` on for every connection; SQLite's other settings are the file's.

use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use sqlx::error::DatabaseError;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteOperation, SqliteQueryResult};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, Row};

use crate::counting::{Counters, non_negative};
use crate::report::RunIdentity;
use crate::session::{ColumnInfo, MARKER_TABLE};
use crate::target::Limits;
use crate::text::{self, Fetch, Keep};

/// How many VM instructions SQLite runs between two looks at the deadline (~tens of µs).
const PROGRESS_OPS: i32 = 1_000;

/// Primary result codes of a lock or deadline: `SQLITE_BUSY`, `SQLITE_LOCKED`,
/// `SQLITE_INTERRUPT`.
const TIMEOUT_CODES: &[i32] = &[5, 6, 9];

/// The row of changes the update hook did not see.
const NOT_ATTRIBUTED: &str = "(not attributed)";

/// One session on a SQLite target.
#[derive(Debug)]
pub(crate) struct Session {
    conn: SqliteConnection,
    /// Present when the policy has a statement timeout.
    deadline: Option<(Duration, Arc<Deadline>)>,
    /// What the update hook has seen, per table.
    seen: Arc<Mutex<Counters>>,
    /// Interrupts whatever still runs when the session is dropped (a run or rehearsal given
    /// up on mid-statement), so that SQLite's worker ends it and lets go of the write lock at
    /// once rather than at the statement's deadline.
    _interrupt: InterruptOnDrop,
}

/// Passes the deadline when dropped.
#[derive(Debug)]
struct InterruptOnDrop(Option<Arc<Deadline>>);

impl Drop for InterruptOnDrop {
    fn drop(&mut self) {
        if let Some(deadline) = &self.0 {
            deadline.arm(Duration::ZERO);
        }
    }
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
        let seen = Arc::new(Mutex::new(Counters::default()));
        let hook = Arc::clone(&seen);
        conn.lock_handle().await?.set_update_hook(move |change| {
            let (inserted, updated, deleted) = match change.operation {
                SqliteOperation::Insert => (1, 0, 0),
                SqliteOperation::Update => (0, 1, 0),
                SqliteOperation::Delete => (0, 0, 1),
                _ => (0, 1, 0),
            };
            let table = format!("{}.{}", change.database, change.table);
            hook.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .add(table, inserted, updated, deleted);
        });
        let interrupt = InterruptOnDrop(deadline.as_ref().map(|(_, d)| Arc::clone(d)));
        Ok(Self {
            conn,
            deadline,
            seen,
            _interrupt: interrupt,
        })
    }

    /// Creates the marker table if need be, takes the write lock, and writes the run's
    /// marker.
    pub(crate) async fn begin(&mut self) -> Result<RunIdentity, sqlx::Error> {
        sqlx::raw_sql(AssertSqlSafe(format!(
            "CREATE TABLE IF NOT EXISTS {MARKER_TABLE} (\
             run_id TEXT NOT NULL PRIMARY KEY, \
             ran_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)"
        )))
        .execute(&mut self.conn)
        .await?;
        sqlx::raw_sql("BEGIN IMMEDIATE")
            .execute(&mut self.conn)
            .await?;
        let marker = uuid::Uuid::new_v4().to_string();
        sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO {MARKER_TABLE} (run_id) VALUES (?)"
        )))
        .bind(&marker)
        .execute(&mut self.conn)
        .await?;
        Ok(RunIdentity {
            txid: None,
            session: None,
            marker: Some(marker),
        })
    }

    /// Gives SQLite the approved text as it is; yields each statement's count as it ends,
    /// arming the statement deadline afresh for the next.
    ///
    /// SQLite keeps reporting the last `INSERT`/`UPDATE`/`DELETE`'s count after DDL (and, before
    /// sqlx 0.9.1, after a `SELECT`; it now reports 0 for a read-only statement), so a
    /// statement's count is taken only when it changed something: the update hook saw rows
    /// change, or the reported count moved away from the last count repeated (a `DELETE`
    /// without `WHERE`, which the hook does not see). A 0 repeats nothing. (The guard also
    /// compares the connection's `total_changes()`: a count missed here is not missed there.)
    pub(crate) fn script<'c>(&'c mut self, sql: &str) -> BoxStream<'c, Result<u64, sqlx::Error>> {
        let deadline = self.deadline.clone();
        if let Some((limit, deadline)) = &deadline {
            deadline.arm(*limit);
        }
        let seen = Arc::clone(&self.seen);
        let mut last_seen = seen_total(&seen);
        let mut last_reported = None;
        sqlx::raw_sql(AssertSqlSafe(sql))
            .execute_many(&mut self.conn)
            .map(move |done| {
                if let Some((limit, deadline)) = &deadline {
                    deadline.arm(*limit);
                }
                let reported = done?.rows_affected();
                let now_seen = seen_total(&seen);
                let changed = now_seen > last_seen || last_reported.is_some_and(|r| r != reported);
                last_seen = now_seen;
                if reported != 0 {
                    last_reported = Some(reported);
                }
                Ok(if changed { reported } else { 0 })
            })
            .boxed()
    }

    /// `total_changes()` and what the update hook has seen; the part of the total the hook
    /// missed goes to a `(not attributed)` row.
    pub(crate) async fn counters(&mut self) -> Result<Counters, sqlx::Error> {
        if let Some((_, deadline)) = &self.deadline {
            deadline.disarm();
        }
        let total: i64 = sqlx::query_scalar("SELECT total_changes()")
            .fetch_one(&mut self.conn)
            .await?;
        let mut counters = self
            .seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let seen = counters.total();
        counters.add(
            NOT_ATTRIBUTED,
            0,
            0,
            non_negative(total).saturating_sub(seen),
        );
        Ok(counters)
    }

    /// Takes the write lock for a rehearsal: no marker (nothing of a rehearsal may stay).
    pub(crate) async fn begin_rehearsal(&mut self) -> Result<RunIdentity, sqlx::Error> {
        sqlx::raw_sql("BEGIN IMMEDIATE")
            .execute(&mut self.conn)
            .await?;
        Ok(RunIdentity::default())
    }

    /// Runs `sql` (one or more statements), each under the statement deadline, and reads what
    /// it returns as text (see [`crate::text`]).
    pub(crate) async fn fetch(&mut self, sql: &str, keep: &[Keep]) -> Fetch {
        let deadline = self.deadline.clone();
        let arm = || {
            if let Some((limit, deadline)) = &deadline {
                deadline.arm(*limit);
            }
        };
        arm();
        let fetched = text::fetch(
            &mut self.conn,
            sql,
            keep,
            SqliteQueryResult::rows_affected,
            arm,
        )
        .await;
        if let Some((_, deadline)) = &self.deadline {
            deadline.disarm();
        }
        fetched
    }

    /// The primary key's columns of `table` (in `schema`, or `main`), in key order; empty
    /// without one (the table's `rowid` then identifies its rows).
    pub(crate) async fn primary_key(
        &mut self,
        schema: Option<&str>,
        table: &str,
    ) -> Result<Vec<String>, sqlx::Error> {
        sqlx::query_scalar("SELECT name FROM pragma_table_info(?1, ?2) WHERE pk > 0 ORDER BY pk")
            .bind(table)
            .bind(schema.unwrap_or("main"))
            .fetch_all(&mut self.conn)
            .await
    }

    /// The columns of `table` (in `schema`, or `main`), in the table's order.
    pub(crate) async fn columns(
        &mut self,
        schema: Option<&str>,
        table: &str,
    ) -> Result<Vec<ColumnInfo>, sqlx::Error> {
        let rows =
            sqlx::query("SELECT name, hidden FROM pragma_table_xinfo(?1, ?2) WHERE hidden <> 1")
                .bind(table)
                .bind(schema.unwrap_or("main"))
                .fetch_all(&mut self.conn)
                .await?;
        Ok(rows
            .into_iter()
            .map(|row| ColumnInfo {
                name: row.get(0),
                binary: false,
                generated: row.get::<i64, _>(1) != 0,
            })
            .collect())
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

    /// After a crash: `Some(true)` when the run marked `marker` committed, `Some(false)` when
    /// it certainly did not (its row is absent and no transaction holds the file's write
    /// lock), `None` while a writer still holds the lock.
    pub(crate) async fn marker_committed(
        &mut self,
        marker: &str,
    ) -> Result<Option<bool>, sqlx::Error> {
        if !self.has_marker_table().await? {
            return Ok(Some(false));
        }
        match sqlx::raw_sql("BEGIN IMMEDIATE")
            .execute(&mut self.conn)
            .await
        {
            Ok(_) => {}
            Err(error) if error.as_database_error().is_some_and(is_timeout) => return Ok(None),
            Err(error) => return Err(error),
        }
        let found: Result<i64, _> = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM {MARKER_TABLE} WHERE run_id = ?"
        )))
        .bind(marker)
        .fetch_one(&mut self.conn)
        .await;
        self.rollback().await?;
        Ok(Some(found? > 0))
    }

    async fn has_marker_table(&mut self) -> Result<bool, sqlx::Error> {
        let found: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?",
        )
        .bind(MARKER_TABLE)
        .fetch_one(&mut self.conn)
        .await?;
        Ok(found > 0)
    }
}

/// The rows the update hook has seen change, over every table.
fn seen_total(seen: &Mutex<Counters>) -> u64 {
    seen.lock().unwrap_or_else(PoisonError::into_inner).total()
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
