//! The dispatcher every instance runs: expand new outbox events into deliveries (`plan`),
//! claim due deliveries under a lease, send them at once, and mark each sent, to be retried
//! (exponential backoff from `outbox.retry_first`, at most `outbox.retry_max` apart) or dead
//! (a permanent refusal, or still failing `outbox.give_up_after` after it was written). Every
//! error text is scrubbed of the configured secrets before it is stored or logged.

use std::sync::Arc;

use countersign_core::timestamp;
use countersign_store::outbox::{Delivery, DeliveryOutcome};
use lettre::{AsyncSmtpTransport, Tokio1Executor};
use time::OffsetDateTime;

use super::plan::{EMAIL, plan};
use super::{SendError, email, scrub, webhook};
use crate::AppState;
use crate::config::notify::OutboxConfig;
use crate::stoppable::Stoppable;

/// How many deliveries one round claims.
const BATCH: i64 = 64;

/// What a dispatcher keeps between rounds.
pub struct Dispatcher {
    client: reqwest::Client,
    smtp: Option<(AsyncSmtpTransport<Tokio1Executor>, String)>,
    secrets: Vec<String>,
}

impl Dispatcher {
    pub fn new(state: &AppState) -> Dispatcher {
        super::install_tls();
        let notify = &state.config.notify;
        let client = reqwest::Client::builder()
            .timeout(notify.outbox.timeout)
            .connect_timeout(notify.outbox.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        let smtp = notify.smtp.as_ref().and_then(|smtp| {
            match email::transport(smtp, notify.outbox.timeout) {
                Ok(t) => Some((t, smtp.from.clone())),
                Err(e) => {
                    tracing::error!(error = ?e, "cannot set up email; none is sent");
                    None
                }
            }
        });
        Dispatcher {
            client,
            smtp,
            secrets: notify.secrets(),
        }
    }
}

/// When a delivery that failed its `attempts`-th attempt is tried again, or `None`: never.
pub fn retry_at(
    outbox: &OutboxConfig,
    attempts: i64,
    created_at: OffsetDateTime,
    now: OffsetDateTime,
) -> Option<OffsetDateTime> {
    let doublings = u32::try_from(attempts.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
    let delay = outbox
        .retry_first
        .saturating_mul(2u32.saturating_pow(doublings))
        .min(outbox.retry_max);
    let at = now + delay;
    (at <= created_at + outbox.give_up_after).then_some(at)
}

impl AppState {
    /// One round: expand, claim, send, mark. Returns how many deliveries it attempted.
    pub async fn dispatch_once(&self, d: &Arc<Dispatcher>) -> usize {
        let config = self.config.clone();
        loop {
            match self
                .store
                .expand_outbox(BATCH, |event, audience| plan(&config, event, audience))
                .await
            {
                Ok(n) if n as i64 == BATCH => continue,
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot expand the outbox");
                    break;
                }
            }
        }
        let outbox = &self.config.notify.outbox;
        let claimed = match self.store.claim_deliveries(BATCH, outbox.lease()).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "cannot claim deliveries");
                return 0;
            }
        };
        let n = claimed.len();
        // One queue per channel and request, sent in order; the queues at once.
        let mut queues: Vec<Vec<Delivery>> = Vec::new();
        for delivery in claimed {
            match queues.iter_mut().find(|q| {
                q[0].channel == delivery.channel && q[0].request_id == delivery.request_id
            }) {
                Some(q) => q.push(delivery),
                None => queues.push(vec![delivery]),
            }
        }
        let sends = queues.into_iter().map(|queue| {
            let d = d.clone();
            let state = self.clone();
            async move {
                let mut outcomes = Vec::with_capacity(queue.len());
                let mut failed = false;
                for delivery in queue {
                    if failed {
                        outcomes.push((delivery.id, DeliveryOutcome::Released));
                        continue;
                    }
                    let result = match tokio::time::timeout(
                        outbox.timeout,
                        state.send_delivery(&d, &delivery),
                    )
                    .await
                    {
                        Ok(r) => r,
                        Err(_) => Err(SendError::retry("the receiver did not answer in time")),
                    };
                    failed = result.as_ref().is_err_and(|e| !e.permanent);
                    outcomes.push((delivery.id, state.outcome_of(&d, &delivery, result)));
                }
                outcomes
            }
        });
        let outcomes: Vec<_> = futures_util::future::join_all(sends)
            .await
            .into_iter()
            .flatten()
            .collect();
        // One transaction for the round: a crash before it sends them again (at least once).
        if let Err(e) = self.store.settle_deliveries(&outcomes).await {
            tracing::warn!(error = %e, "cannot record the deliveries' outcomes");
        }
        n
    }

    async fn send_delivery(&self, d: &Dispatcher, delivery: &Delivery) -> Result<(), SendError> {
        if delivery.channel == EMAIL {
            let Some((transport, from)) = &d.smtp else {
                return Err(SendError::retry("email is not set up ([smtp])"));
            };
            return email::send(transport, from, delivery).await;
        }
        let Some(channel) = self.config.notify.channel(&delivery.channel) else {
            return Err(SendError::retry(format!(
                "no [[notify]] is called {:?} any more",
                delivery.channel
            )));
        };
        webhook::send(&d.client, channel, delivery).await
    }

    /// What `result` means for `delivery`: sent, tried again later, or dead.
    fn outcome_of(
        &self,
        d: &Dispatcher,
        delivery: &Delivery,
        result: Result<(), SendError>,
    ) -> DeliveryOutcome {
        let Err(e) = result else {
            return DeliveryOutcome::Sent;
        };
        let message = scrub(&e.message, &d.secrets);
        let retry_at = if e.permanent {
            None
        } else {
            retry_at(
                &self.config.notify.outbox,
                delivery.attempts,
                delivery.created_at,
                timestamp::now(),
            )
        };
        tracing::warn!(
            delivery = %delivery.delivery,
            channel = ?delivery.channel,
            attempt = delivery.attempts,
            error = ?message,
            dead = retry_at.is_none(),
            "a delivery failed"
        );
        let error = match retry_at {
            None if !e.permanent => {
                format!("gave up after {} attempts: {message}", delivery.attempts)
            }
            _ => message,
        };
        DeliveryOutcome::Failed { error, retry_at }
    }

    /// The dispatcher: rounds back to back while there is something to send, then one every
    /// `outbox.poll_every` — or at once when this instance has changed something
    /// ([`AppState::wake_dispatcher`]). Stopped between two rounds: a message sent is also marked
    /// sent, not sent again by the next instance.
    pub fn spawn_dispatcher(&self) -> Stoppable {
        let state = self.clone();
        Stoppable::spawn(move |mut signal| async move {
            let d = Arc::new(Dispatcher::new(&state));
            while !signal.is_stopped() {
                // A round that sent something is followed by another at once: the next message
                // about a request becomes due only when the one before it is sent.
                if state.dispatch_once(&d).await == 0 {
                    let poll = tokio::time::sleep(state.config.notify.outbox.poll_every);
                    tokio::select! {
                        () = poll => {}
                        () = state.outbox_wake.notified() => {}
                        () = signal.stopped() => {}
                    }
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap_and_stops_after_the_window() {
        let outbox = OutboxConfig::default();
        let t0 = timestamp::now();
        let wait = |attempts, now| retry_at(&outbox, attempts, t0, now).map(|at| at - now);
        assert_eq!(wait(1, t0), Some(time::Duration::seconds(5)));
        assert_eq!(wait(2, t0), Some(time::Duration::seconds(10)));
        assert_eq!(wait(5, t0), Some(time::Duration::seconds(80)));
        assert_eq!(wait(40, t0), Some(time::Duration::hours(1)), "capped");
        let late = t0 + Duration::from_secs(23 * 3600 + 1800);
        assert_eq!(wait(40, late), None, "past 24 h: dead");
        let almost = t0 + Duration::from_secs(22 * 3600);
        assert!(wait(40, almost).is_some(), "retried for at least 24 h");
    }
}
