//! Crash reconciliation: what became of a run whose server died before it recorded the
//! outcome. Only PostgreSQL can tell, from the transaction id the run recorded before any
//! statement ran (`txid_status()`); for the others the answer is always `unknown`.

use std::time::{Duration, Instant};

use countersign_core::request::ExecutionOutcome;

use crate::error::{DriverError, ReconcileError};
use crate::postgres;
use crate::session::within_connect_timeout;
use crate::target::{Driver, Target};

/// How long a transaction still `in progress` is watched for its end before the answer is
/// `unknown` (say, a session the dead server left behind, still in a long statement).
const PATIENCE: Duration = Duration::from_secs(5);

/// How often an `in progress` transaction is looked at again.
const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// What became of the run whose transaction id is `txid` on `target`:
///
/// - `committed` — its changes are in;
/// - `rolled_back` — it aborted (for instance, its connection died with the server);
/// - `unknown` — the target cannot tell: not PostgreSQL, no recorded id, an id too old for the
///   server to remember, or still in progress after a few seconds.
///
/// An `Err` means the target could not be asked (unreachable, refused); the caller may try
/// again later or settle for `unknown`.
pub async fn reconcile(
    target: Target<'_>,
    txid: Option<&str>,
) -> Result<ExecutionOutcome, ReconcileError> {
    let (Driver::Postgres, Some(txid)) = (target.driver, txid) else {
        return Ok(ExecutionOutcome::Unknown);
    };
    let id: i64 = txid
        .trim()
        .parse()
        .map_err(|_| ReconcileError::InvalidTxid(txid.to_owned()))?;
    let mut session = within_connect_timeout(postgres::Session::open(target.url))
        .await
        .map_err(|error| ReconcileError::Connect {
            message: DriverError::new(target, &error).message,
        })?;
    let outcome = watch(&mut session, id)
        .await
        .map_err(|error| ReconcileError::Query {
            message: DriverError::new(target, &error).message,
        });
    if let Err(error) = session.close().await {
        let message = DriverError::new(target, &error).message;
        tracing::debug!(%message, "closing the reconciliation connection failed");
    }
    let outcome = outcome?;
    tracing::info!(%outcome, "reconciled");
    Ok(outcome)
}

/// Asks `txid_status()` until the transaction has ended or [`PATIENCE`] has run out.
async fn watch(
    session: &mut postgres::Session,
    txid: i64,
) -> Result<ExecutionOutcome, sqlx::Error> {
    let give_up_at = Instant::now() + PATIENCE;
    loop {
        let status = session.txid_status(txid).await?;
        match status.as_deref() {
            Some("committed") => return Ok(ExecutionOutcome::Committed),
            Some("aborted") => return Ok(ExecutionOutcome::RolledBack),
            Some("in progress") if Instant::now() < give_up_at => {
                tokio::time::sleep(POLL_INTERVAL).await;
            }
            _ => return Ok(ExecutionOutcome::Unknown),
        }
    }
}
