//! Crash reconciliation: what became of a run whose server died before it recorded the
//! outcome, read from the target through the [`RunIdentity`] the run recorded before any
//! statement ran. Never a guess:
//!
//! - PostgreSQL: `txid_status()` of the recorded transaction id;
//! - MySQL/MariaDB: the run's marker row in `countersign_runs` (there exactly when the
//!   transaction committed), once the run's connection is gone;
//! - SQLite: the marker row, once no transaction holds the file's write lock.
//!
//! A transaction the target still reports in progress is not settled. When the caller knows
//! the run to be orphaned (its server is gone), the session it left behind is ended —
//! `pg_terminate_backend` of the recorded backend, `KILL` of the recorded MySQL connection —
//! and the outcome is read afterwards.

use std::str::FromStr;
use std::time::{Duration, Instant};

use crate::error::{DriverError, ReconcileError};
use crate::report::RunIdentity;
use crate::session::within_connect_timeout;
use crate::target::{Driver, Limits, Target};
use crate::{mysql, postgres, sqlite};

/// How long an ended session's transaction is watched for its end before the answer is
/// "in progress".
const PATIENCE: Duration = Duration::from_secs(5);

/// How often a transaction in progress is looked at again.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// How long a look at a SQLite file waits for its write lock.
const SQLITE_LOOK: Duration = Duration::from_millis(200);

/// What the target says became of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settlement {
    /// Its changes are in.
    Committed,
    /// It ended without committing: nothing of it is in.
    RolledBack,
    /// The target still has it running: not settled yet.
    InProgress,
    /// The target cannot tell (nothing recorded that it could be asked about, or an id too
    /// old for it to remember).
    Unknown,
}

impl Settlement {
    /// Whether this is a final answer (the run has ended, one way or the other, or will never
    /// be known).
    pub const fn is_final(self) -> bool {
        !matches!(self, Self::InProgress)
    }
}

/// What became of the run identified by `identity` on `target`. `orphaned`: the caller knows
/// the run's server to be gone, so a session still in the transaction is ended before the
/// answer is read.
///
/// An `Err` means the target could not be asked (unreachable, refused); the caller may try
/// again later.
pub async fn reconcile(
    target: Target<'_>,
    identity: &RunIdentity,
    orphaned: bool,
) -> Result<Settlement, ReconcileError> {
    let settlement = match target.driver {
        Driver::Postgres => reconcile_postgres(target, identity, orphaned).await?,
        Driver::Mysql => reconcile_mysql(target, identity, orphaned).await?,
        Driver::Sqlite => reconcile_sqlite(target, identity).await?,
    };
    tracing::info!(?settlement, orphaned, "reconciled");
    Ok(settlement)
}

fn parse<T: FromStr>(what: &'static str, value: &str) -> Result<T, ReconcileError> {
    value
        .trim()
        .parse()
        .map_err(|_| ReconcileError::InvalidIdentity {
            what,
            value: value.to_owned(),
        })
}

