//! Failed sign-ins counted per key (the hash of a client address or of a user name), in the
//! store so that every server instance sees the same counts. The rules — how many failures,
//! how long to wait — are [`countersign_core::throttle`]'s; this module keeps the counters and
//! appends the audit events a burst deserves, in the same transaction.

use std::time::Duration;

use countersign_core::audit::AuditAction;
use countersign_core::throttle::{Counter, Rule, Step};
use countersign_core::timestamp;
use serde_json::Value;
use sqlx::{Any, Row, Transaction};
use time::OffsetDateTime;

use crate::audit::{NewEvent, append};
use crate::{Store, StoreError};

/// One key a failed sign-in counts against.
#[derive(Debug, Clone, Copy)]
pub struct ThrottleKey<'a> {
    /// The key's hash (of a client address, or of a user name).
    pub hash: &'a str,
    pub rule: Rule,
    /// Whether a new burst on this key is audited. A user name that names nobody opens a
    /// burst with every new guess; its address's burst is the one worth an event.
    pub audit_bursts: bool,
}

/// What recording one failed sign-in did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureRecorded {
    /// A `user.login_failed` event was appended (the failure opened a burst for some key).
    pub audited: bool,
    /// The longest wait a key now has, if the failure tripped a limit.
    pub wait: Option<Duration>,
}

impl Store {
    /// How long the longest-blocked of `keys` must still wait at `now`, if any must.
    pub async fn sign_in_wait(
        &self,
        keys: &[&str],
        now: OffsetDateTime,
    ) -> Result<Option<Duration>, StoreError> {
        let mut wait: Option<Duration> = None;
        for key in keys {
            let row = sqlx::query(
                "SELECT failures, window_start, blocked_until FROM sign_in_failures \
                 WHERE key_hash = $1",
            )
            .bind(*key)
            .fetch_optional(&self.pool)
            .await?;
            if let Some(row) = row
                && let Some(w) = Rule::wait(&counter_from_row(&row)?, now)
            {
                wait = Some(wait.map_or(w, |longest| longest.max(w)));
            }
        }
        Ok(wait)
    }

    /// Counts one failed sign-in against every key with its rule. The first failure of a burst
    /// (on a key that audits bursts) appends `user.login_failed` with `details`; a failure that trips a limit appends
    /// `user.login_throttled` with `details` and the wait; the others append nothing.
    pub async fn record_sign_in_failure(
        &self,
        keys: &[ThrottleKey<'_>],
        now: OffsetDateTime,
        details: Value,
    ) -> Result<FailureRecorded, StoreError> {
        let mut tx = self.write_tx().await?;
        let longest_window = keys.iter().map(|k| k.rule.window).max().unwrap_or_default();
        // Housekeeping: counters whose window ran out and that block nothing are of no use.
        sqlx::query(
            "DELETE FROM sign_in_failures WHERE window_start < $1 \
             AND (blocked_until IS NULL OR blocked_until < $2)",
        )
        .bind(timestamp::format(now - longest_window))
        .bind(timestamp::format(now))
        .execute(&mut *tx)
        .await?;
        let mut new_burst = false;
        let mut wait: Option<Duration> = None;
        for key in keys {
            let step = step(&mut tx, key.hash, &key.rule, now).await?;
            new_burst |= step.new_burst && key.audit_bursts;
            if step.tripped {
                let w = key.rule.wait_after(step.counter.failures);
                wait = Some(wait.map_or(w, |longest| longest.max(w)));
            }
        }
        if new_burst {
            append(
                &mut tx,
                NewEvent::new(None, AuditAction::UserLoginFailed, details.clone()),
            )
            .await?;
        }
        if let Some(w) = wait {
            let mut details = details;
            if let Value::Object(map) = &mut details {
                map.insert("wait_seconds".into(), w.as_secs().into());
            }
            append(
                &mut tx,
                NewEvent::new(None, AuditAction::UserLoginThrottled, details),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(FailureRecorded {
            audited: new_burst,
            wait,
        })
    }

    /// Forgets the failures of `key` (a successful sign-in clears its user name's count).
    pub async fn clear_sign_in_failures(&self, key: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sign_in_failures WHERE key_hash = $1")
            .bind(key)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

/// Applies one failure to `key`'s counter inside `tx`. The row is created first and then
/// updated, so that on PostgreSQL the update's row lock orders concurrent failures of one key.
async fn step(
    tx: &mut Transaction<'static, Any>,
    key: &str,
    rule: &Rule,
    now: OffsetDateTime,
) -> Result<Step, StoreError> {
    let now_text = timestamp::format(now);
    let inserted = sqlx::query(
        "INSERT INTO sign_in_failures (key_hash, failures, window_start) VALUES ($1, 0, $2) \
         ON CONFLICT (key_hash) DO NOTHING",
    )
    .bind(key)
    .bind(&now_text)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    let row = sqlx::query(
        "UPDATE sign_in_failures SET failures = failures WHERE key_hash = $1 \
         RETURNING failures, window_start, blocked_until",
    )
    .bind(key)
    .fetch_one(&mut **tx)
    .await?;
    let stored = (inserted == 0)
        .then(|| counter_from_row(&row))
        .transpose()?;
    let step = rule.after_failure(stored.as_ref(), now);
    sqlx::query(
        "UPDATE sign_in_failures SET failures = $2, window_start = $3, blocked_until = $4 \
         WHERE key_hash = $1",
    )
    .bind(key)
    .bind(step.counter.failures)
    .bind(timestamp::format(step.counter.window_start))
    .bind(step.counter.blocked_until.map(timestamp::format))
    .execute(&mut **tx)
    .await?;
    Ok(step)
}

fn counter_from_row(row: &sqlx::any::AnyRow) -> Result<Counter, StoreError> {
    let time = |text: String| {
        timestamp::parse(&text).map_err(|_| StoreError::Corrupt(format!("throttle time {text:?}")))
    };
    Ok(Counter {
        failures: row.try_get("failures")?,
        window_start: time(row.try_get("window_start")?)?,
        blocked_until: row
            .try_get::<Option<String>, _>("blocked_until")?
            .map(time)
            .transpose()?,
    })
}
