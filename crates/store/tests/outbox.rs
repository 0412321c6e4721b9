//! The outbox in the store, on SQLite and PostgreSQL: notifications are written with the change
//! that causes them; expansion happens once; a claim holds a delivery for its lease, after which
//! (the sender died before marking it) it is claimed again with the same delivery id; a later
//! delivery to the same channel about the same request waits for the earlier one.

use std::time::Duration;

use countersign_core::policy::RiskLevel;
use countersign_core::user::{Role, User};
use countersign_store::outbox::NewDelivery;
use countersign_store::{RevisionInput, Store, store_tests};
use serde_json::json;

async fn submit(store: &Store) -> (i64, User) {
    let alice = store
        .create_user("alice", &[Role::Author], None, None)
        .await
        .expect("alice");
    let bob = store
        .create_user("bob", &[Role::Reviewer], None, None)
        .await
        .expect("bob");
    store
        .create_user("root", &[Role::Admin], None, None)
        .await
        .expect("root");
    let analysis = json!({});
    let reviewers = [bob];
    let rev = RevisionInput {
        intent: "why",
        sql: "UPDATE t SET v = 1 WHERE id = 1",
        expected_rows: Some(1),
        reviewers: &reviewers,
        risk: RiskLevel::Low,
        analysis: &analysis,
        without_undo: false,
    };
    let id = store
        .submit_request(&alice, "Fix", "shop", &rev)
        .await
        .expect("submit");
    (id, alice)
}

store_tests! {
    async fn a_change_writes_its_notifications_and_each_is_expanded_once(store: Store) {
        let (id, alice) = submit(&store).await;
        store.add_comment(id, &alice, "see?").await.expect("comment");
        let mut seen = Vec::new();
        let n = store.expand_outbox(100, |event, audience| {
            seen.push((event.event.clone(), audience.reviewers.iter().map(|p| p.name.clone()).collect::<Vec<_>>(),
                audience.admins.iter().map(|p| p.name.clone()).collect::<Vec<_>>(), audience.author.name.clone()));
            vec![NewDelivery { delivery: format!("d-{}", event.id), channel: "hook".into(), recipient: None, payload: json!({"n": event.id}) }]
        }).await.expect("expand");
        assert_eq!(n, 2);
        assert_eq!(seen, vec![
            ("request.submitted".to_owned(), vec!["bob".to_owned()], vec!["root".to_owned()], "alice".to_owned()),
            ("comment.added".to_owned(), vec!["bob".to_owned()], vec!["root".to_owned()], "alice".to_owned()),
        ]);
        assert_eq!(store.expand_outbox(100, |_, _| panic!("expanded twice")).await.expect("expand"), 0);

        // Claimed together, in order; held by the lease from any other claim.
        let lease = Duration::from_millis(300);
        let first = store.claim_deliveries(10, lease).await.expect("claim");
        let names: Vec<(&str, i64)> = first.iter().map(|d| (d.delivery.as_str(), d.attempts)).collect();
        assert_eq!(names, [("d-1", 1), ("d-2", 1)]);
        assert!(store.claim_deliveries(10, lease).await.expect("claim").is_empty(), "held by its lease");
        // The sender died without marking them: after the lease, the same deliveries again.
        tokio::time::sleep(Duration::from_millis(400)).await;
        let again = store.claim_deliveries(10, lease).await.expect("claim");
        let names: Vec<(&str, i64)> = again.iter().map(|d| (d.delivery.as_str(), d.attempts)).collect();
        assert_eq!(names, [("d-1", 2), ("d-2", 2)]);
        // The first fails and waits for a retry; the second is given back and waits behind it.
        let later = countersign_core::timestamp::now() + Duration::from_millis(400);
        store.delivery_failed(again[0].id, "HTTP 503", Some(later)).await.expect("failed");
        store.release_delivery(again[1].id).await.expect("release");
        assert!(store.claim_deliveries(10, lease).await.expect("claim").is_empty(), "d-2 waits for d-1");
        tokio::time::sleep(Duration::from_millis(450)).await;
        let retried = store.claim_deliveries(10, lease).await.expect("claim");
        let names: Vec<(&str, i64)> = retried.iter().map(|d| (d.delivery.as_str(), d.attempts)).collect();
        assert_eq!(names, [("d-1", 3), ("d-2", 2)], "a released claim is no attempt");
        store.delivery_sent(retried[0].id).await.expect("sent");
        let next = &retried[1..];
        store.delivery_failed(next[0].id, "HTTP 500", None).await.expect("dead");
        let dead = store.dead_deliveries(10).await.expect("dead");
        assert_eq!(dead.len(), 1);
        assert_eq!((dead[0].event.as_str(), dead[0].last_error.as_deref()), ("comment.added", Some("HTTP 500")));
        store.retry_delivery(dead[0].id).await.expect("retry");
        assert!(store.retry_delivery(dead[0].id).await.is_err(), "only a dead one");
        let retried = store.claim_deliveries(10, lease).await.expect("claim");
        assert_eq!(retried[0].delivery, "d-2");
        let all = store.deliveries_of(id).await.expect("list");
        assert_eq!(all.iter().map(|d| d.status.as_str()).collect::<Vec<_>>(), ["sent", "pending"]);
    }
}
