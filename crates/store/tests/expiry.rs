//! Approval expiry in the store, on SQLite and PostgreSQL: the execute claim refuses an approval
//! reached at or before the cut-off in its own compare-and-set; the pass finds such requests and
//! moves each back to review once, with its approvals void and `approval.expired`.

use std::time::Duration;

use countersign_core::policy::RiskLevel;
use countersign_core::request::{RequestStatus, ReviewDecision, sql_sha256};
use countersign_core::timestamp;
use countersign_core::user::{Role, User};
use countersign_store::{Conflict, RevisionInput, Store, StoreError, store_tests};
use serde_json::json;

async fn approved(store: &Store) -> (i64, User) {
    let alice = store
        .create_user("alice", &[Role::Author], None, None)
        .await
        .expect("alice");
    let bob = store
        .create_user("bob", &[Role::Reviewer], None, None)
        .await
        .expect("bob");
    let sql = "UPDATE orders SET status = 'paid' WHERE id = 42";
    let analysis = json!({});
    let reviewers = [bob.clone()];
    let rev = RevisionInput {
        intent: "the bank confirmed",
        sql,
        expected_rows: Some(1),
        reviewers: &reviewers,
        risk: RiskLevel::Low,
        analysis: &analysis,
        without_undo: false,
    };
    let id = store
        .submit_request(&alice, "Fix order 42", "shop", &rev)
        .await
        .expect("submit");
    let status = store
        .add_review(
            id,
            &bob,
            1,
            &sql_sha256(sql),
            ReviewDecision::Approve,
            "",
            None,
            |_| RequestStatus::Approved,
        )
        .await
        .expect("approve");
    assert_eq!(status, RequestStatus::Approved);
    (id, alice)
}

store_tests! {
    async fn the_claim_refuses_an_expired_approval_and_claims_a_fresh_one(store: Store) {
        let (id, alice) = approved(&store).await;
        // Approved just now: a cut-off a second from now has it expired, one a minute ago not.
        let later = timestamp::now() + Duration::from_secs(1);
        let err = store.claim_execution(id, &alice, 1, None, None, Some(later)).await.unwrap_err();
        assert!(matches!(err, StoreError::Conflict(Conflict::ApprovalExpired(i)) if i == id), "{err}");
        let r = store.request(id).await.expect("read").expect("exists");
        assert_eq!(r.status, RequestStatus::Approved, "refused: nothing changed");
        assert!(r.execution.is_none());
        let earlier = timestamp::now() - Duration::from_secs(60);
        store.claim_execution(id, &alice, 1, None, None, Some(earlier)).await.expect("claim");
        let err = store.claim_execution(id, &alice, 1, None, None, None).await.unwrap_err();
        assert!(matches!(err, StoreError::Conflict(Conflict::NotApproved(_))), "{err}");
    }

    async fn the_pass_moves_an_expired_approval_back_once(store: Store) {
        let (id, _alice) = approved(&store).await;
        let none = store.expired_approvals("shop", timestamp::now() - Duration::from_secs(60)).await.expect("list");
        assert!(none.is_empty(), "approved just now: not expired");
        assert!(store.expired_approvals("other", timestamp::now() + Duration::from_secs(1)).await.expect("list").is_empty());
        let found = store.expired_approvals("shop", timestamp::now() + Duration::from_secs(1)).await.expect("list");
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].id, found[0].revision), (id, 1));
        assert_eq!(store.expire_approval(&found[0], 3600).await.expect("expire"), 2);
        let err = store.expire_approval(&found[0], 3600).await.unwrap_err();
        assert!(matches!(err, StoreError::Conflict(Conflict::ChangedMeanwhile(_))), "a second pass changes nothing");
        let r = store.request(id).await.expect("read").expect("exists");
        assert_eq!((r.status, r.revision), (RequestStatus::PendingReview, 2));
        assert_eq!(r.revisions[1].sql, r.revisions[0].sql);
        assert_eq!(r.revisions[1].reviewers, vec!["bob"]);
        assert_eq!(r.current_reviews().count(), 0, "the approvals are void");
        let events = store.request_events(id).await.expect("events");
        let last = events.last().expect("event");
        assert_eq!((last.action.as_str(), last.actor.as_deref(), last.revision), ("approval.expired", None, Some(2)));
        assert_eq!(last.details["expired_revision"], 1);
    }
}