fn connect_error(target: Target<'_>) -> impl Fn(sqlx::Error) -> ReconcileError + '_ {
    move |error| ReconcileError::Connect {
        message: DriverError::new(target, &error).message,
    }
}

fn query_error(target: Target<'_>) -> impl Fn(sqlx::Error) -> ReconcileError + '_ {
    move |error| ReconcileError::Query {
        message: DriverError::new(target, &error).message,
    }
}

async fn reconcile_postgres(
    target: Target<'_>,
    identity: &RunIdentity,
    orphaned: bool,
) -> Result<Settlement, ReconcileError> {
    let Some(txid) = identity.txid.as_deref() else {
        return Ok(Settlement::Unknown);
    };
    let txid: i64 = parse("transaction id", txid)?;
    let pid: Option<i32> = identity
        .session
        .as_deref()
        .map(|pid| parse("backend pid", pid))
        .transpose()?;
    let mut session = within_connect_timeout(postgres::Session::open(target.url))
        .await
        .map_err(connect_error(target))?;
    let settlement = watch_postgres(&mut session, txid, pid, orphaned)
        .await
        .map_err(query_error(target));
    if let Err(error) = session.close().await {
        let message = DriverError::new(target, &error).message;
        tracing::debug!(%message, "closing the reconciliation connection failed");
    }
    settlement
}

async fn watch_postgres(
    session: &mut postgres::Session,
    txid: i64,
    pid: Option<i32>,
    orphaned: bool,
) -> Result<Settlement, sqlx::Error> {
    let mut ended_at: Option<Instant> = None;
    loop {
        match session.txid_status(txid).await?.as_deref() {
            Some("committed") => return Ok(Settlement::Committed),
            Some("aborted") => return Ok(Settlement::RolledBack),
            Some("in progress") => {}
            _ => return Ok(Settlement::Unknown),
        }
        let (true, Some(pid)) = (orphaned, pid) else {
            return Ok(Settlement::InProgress);
        };
        match ended_at {
            None => {
                let asked = session.terminate(pid, txid).await?;
                tracing::warn!(
                    pid,
                    asked,
                    "ended the session a dead server left in its transaction"
                );
                ended_at = Some(Instant::now());
            }
            Some(at) if at.elapsed() > PATIENCE => return Ok(Settlement::InProgress),
            Some(_) => {}
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

async fn reconcile_mysql(
    target: Target<'_>,
    identity: &RunIdentity,
    orphaned: bool,
) -> Result<Settlement, ReconcileError> {
    let Some(marker) = identity.marker.as_deref() else {
        return Ok(Settlement::Unknown);
    };
    let connection: Option<u64> = identity
        .session
        .as_deref()
        .map(|id| parse("connection id", id))
        .transpose()?;
    let mut session = within_connect_timeout(mysql::Session::open(target.url))
        .await
        .map_err(connect_error(target))?;
    let settlement = watch_mysql(&mut session, marker, connection, orphaned)
        .await
        .map_err(query_error(target));
    if let Err(error) = session.close().await {
        let message = DriverError::new(target, &error).message;
        tracing::debug!(%message, "closing the reconciliation connection failed");
    }
    settlement
}

async fn watch_mysql(
    session: &mut mysql::Session,
    marker: &str,
    connection: Option<u64>,
    orphaned: bool,
) -> Result<Settlement, sqlx::Error> {
    let mut killed_at: Option<Instant> = None;
    loop {
        if session.marker_committed(marker).await? {
            return Ok(Settlement::Committed);
        }
        let alive = match connection {
            Some(id) => session.connection_alive(id).await?,
            None => false,
        };
        if !alive {
            // Gone without its marker — unless it committed between the two looks.
            return Ok(if session.marker_committed(marker).await? {
                Settlement::Committed
            } else {
                Settlement::RolledBack
            });
        }
        let (true, Some(id)) = (orphaned, connection) else {
            return Ok(Settlement::InProgress);
        };
        match killed_at {
            None => {
                session.kill(id).await?;
                tracing::warn!(
                    connection = id,
                    "ended the connection a dead server left in its transaction"
                );
                killed_at = Some(Instant::now());
            }
            Some(at) if at.elapsed() > PATIENCE => return Ok(Settlement::InProgress),
            Some(_) => {}
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

async fn reconcile_sqlite(
    target: Target<'_>,
    identity: &RunIdentity,
) -> Result<Settlement, ReconcileError> {
    let Some(marker) = identity.marker.as_deref() else {
        return Ok(Settlement::Unknown);
    };
    let limits = Limits {
        statement_timeout: None,
        lock_timeout: Some(SQLITE_LOOK),
    };
    let mut session = within_connect_timeout(sqlite::Session::open(target.url, &limits))
        .await
        .map_err(connect_error(target))?;
    let settlement = session
        .marker_committed(marker)
        .await
        .map_err(query_error(target));
    if let Err(error) = session.close().await {
        let message = DriverError::new(target, &error).message;
        tracing::debug!(%message, "closing the reconciliation connection failed");
    }
    Ok(match settlement? {
        Some(true) => Settlement::Committed,
        Some(false) => Settlement::RolledBack,
        None => Settlement::InProgress,
    })
}
