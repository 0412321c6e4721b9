//! Rehearsals in the store, on SQLite and PostgreSQL: start, finish, read back the latest,
//! settle what a stopped server left running — each with its audit event.

use countersign_core::policy::RiskLevel;
use countersign_core::request::RehearsalStatus;
use countersign_core::timestamp;
use countersign_core::user::{Role, User};
use countersign_store::{INTERRUPTED, RehearsalResult, RevisionInput, Store, store_tests};
use serde_json::json;

/// A request by alice with bob as its reviewer; returns it and bob.
async fn request(store: &Store) -> (i64, User) {
    let alice = store
        .create_user("alice", &[Role::Author], None, None)
        .await
        .expect("alice");
    let bob = store
        .create_user("bob", &[Role::Reviewer], None, None)
        .await
        .expect("bob");
    let reviewers = [bob.clone()];
    let analysis = json!({"risk": "low", "findings": []});
    let revision = RevisionInput {
        intent: "Mark order 42 paid, as the bank confirmed",
        sql: "UPDATE orders SET status = 'paid' WHERE id = 42",
        expected_rows: None,
        reviewers: &reviewers,
        risk: RiskLevel::Low,
        analysis: &analysis,
        without_undo: false,
    };
    let id = store
        .submit_request(&alice, "Fix order 42", "shop", &revision)
        .await
        .expect("submit");
    (id, bob)
}

fn done(rows: i64) -> RehearsalResult {
    RehearsalResult {
        status: RehearsalStatus::Done,
        finished_at: timestamp::now(),
        rows_affected: Some(rows),
        result: json!({"tables": [{"table": "public.orders", "inserted": 0, "updated": rows, "deleted": 0}],
                       "statements": [{"index": 0, "rows_affected": rows, "skipped": null, "sample": null}]}),
        error: None,
    }
}

async fn actions(store: &Store) -> Vec<(String, Option<String>)> {
    store
        .audit_events_for_test()
        .await
        .expect("events")
        .into_iter()
        .filter(|e| e.action.starts_with("rehearsal."))
        .map(|e| (e.action, e.actor))
        .collect()
}

store_tests! {
    async fn a_rehearsal_starts_running_and_finishes_with_what_it_found(store: Store) {
        let (request_id, bob) = request(&store).await;
        let id = store.start_rehearsal(request_id, 1, "shop", Some(&bob)).await.expect("start");
        let running = store.rehearsal(id).await.expect("read").expect("exists");
        assert_eq!(running.status, RehearsalStatus::Running);
        assert_eq!((running.request_id, running.revision), (request_id, 1));
        assert_eq!((running.on_target.as_str(), running.requested_by.as_deref()), ("shop", Some("bob")));
        assert_eq!((running.finished_at, running.rows_affected, &running.result), (None, None, &serde_json::Value::Null));

        let result = done(3);
        assert!(store.finish_rehearsal(id, Some("bob"), &result).await.expect("finish"));
        let finished = store.rehearsal(id).await.expect("read").expect("exists");
        assert_eq!(finished.status, RehearsalStatus::Done);
        assert_eq!(finished.rows_affected, Some(3));
        assert_eq!(finished.result, result.result);
        assert_eq!(finished.error, None);
        assert!(finished.finished_at.is_some());

        // Finished once: a second end changes nothing.
        let late = RehearsalResult { status: RehearsalStatus::Error, error: Some("late".into()), ..done(0) };
        assert!(!store.finish_rehearsal(id, None, &late).await.expect("finish again"));
        assert_eq!(store.rehearsal(id).await.expect("read").expect("exists").status, RehearsalStatus::Done);
        assert_eq!(
            actions(&store).await,
            [("rehearsal.started".into(), Some("bob".into())), ("rehearsal.finished".into(), Some("bob".into()))]
        );
    }

    async fn a_rehearsal_cannot_finish_as_running(store: Store) {
        let (request_id, _) = request(&store).await;
        let id = store.start_rehearsal(request_id, 1, "shop", None).await.expect("start");
        let running = RehearsalResult { status: RehearsalStatus::Running, ..done(0) };
        assert!(store.finish_rehearsal(id, None, &running).await.is_err());
    }

    async fn the_latest_rehearsal_is_per_revision_and_status(store: Store) {
        let (request_id, bob) = request(&store).await;
        let first = store.start_rehearsal(request_id, 1, "shop", Some(&bob)).await.expect("start");
        store.finish_rehearsal(first, Some("bob"), &done(2)).await.expect("finish");
        let second = store.start_rehearsal(request_id, 1, "staging", None).await.expect("start");
        let timeout = RehearsalResult { status: RehearsalStatus::Timeout, error: Some("past 10s".into()), rows_affected: None, ..done(0) };
        store.finish_rehearsal(second, None, &timeout).await.expect("finish");

        let latest = store.latest_rehearsal(request_id, 1, None).await.expect("latest").expect("one");
        assert_eq!((latest.id, latest.status, latest.requested_by), (second, RehearsalStatus::Timeout, None));
        let latest_done = store.latest_rehearsal(request_id, 1, Some(RehearsalStatus::Done)).await.expect("latest done").expect("one");
        assert_eq!((latest_done.id, latest_done.rows_affected), (first, Some(2)));
        assert_eq!(store.latest_rehearsal(request_id, 2, None).await.expect("latest"), None);
        let all: Vec<i64> = store.rehearsals(request_id, 10).await.expect("list").iter().map(|r| r.id).collect();
        assert_eq!(all, [second, first]);
        assert_eq!(store.rehearsals(request_id, 1).await.expect("list").len(), 1);
        assert_eq!(store.rehearsal(second + 100).await.expect("read"), None);
    }

    async fn rehearsals_a_stopped_server_left_running_are_settled_as_error(store: Store) {
        let (request_id, bob) = request(&store).await;
        let finished = store.start_rehearsal(request_id, 1, "shop", Some(&bob)).await.expect("start");
        store.finish_rehearsal(finished, Some("bob"), &done(1)).await.expect("finish");
        let left = store.start_rehearsal(request_id, 1, "shop", Some(&bob)).await.expect("start");
        let started = store.rehearsal(left).await.expect("read").expect("exists").started_at;

        // Not yet past the bound: it may be another instance's, still running.
        assert_eq!(store.settle_interrupted_rehearsals(started).await.expect("settle"), 0);
        assert_eq!(store.rehearsal(left).await.expect("read").expect("exists").status, RehearsalStatus::Running);
        let later = started + time::Duration::microseconds(1);
        assert_eq!(store.settle_interrupted_rehearsals(later).await.expect("settle"), 1);
        let settled = store.rehearsal(left).await.expect("read").expect("exists");
        assert_eq!(settled.status, RehearsalStatus::Error);
        assert_eq!(settled.error.as_deref(), Some(INTERRUPTED));
        assert!(settled.finished_at.is_some());
        assert_eq!(store.rehearsal(finished).await.expect("read").expect("exists").status, RehearsalStatus::Done);
        assert_eq!(store.settle_interrupted_rehearsals(later).await.expect("settle again"), 0);
        // The run that finishes after all is too late to change the record.
        assert!(!store.finish_rehearsal(left, Some("bob"), &done(1)).await.expect("finish"));
        let events = actions(&store).await;
        assert_eq!(events.last(), Some(&("rehearsal.finished".to_owned(), None)), "settled by the system");
        let chain = store.audit_events_for_test().await.expect("events");
        assert!(countersign_core::audit::verify_chain(&chain).is_ok());
    }
}
