//! The request lists kept in memory against the store's version (the audit head's `seq`, read
//! with the caller): a change made anywhere — through this handle or through another one on the
//! same store, as a second server would — is in the very next list read at the version read
//! after it; and a kept page is not read from the database again while the store stands still.
//! On SQLite and on PostgreSQL.

use countersign_core::audit::AuditAction;
use countersign_core::policy::RiskLevel;
use countersign_core::request::{RequestStatus, Review, ReviewDecision, sql_sha256};
use countersign_core::timestamp;
use countersign_core::user::{Role, User};
use countersign_store::testing::TestStore;
use countersign_store::{NewEvent, RequestFilter, RevisionInput, Store, StoreVersion};
use serde_json::json;

const IDLE: std::time::Duration = std::time::Duration::from_secs(3600);
const SQL: &str = "UPDATE orders SET status = 'paid' WHERE id = 42";

async fn user(store: &Store, name: &str, role: Role) -> User {
    store
        .create_user(name, &[role], None, None)
        .await
        .expect("user")
}

async fn submit(store: &Store, author: &User, title: &str, reviewers: &[User]) -> i64 {
    let analysis = json!({});
    let revision = RevisionInput {
        intent: "mark order 42 paid",
        sql: SQL,
        expected_rows: Some(1),
        reviewers,
        risk: RiskLevel::Low,
        analysis: &analysis,
        without_undo: false,
    };
    store
        .submit_request(author, title, "shop", &revision)
        .await
        .expect("submit")
}

/// alice (an author, with session "s" and token "h"), bob (a reviewer), and a request of
/// alice's titled `title` waiting for bob; its id.
async fn signed_in_with_a_request(store: &Store, title: &str) -> (User, User, i64) {
    let alice = user(store, "alice", Role::Author).await;
    let bob = user(store, "bob", Role::Reviewer).await;
    let id = submit(store, &alice, title, std::slice::from_ref(&bob)).await;
    let expires = timestamp::now() + time::Duration::hours(1);
    store
        .create_session("s", &alice, "c", expires)
        .await
        .expect("session");
    store.create_token(&alice, "h", None).await.expect("token");
    (alice, bob, id)
}

/// Records an event about nothing in particular: it moves the store's version all the same.
async fn any_event(store: &Store) {
    let event = NewEvent::new(None, AuditAction::RequestSubmitted, json!({}));
    store.record_event(event).await.expect("event");
}

/// The store's version as a page's session reads it.
async fn version(store: &Store) -> StoreVersion {
    store
        .session("s", IDLE)
        .await
        .expect("read")
        .expect("live session")
        .store_version
}

fn filters() -> Vec<RequestFilter> {
    let f = RequestFilter::default;
    vec![
        f(),
        RequestFilter {
            awaiting_review_by: Some("bob".into()),
            ..f()
        },
        RequestFilter {
            reviewer: Some("bob".into()),
            ..f()
        },
        RequestFilter {
            author: Some("alice".into()),
            ..f()
        },
        RequestFilter {
            status: Some(RequestStatus::PendingReview),
            ..f()
        },
        RequestFilter {
            status: Some(RequestStatus::Approved),
            ..f()
        },
    ]
}

/// Every filter's kept page, read at `at`, is the page the database answers now — through the
/// session's path and through the token's.
async fn every_kept_list_is_current(store: &Store, at: StoreVersion) {
    for filter in filters() {
        let fresh = store.list_requests_json(&filter, 10).await.expect("list");
        let kept = store
            .list_requests_json_at(&filter, 10, at)
            .await
            .expect("kept list");
        assert_eq!(kept, fresh, "session's list, {filter:?}");
        let rows = store
            .list_requests_at(&filter, 10, at)
            .await
            .expect("kept rows");
        assert_eq!(
            rows,
            store.list_requests(&filter, 10).await.expect("rows"),
            "{filter:?}"
        );
        let (_, by_token) = store
            .list_requests_json_for_token("h", &filter, 10)
            .await
            .expect("read")
            .expect("a live token");
        assert_eq!(by_token, fresh, "token's list, {filter:?}");
    }
}

