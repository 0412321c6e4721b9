//! Failed sign-ins counted in the store, on SQLite and PostgreSQL: the counters, the waits and
//! the audit events of a burst.

use countersign_core::audit::AuditEvent;
use countersign_core::throttle::Rule;
use countersign_core::throttle::{PER_ADDRESS, PER_USER};
use countersign_core::timestamp;
use countersign_store::audit::AuditFilter;
use countersign_store::{Store, ThrottleKey, store_tests};
use futures_util::TryStreamExt;
use serde_json::json;
use std::time::Duration;

async fn events(store: &Store) -> Vec<AuditEvent> {
    store
        .audit_events(&AuditFilter::default())
        .try_collect()
        .await
        .expect("events")
}

fn key(hash: &str, rule: Rule, audit_bursts: bool) -> ThrottleKey<'_> {
    ThrottleKey {
        hash,
        rule,
        audit_bursts,
    }
}

store_tests! {
    async fn new_guesses_of_unknown_names_are_audited_by_their_address_burst_only(store: Store) {
        let now = timestamp::now();
        for name in ["u1", "u2", "u3"] {
            let keys = [key(name, PER_USER, false), key("address", PER_ADDRESS, true)];
            store.record_sign_in_failure(&keys, now, json!({ "user": "(unknown user)" })).await.expect("record");
        }
        assert_eq!(events(&store).await.len(), 1, "three guesses, one burst of the address");
    }

    async fn a_burst_of_failures_is_audited_once_then_once_more_when_it_trips(store: Store) {
        let now = timestamp::now();
        let keys = [key("user-key", PER_USER, true), key("address-key", PER_ADDRESS, true)];
        let details = json!({ "user": "alice" });
        for n in 1..=4i64 {
            let at = now + time::Duration::seconds(n);
            let done = store.record_sign_in_failure(&keys, at, details.clone()).await.expect("record");
            assert_eq!(done.audited, n == 1, "failure {n}");
            assert_eq!(done.wait, None);
            assert_eq!(store.sign_in_wait(&["user-key", "address-key"], at).await.expect("wait"), None);
        }
        let at = now + time::Duration::seconds(5);
        let done = store.record_sign_in_failure(&keys, at, details.clone()).await.expect("record");
        assert_eq!(done.wait, Some(Duration::from_secs(15)));
        assert_eq!(
            store.sign_in_wait(&["address-key", "user-key"], at).await.expect("wait"),
            Some(Duration::from_secs(15))
        );
        assert_eq!(store.sign_in_wait(&["address-key"], at).await.expect("wait"), None);
        let actions: Vec<String> = events(&store).await.into_iter().map(|e| e.action).collect();
        assert_eq!(actions, ["user.login_failed", "user.login_throttled"]);
        let last = events(&store).await.pop().expect("event");
        assert_eq!(last.details["user"], "alice");
        assert_eq!(last.details["wait_seconds"], 15);
        // One more failure (say, from another instance) doubles the wait.
        let done = store.record_sign_in_failure(&keys, at, details).await.expect("record");
        assert_eq!(done.wait, Some(Duration::from_secs(30)));
        store.clear_sign_in_failures("user-key").await.expect("clear");
        assert_eq!(store.sign_in_wait(&["user-key", "address-key"], at).await.expect("wait"), None);
    }

    async fn concurrent_failures_of_one_key_all_count(store: Store) {
        let now = timestamp::now();
        let tries = (0..8).map(|_| {
            let store = store.clone();
            async move {
                store
                    .record_sign_in_failure(&[key("k", PER_ADDRESS, true)], now, json!({ "user": "(unknown user)" }))
                    .await
                    .expect("record")
            }
        });
        let done = futures_util::future::join_all(tries).await;
        assert_eq!(done.iter().filter(|d| d.audited).count(), 1, "one burst, one event");
        for n in 0..12 {
            store
                .record_sign_in_failure(&[key("k", PER_ADDRESS, true)], now, json!({}))
                .await
                .expect("record");
            let wait = store.sign_in_wait(&["k"], now).await.expect("wait");
            assert_eq!(wait.is_some(), 8 + n + 1 >= PER_ADDRESS.limit, "after {} failures", 8 + n + 1);
        }
    }
}
