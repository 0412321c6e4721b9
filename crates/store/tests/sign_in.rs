//! Sign-in, sessions and tokens under attack, on SQLite and PostgreSQL: failed sign-ins counted
//! in the store (the counters, the waits, the audit events of a burst); sessions that end when
//! idle or when their user changes; tokens that expire, are revoked and note their last use.

use countersign_core::audit::AuditEvent;
use countersign_core::throttle::Rule;
use countersign_core::throttle::{PER_ADDRESS, PER_USER};
use countersign_core::timestamp;
use countersign_core::user::Role;
use countersign_store::audit::AuditFilter;
use countersign_store::{Store, StoreError, ThrottleKey, store_tests};
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

const HOUR: Duration = Duration::from_secs(3600);

store_tests! {
    async fn an_idle_session_ends_and_a_used_one_lives_on(store: Store) {
        let alice = store.create_user("alice", &[Role::Author], None, None).await.expect("create");
        let far = timestamp::now() + time::Duration::days(7);
        store.create_session("s", &alice, "c", far).await.expect("session");
        assert!(store.session("s", HOUR).await.expect("read").is_some());
        tokio::time::sleep(Duration::from_millis(1200)).await;
        assert!(
            store.session("s", Duration::from_secs(1)).await.expect("read").is_none(),
            "unused for more than the idle time"
        );
        // Use within the idle time keeps it alive.
        store.create_session("t", &alice, "c", far).await.expect("session");
        for _ in 0..3 {
            tokio::time::sleep(Duration::from_millis(700)).await;
            assert!(store.session("t", Duration::from_secs(2)).await.expect("read").is_some());
        }
    }

    async fn a_new_password_or_new_roles_end_every_session_of_the_user(store: Store) {
        let eve = store.create_user("eve", &[Role::Author], Some("h"), None).await.expect("create");
        let bob = store.create_user("bob", &[Role::Author], Some("h"), None).await.expect("create");
        let far = timestamp::now() + time::Duration::days(1);
        for (id, who) in [("e1", &eve), ("e2", &eve), ("b1", &bob)] {
            store.create_session(id, who, "c", far).await.expect("session");
        }
        store.set_password_hash("eve", "h2", None).await.expect("passwd");
        assert!(store.session("e1", HOUR).await.expect("read").is_none());
        assert!(store.session("e2", HOUR).await.expect("read").is_none());
        assert!(store.session("b1", HOUR).await.expect("read").is_some(), "bob keeps his");
        let last = events(&store).await.pop().expect("event");
        assert_eq!((last.action.as_str(), &last.details["sessions_ended"]), ("user.password_changed", &json!(2)));

        store.create_session("b2", &bob, "c", far).await.expect("session");
        let bob = store.change_roles("bob", &[Role::Reviewer, Role::Admin], &[], Some("root")).await.expect("roles");
        assert_eq!(bob.roles, [Role::Author, Role::Reviewer, Role::Admin]);
        assert!(store.session("b1", HOUR).await.expect("read").is_none());
        assert!(store.session("b2", HOUR).await.expect("read").is_none());
        let bob = store.change_roles("bob", &[], &[Role::Admin], None).await.expect("roles");
        assert_eq!(bob.roles, [Role::Author, Role::Reviewer]);
        let last = events(&store).await.pop().expect("event");
        assert_eq!(last.action, "user.roles_changed");
        assert_eq!(last.details["removed"], json!(["admin"]));
        assert_eq!(last.details["roles"], json!(["author", "reviewer"]));
        assert!(store.change_roles("nobody", &[Role::Admin], &[], None).await.is_err());
    }

    async fn tokens_expire_are_revoked_once_and_note_their_last_use(store: Store) {
        let alice = store.create_user("alice", &[Role::Author], None, None).await.expect("create");
        let now = timestamp::now();
        let forever = store.create_token(&alice, "h-forever", None).await.expect("token");
        let expired = store
            .create_expiring_token(&alice, "h-expired", Some(now - time::Duration::seconds(1)), None)
            .await
            .expect("token");
        store
            .create_expiring_token(&alice, "h-later", Some(now + time::Duration::days(90)), None)
            .await
            .expect("token");
        assert!(store.user_by_token_hash("h-forever").await.expect("read").is_some());
        assert!(store.user_by_token_hash("h-later").await.expect("read").is_some());
        assert!(store.user_by_token_hash("h-expired").await.expect("read").is_none(), "expired");
        let list = store.list_tokens(Some("alice")).await.expect("list");
        assert_eq!(list.len(), 3);
        assert_eq!(list[2].id, forever, "newest first");
        assert!(list[2].last_used_at.is_some(), "a use is noted");
        assert!(list.iter().find(|t| t.id == expired).expect("listed").last_used_at.is_none());
        assert!(!list.iter().find(|t| t.id == expired).expect("listed").is_live(now));

        let revoked = store.revoke_token(forever, Some("admin")).await.expect("revoke");
        assert!(revoked.revoked_at.is_some());
        assert!(store.user_by_token_hash("h-forever").await.expect("read").is_none(), "revoked");
        assert!(matches!(store.revoke_token(forever, None).await, Err(StoreError::Conflict(_))));
        assert!(matches!(store.revoke_token(9999, None).await, Err(StoreError::NotFound(_))));
        let last = events(&store).await.pop().expect("event");
        assert_eq!(last.action, "token.revoked");
        assert_eq!(last.actor.as_deref(), Some("admin"));
        assert_eq!(last.details["token_id"], json!(forever));
        assert_eq!(store.list_tokens(None).await.expect("all").len(), 3);
        assert!(store.list_tokens(Some("bob")).await.expect("bob's").is_empty());
    }

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