async fn a_change_through_another_handle_is_in_the_next_list(db: &TestStore) {
    let store = &db.store;
    let (alice, bob, first) = signed_in_with_a_request(store, "first").await;
    // Every list read once, so that each is kept.
    let before = version(store).await;
    every_kept_list_is_current(store, before).await;

    // A second server on the same store: a new request, and bob's approval of the first.
    let other = db.reopen().await.expect("reopen");
    let second = submit(&other, &alice, "second", std::slice::from_ref(&bob)).await;
    let approve = |_: &[Review]| RequestStatus::Approved;
    other
        .add_review(
            first,
            &bob,
            1,
            &sql_sha256(SQL),
            ReviewDecision::Approve,
            "ok",
            None,
            approve,
        )
        .await
        .expect("review");
    let after = version(store).await;
    assert_ne!(after, before, "the version moves with every change");
    every_kept_list_is_current(store, after).await;
    let waiting = RequestFilter {
        awaiting_review_by: Some("bob".into()),
        ..Default::default()
    };
    let ids: Vec<i64> = store
        .list_requests_at(&waiting, 10, after)
        .await
        .expect("list")
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(
        ids,
        vec![second],
        "reviewed by bob elsewhere: no longer waiting for him"
    );

    // A token revoked elsewhere lets no one in, though its page is kept.
    let token = other.list_tokens(Some("alice")).await.expect("tokens")[0].id;
    other.revoke_token(token, None).await.expect("revoke");
    let read = store
        .list_requests_json_for_token("h", &RequestFilter::default(), 10)
        .await
        .expect("read");
    assert!(
        read.is_none(),
        "a revoked token is refused whatever is kept"
    );
    other.close().await;
}

async fn a_kept_page_is_read_again_only_once_the_store_changed(db: &TestStore) {
    let store = &db.store;
    signed_in_with_a_request(store, "as submitted").await;
    let titles = |json: &str| -> Vec<String> {
        let items: Vec<serde_json::Value> = serde_json::from_str(json).expect("JSON");
        items
            .iter()
            .map(|i| i["title"].as_str().expect("title").to_owned())
            .collect()
    };
    // The unfiltered list is read in the token's statement (kept prepared everywhere); the
    // status filter, on PostgreSQL, after the token's look-up.
    for filter in [
        RequestFilter::default(),
        RequestFilter {
            status: Some(RequestStatus::PendingReview),
            ..Default::default()
        },
    ] {
        let token_list = || async {
            let (_, page) = store
                .list_requests_json_for_token("h", &filter, 10)
                .await
                .expect("read")
                .expect("live");
            titles(&page.items)
        };
        let session_list = || async {
            let page = store
                .list_requests_json_at(&filter, 10, version(store).await)
                .await
                .expect("list");
            titles(&page.items)
        };
        store
            .raw_execute_for_test("UPDATE requests SET title = 'as submitted'")
            .await
            .expect("reset");
        any_event(store).await;
        assert_eq!(token_list().await, ["as submitted"]);
        assert_eq!(session_list().await, ["as submitted"]);
        // Changed behind the store's back (no audit event: no write of the store does that),
        // the kept page is what is answered: it is not read again.
        store
            .raw_execute_for_test("UPDATE requests SET title = 'changed behind its back'")
            .await
            .expect("tamper");
        assert_eq!(
            token_list().await,
            ["as submitted"],
            "{filter:?}: kept, not read again"
        );
        assert_eq!(
            session_list().await,
            ["as submitted"],
            "{filter:?}: kept, not read again"
        );
        // An event, and the page is read again.
        any_event(store).await;
        assert_eq!(
            token_list().await,
            ["changed behind its back"],
            "{filter:?}"
        );
        assert_eq!(
            session_list().await,
            ["changed behind its back"],
            "{filter:?}"
        );
    }
}

/// A test on a fresh SQLite store and one on a fresh PostgreSQL store for each case (these
/// need the store's URL, to open a second handle on it, which `store_tests!` does not give).
macro_rules! on_both_stores {
    ($($case:ident),*) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $case() {
                    let db = super::TestStore::sqlite().await;
                    super::$case(&db).await;
                    db.cleanup().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $case() {
                    let Some(db) = super::TestStore::postgres().await else { return };
                    super::$case(&db).await;
                    db.cleanup().await;
                }
            )*
        }
    };
}

on_both_stores!(
    a_change_through_another_handle_is_in_the_next_list,
    a_kept_page_is_read_again_only_once_the_store_changed
);
