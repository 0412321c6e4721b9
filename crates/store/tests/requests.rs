//! Requests, revisions, reviews and the audit chain in the store, on SQLite and PostgreSQL.

use countersign_core::audit::verify_chain;
use countersign_core::policy::RiskLevel;
use countersign_core::request::{RequestStatus, ReviewDecision, sql_sha256};
use countersign_core::user::{Role, User};
use countersign_store::{NewEvent, RequestFilter, RevisionInput, Store, StoreError, store_tests};
use serde_json::json;

async fn people(store: &Store) -> (User, User, User) {
    let alice = store
        .create_user("alice", &[Role::Author], None, None)
        .await
        .expect("alice");
    let bob = store
        .create_user("bob", &[Role::Reviewer], None, None)
        .await
        .expect("bob");
    let carol = store
        .create_user("carol", &[Role::Reviewer], None, None)
        .await
        .expect("carol");
    (alice, bob, carol)
}

fn revision<'a>(
    sql: &'a str,
    reviewers: &'a [User],
    analysis: &'a serde_json::Value,
) -> RevisionInput<'a> {
    RevisionInput {
        intent: "Order 42 is stuck in pending; mark it paid as the bank confirmed",
        sql,
        expected_rows: Some(1),
        reviewers,
        risk: RiskLevel::Low,
        analysis,
        without_undo: false,
    }
}

store_tests! {
    async fn a_submitted_request_reads_back_whole(store: Store) {
        let (alice, bob, carol) = people(&store).await;
        let analysis = json!({"risk": "low", "findings": []});
        let sql = "UPDATE orders SET status = 'paid' WHERE id = 42";
        let reviewers = [bob.clone(), carol.clone()];
        let id = store.submit_request(&alice, "Fix order 42", "shop", &revision(sql, &reviewers, &analysis)).await.expect("submit");
        let r = store.request(id).await.expect("read").expect("exists");
        assert_eq!((r.title.as_str(), r.target.as_str(), r.author.as_str()), ("Fix order 42", "shop", "alice"));
        assert_eq!((r.status, r.revision), (RequestStatus::PendingReview, 1));
        let cur = r.current();
        assert_eq!(cur.sql, sql);
        assert_eq!(cur.sql_sha256, sql_sha256(sql));
        assert_eq!(cur.reviewers, vec!["bob", "carol"]);
        assert_eq!(cur.analysis, analysis);
        assert_eq!(cur.expected_rows, Some(1));
        assert!(r.reviews.is_empty() && r.execution.is_none());
        assert!(store.request(id + 100).await.expect("read").is_none());
        let events = store.request_events(id).await.expect("events");
        assert_eq!(events.len(), 1);
        assert_eq!((events[0].action.as_str(), events[0].actor.as_deref()), ("request.submitted", Some("alice")));
    }

    async fn reviews_decide_the_status_inside_the_transaction(store: Store) {
        let (alice, bob, carol) = people(&store).await;
        let analysis = json!({});
        let sql = "DELETE FROM carts WHERE id = 7";
        let reviewers = [bob.clone(), carol.clone()];
        let id = store.submit_request(&alice, "Drop cart 7", "shop", &revision(sql, &reviewers, &analysis)).await.expect("submit");
        let sha = sql_sha256(sql);
        // Two approvals needed: the first leaves it pending, the second approves.
        let need_two = |reviews: &[countersign_core::request::Review]| {
            if reviews.len() >= 2 { RequestStatus::Approved } else { RequestStatus::PendingReview }
        };
        let s = store.add_review(id, &bob, 1, &sha, ReviewDecision::Approve, "ok", None, need_two).await.expect("review");
        assert_eq!(s, RequestStatus::PendingReview);
        let s = store.add_review(id, &carol, 1, &sha, ReviewDecision::Approve, "fine", None, need_two).await.expect("review");
        assert_eq!(s, RequestStatus::Approved);
        let r = store.request(id).await.expect("read").expect("exists");
        assert_eq!(r.status, RequestStatus::Approved);
        assert_eq!(r.reviews.len(), 2);
        assert_eq!(r.reviews[0].reviewer, "bob");
        // No longer pending: a further review is a conflict.
        let late = store.add_review(id, &bob, 1, &sha, ReviewDecision::Reject, "wait", None, need_two).await;
        assert!(matches!(late, Err(StoreError::Conflict(_))), "{late:?}");
    }

    async fn a_review_of_a_stale_revision_or_other_sql_is_a_conflict(store: Store) {
        let (alice, bob, _) = people(&store).await;
        let analysis = json!({});
        let reviewers = [bob.clone()];
        let id = store.submit_request(&alice, "t", "shop", &revision("UPDATE a SET b = 1 WHERE c = 2", &reviewers, &analysis)).await.expect("submit");
        let new_sql = "UPDATE a SET b = 1 WHERE c = 3";
        let rev = store.revise_request(id, &alice, RequestStatus::PendingReview, 1, "t2", Some(&revision(new_sql, &reviewers, &analysis))).await.expect("revise");
        assert_eq!(rev, 2);
        let any = |_: &[countersign_core::request::Review]| RequestStatus::Approved;
        let stale = store.add_review(id, &bob, 1, &sql_sha256("UPDATE a SET b = 1 WHERE c = 2"), ReviewDecision::Approve, "", None, any).await;
        assert!(matches!(stale, Err(StoreError::Conflict(_))), "{stale:?}");
        let wrong_sql = store.add_review(id, &bob, 2, &sql_sha256("UPDATE a SET b = 1 WHERE c = 2"), ReviewDecision::Approve, "", None, any).await;
        assert!(matches!(wrong_sql, Err(StoreError::Conflict(_))), "{wrong_sql:?}");
        let ok = store.add_review(id, &bob, 2, &sql_sha256(new_sql), ReviewDecision::Approve, "", None, any).await;
        assert_eq!(ok.expect("current revision"), RequestStatus::Approved);
        let r = store.request(id).await.expect("read").expect("exists");
        assert_eq!(r.revisions.len(), 2);
        assert_eq!(r.title, "t2");
        assert_eq!(r.current_reviews().count(), 1);
    }

    async fn revising_checks_the_status_and_revision_it_saw(store: Store) {
        let (alice, bob, _) = people(&store).await;
        let analysis = json!({});
        let reviewers = [bob.clone()];
        let id = store.submit_request(&alice, "t", "shop", &revision("DELETE FROM x WHERE id = 1", &reviewers, &analysis)).await.expect("submit");
        let again = revision("DELETE FROM x WHERE id = 2", &reviewers, &analysis);
        assert_eq!(store.revise_request(id, &alice, RequestStatus::PendingReview, 1, "t", Some(&again)).await.expect("first"), 2);
        // A second author window still thinks it is revision 1.
        let racing = store.revise_request(id, &alice, RequestStatus::PendingReview, 1, "t", Some(&again)).await;
        assert!(matches!(racing, Err(StoreError::Conflict(_))), "{racing:?}");
        // A title-only edit keeps the revision.
        assert_eq!(store.revise_request(id, &alice, RequestStatus::PendingReview, 2, "better title", None).await.expect("title"), 2);
    }

    async fn status_changes_are_compare_and_set(store: Store) {
        let (alice, bob, _) = people(&store).await;
        let analysis = json!({});
        let reviewers = [bob.clone()];
        let id = store.submit_request(&alice, "t", "shop", &revision("DELETE FROM x WHERE id = 1", &reviewers, &analysis)).await.expect("submit");
        let event = || NewEvent::new(Some("alice"), countersign_core::audit::AuditAction::RequestWithdrawn, json!({})).on_request(id, 1);
        store.change_status(id, RequestStatus::PendingReview, RequestStatus::Withdrawn, event()).await.expect("withdraw");
        let twice = store.change_status(id, RequestStatus::PendingReview, RequestStatus::Withdrawn, event()).await;
        assert!(matches!(twice, Err(StoreError::Conflict(_))));
        let events = store.request_events(id).await.expect("events");
        assert_eq!(events.iter().filter(|e| e.action == "request.withdrawn").count(), 1, "a failed change records nothing");
    }

    async fn every_status_is_a_list_filter(store: Store) {
        // A status is written into the list's statement (a name of the code's own): each of
        // them must list, and list only its own.
        let (alice, bob, _) = people(&store).await;
        let analysis = json!({});
        let rev = revision("UPDATE t SET v = 1 WHERE id = 1", std::slice::from_ref(&bob), &analysis);
        let id = store.submit_request(&alice, "t", "shop", &rev).await.expect("submit");
        for &status in RequestStatus::ALL {
            let filter = RequestFilter { status: Some(status), ..Default::default() };
            let listed = store.list_requests(&filter, 10).await.expect("list");
            let expected = if status == RequestStatus::PendingReview { vec![id] } else { vec![] };
            assert_eq!(listed.iter().map(|r| r.id).collect::<Vec<_>>(), expected, "{status:?}");
        }
    }

    async fn lists_filter_and_page_newest_first(store: Store) {
        let (alice, bob, carol) = people(&store).await;
        let analysis = json!({});
        let mut ids = Vec::new();
        for i in 0..5 {
            let reviewers = if i % 2 == 0 { vec![bob.clone()] } else { vec![carol.clone()] };
            let sql = format!("UPDATE t SET v = {i} WHERE id = {i}");
            let target = if i < 3 { "shop" } else { "billing" };
            ids.push(store.submit_request(&alice, &format!("r{i}"), target, &revision(&sql, &reviewers, &analysis)).await.expect("submit"));
        }
        let all = store.list_requests(&RequestFilter::default(), 10).await.expect("list");
        assert_eq!(all.iter().map(|r| r.id).collect::<Vec<_>>(), ids.iter().rev().copied().collect::<Vec<_>>());
        let page1 = store.list_requests(&RequestFilter::default(), 2).await.expect("page 1");
        let page2 = store.list_requests(&RequestFilter { before_id: Some(page1[1].id), ..Default::default() }, 2).await.expect("page 2");
        assert_eq!(page2.iter().map(|r| r.id).collect::<Vec<_>>(), vec![ids[2], ids[1]]);
        let for_bob = store.list_requests(&RequestFilter { reviewer: Some("bob".into()), ..Default::default() }, 10).await.expect("bob");
        assert_eq!(for_bob.len(), 3);
        let billing = store.list_requests(&RequestFilter { target: Some("billing".into()), ..Default::default() }, 10).await.expect("billing");
        assert_eq!(billing.len(), 2);
        let by_bob = store.list_requests(&RequestFilter { author: Some("bob".into()), ..Default::default() }, 10).await.expect("author");
        assert!(by_bob.is_empty());
        // Waiting for bob: named, pending, and not reviewed by him yet.
        let any = |_: &[countersign_core::request::Review]| RequestStatus::PendingReview;
        store.add_review(ids[0], &bob, 1, &sql_sha256("UPDATE t SET v = 0 WHERE id = 0"), ReviewDecision::Approve, "", None, any).await.expect("review");
        let waiting = store.list_requests(&RequestFilter { awaiting_review_by: Some("bob".into()), ..Default::default() }, 10).await.expect("waiting");
        assert_eq!(waiting.iter().map(|r| r.id).collect::<Vec<_>>(), vec![ids[4], ids[2]]);
        let pending = store.list_requests(&RequestFilter { status: Some(RequestStatus::PendingReview), ..Default::default() }, 10).await.expect("pending");
        assert_eq!(pending.len(), 5);
    }

    async fn a_list_read_with_its_token_answers_only_a_live_token_of_an_enabled_user(store: Store) {
        // The API's list checks the caller's token in the same statement: it must answer
        // exactly what the token check and the list answer on their own.
        let (alice, bob, carol) = people(&store).await;
        let analysis = json!({});
        let rev = revision("UPDATE t SET v = 1 WHERE id = 1", std::slice::from_ref(&bob), &analysis);
        for title in ["one", "two", "three"] {
            store.submit_request(&alice, title, "shop", &rev).await.expect("submit");
        }
        let now = countersign_core::timestamp::now();
        let live = store.create_token(&alice, "h-live", None).await.expect("token");
        store
            .create_expiring_token(&alice, "h-expired", Some(now - time::Duration::seconds(1)), None)
            .await
            .expect("token");
        let revoked = store.create_token(&alice, "h-revoked", None).await.expect("token");
        store.revoke_token(revoked, None).await.expect("revoke");
        store.create_token(&carol, "h-carol", None).await.expect("token");
        store.disable_user("carol", None).await.expect("disable");

        let f = RequestFilter::default;
        let filters = [
            f(),
            RequestFilter { reviewer: Some("bob".into()), ..f() },
            RequestFilter { status: Some(RequestStatus::Executed), ..f() },
            RequestFilter { author: Some("nobody".into()), ..f() },
        ];
        for filter in &filters {
            for limit in [1, 2, 10] {
                let (user, page) = store
                    .list_requests_json_for_token("h-live", filter, limit)
                    .await
                    .expect("read")
                    .expect("a live token lets alice in");
                assert_eq!(user.name, "alice");
                assert_eq!(page, store.list_requests_json(filter, limit).await.expect("list"), "{filter:?} {limit}");
            }
            for dead in ["h-expired", "h-revoked", "h-carol", "h-none"] {
                let read = store.list_requests_json_for_token(dead, filter, 10).await.expect("read");
                assert!(read.is_none(), "{dead} lets no one in ({filter:?})");
            }
        }
        let tokens = store.list_tokens(Some("alice")).await.expect("tokens");
        let noted = tokens.iter().find(|t| t.id == live).expect("listed");
        assert!(noted.last_used_at.is_some(), "the use is noted");
    }

    async fn a_filter_naming_a_user_not_yet_there_finds_them_once_added(store: Store) {
        // The list filters remember users' ids by name (a user is never renamed or removed),
        // but never that a name is unknown: that user may be added later.
        let (alice, bob, _) = people(&store).await;
        let by_dave = RequestFilter { author: Some("dave".into()), ..Default::default() };
        let for_bob = RequestFilter { reviewer: Some("bob".into()), ..Default::default() };
        assert!(store.list_requests(&by_dave, 10).await.expect("list").is_empty());
        assert!(store.list_requests(&for_bob, 10).await.expect("list").is_empty());
        let dave = store.create_user("dave", &[Role::Author], None, None).await.expect("dave");
        let analysis = json!({});
        let rev = revision("UPDATE t SET v = 1 WHERE id = 1", std::slice::from_ref(&bob), &analysis);
        let id = store.submit_request(&dave, "by dave", "shop", &rev).await.expect("submit");
        store.submit_request(&alice, "by alice", "shop", &rev).await.expect("submit");
        let listed = store.list_requests(&by_dave, 10).await.expect("list");
        assert_eq!(listed.iter().map(|r| r.id).collect::<Vec<_>>(), vec![id]);
        // And a name found once (bob's, above) keeps finding what is added since.
        assert_eq!(store.list_requests(&for_bob, 10).await.expect("list").len(), 2);
    }

    async fn the_list_as_json_holds_what_its_rows_hold_and_pages_the_same(store: Store) {
        // The API's list is written by the database as JSON (list_requests_json): every field
        // and every awkward character must read back as the rows say, and its cursor must lead
        // to the same next page.
        let (alice, bob, carol) = people(&store).await;
        let analysis = json!({});
        let titles = [
            "plain",
            "quote \" and backslash \\ and a tab\t",
            "new\nline and \u{1} control",
            "</script><script>alert(1)</script>",
            "ünïcödé — ✓ 🚀",
            "",
        ];
        for (i, title) in titles.iter().enumerate() {
            let reviewers = if i % 2 == 0 { vec![bob.clone()] } else { vec![carol.clone()] };
            let sql = format!("UPDATE t SET v = {i} WHERE id = {i}");
            let target = if i < 3 { "shop" } else { "bill\"ing" };
            store.submit_request(&alice, title, target, &revision(&sql, &reviewers, &analysis)).await.expect("submit");
        }
        let f = RequestFilter::default;
        let filters = [
            f(),
            RequestFilter { reviewer: Some("bob".into()), ..f() },
            RequestFilter { target: Some("bill\"ing".into()), ..f() },
            RequestFilter { status: Some(RequestStatus::PendingReview), ..f() },
            RequestFilter { status: Some(RequestStatus::Executed), ..f() },
            RequestFilter { awaiting_review_by: Some("carol".into()), ..f() },
            RequestFilter { author: Some("nobody".into()), ..f() },
        ];
        for filter in filters {
            for limit in [1, 2, 3, 10] {
                let mut expected = Vec::new();
                let mut before = filter.before_id;
                loop {
                    let page = RequestFilter { before_id: before, ..filter.clone() };
                    let json = store.list_requests_json(&page, limit).await.expect("json");
                    let items: Vec<serde_json::Value> = serde_json::from_str(&json.items).expect("JSON");
                    assert!(items.len() as i64 <= limit, "{filter:?} limit {limit}: a page at most");
                    for item in &items {
                        // Each line as the request itself reads back, field for field.
                        let id = item["id"].as_i64().expect("id");
                        let r = store.request(id).await.expect("read").expect("listed, so it exists");
                        let want = json!({
                            "id": r.id, "title": r.title, "target": r.target, "author": r.author,
                            "status": r.status.as_str(), "revision": r.revision,
                            "risk": r.current().risk.as_str(),
                            "created_at": countersign_core::timestamp::format(r.created_at),
                            "updated_at": countersign_core::timestamp::format(r.updated_at),
                        });
                        assert_eq!(item, &want, "{filter:?} limit {limit}");
                        expected.push(id);
                    }
                    // The typed list reads the same JSON.
                    let typed = store.list_requests(&page, limit).await.expect("typed");
                    assert_eq!(typed.iter().map(|r| r.id).collect::<Vec<_>>(), expected[expected.len() - items.len()..].to_vec());
                    match json.next_before {
                        Some(next) => {
                            assert_eq!(items.len() as i64, limit, "a full page before another");
                            before = Some(next);
                        }
                        None => break,
                    }
                }
                let whole = store.list_requests(&filter, 100).await.expect("whole");
                assert_eq!(expected, whole.iter().map(|r| r.id).collect::<Vec<_>>(), "{filter:?} limit {limit}: every page");
            }
        }
    }

    async fn waiting_for_review_follows_every_change(store: Store) {
        // "Waiting for my review" is read from pending_reviews, which the store's triggers keep:
        // each change below must add or remove exactly the right rows.
        let (alice, bob, carol) = people(&store).await;
        let analysis = json!({});
        let waiting = |name: &str| {
            let store = store.clone();
            let filter = RequestFilter { awaiting_review_by: Some(name.into()), ..Default::default() };
            async move {
                store.list_requests(&filter, 50).await.expect("waiting").iter().map(|r| r.id).collect::<Vec<_>>()
            }
        };
        let any = |_: &[countersign_core::request::Review]| RequestStatus::PendingReview;
        let reject = |_: &[countersign_core::request::Review]| RequestStatus::Rejected;
        let both = [bob.clone(), carol.clone()];
        let sql1 = "DELETE FROM x WHERE id = 1";
        let a = store.submit_request(&alice, "a", "shop", &revision(sql1, &both, &analysis)).await.expect("a");
        let b = store.submit_request(&alice, "b", "shop", &revision(sql1, &both, &analysis)).await.expect("b");
        assert_eq!((waiting("bob").await, waiting("carol").await), (vec![b, a], vec![b, a]));
        // A review removes its reviewer only.
        store.add_review(a, &bob, 1, &sql_sha256(sql1), ReviewDecision::Approve, "", None, any).await.expect("review");
        assert_eq!((waiting("bob").await, waiting("carol").await), (vec![b], vec![b, a]));
        // A new revision asks everyone named on it again, and only them.
        let sql2 = "DELETE FROM x WHERE id = 2";
        let only_bob = [bob.clone()];
        store.revise_request(a, &alice, RequestStatus::PendingReview, 1, "a", Some(&revision(sql2, &only_bob, &analysis))).await.expect("revise");
        assert_eq!((waiting("bob").await, waiting("carol").await), (vec![b, a], vec![b]));
        // A title-only edit changes nothing.
        store.revise_request(a, &alice, RequestStatus::PendingReview, 2, "a again", None).await.expect("title");
        assert_eq!(waiting("bob").await, vec![b, a]);
        // A rejection ends the wait for everyone; a revision after it starts it again.
        store.add_review(b, &carol, 1, &sql_sha256(sql1), ReviewDecision::Reject, "no", None, reject).await.expect("reject");
        assert_eq!((waiting("bob").await, waiting("carol").await), (vec![a], vec![]));
        store.revise_request(b, &alice, RequestStatus::Rejected, 1, "b", Some(&revision(sql2, &both, &analysis))).await.expect("revise b");
        assert_eq!((waiting("bob").await, waiting("carol").await), (vec![b, a], vec![b]));
        // Withdrawing ends it too.
        let event = NewEvent::new(Some("alice"), countersign_core::audit::AuditAction::RequestWithdrawn, json!({})).on_request(b, 2);
        store.change_status(b, RequestStatus::PendingReview, RequestStatus::Withdrawn, event).await.expect("withdraw");
        assert_eq!((waiting("bob").await, waiting("carol").await), (vec![a], vec![]));
        // The filter combines with the others, and an unknown user waits for nothing.
        let bob_on_a = RequestFilter { awaiting_review_by: Some("bob".into()), reviewer: Some("bob".into()), before_id: Some(a + 1), ..Default::default() };
        assert_eq!(store.list_requests(&bob_on_a, 10).await.expect("combined").len(), 1);
        assert!(waiting("nobody").await.is_empty());
    }

    async fn every_change_extends_one_unbroken_chain(store: Store) {
        let (alice, bob, _) = people(&store).await;
        let analysis = json!({});
        let reviewers = [bob.clone()];
        let id = store.submit_request(&alice, "t", "shop", &revision("DELETE FROM x WHERE id = 1", &reviewers, &analysis)).await.expect("submit");
        store.create_token(&alice, "h", Some("admin")).await.expect("token");
        store.disable_user("bob", None).await.expect("disable");
        let events = store.request_events(id).await.expect("events");
        assert_eq!(events[0].seq, 4, "three user.created events came first");
        let all = store.audit_events_for_test().await.expect("all events");
        assert_eq!(all.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(), vec![
            "user.created", "user.created", "user.created", "request.submitted", "token.created", "user.disabled",
        ]);
        assert_eq!(verify_chain(&all).expect("intact"), 6);
    }

    async fn the_database_refuses_to_edit_or_delete_audit_events(store: Store) {
        people(&store).await;
        let update = store.raw_execute_for_test("UPDATE audit_events SET actor = 'mallory' WHERE seq = 1").await;
        assert!(update.is_err(), "UPDATE on audit_events must be refused");
        let delete = store.raw_execute_for_test("DELETE FROM audit_events WHERE seq = 1").await;
        assert!(delete.is_err(), "DELETE on audit_events must be refused");
        assert_eq!(store.audit_events_for_test().await.expect("events").len(), 3);
    }
}
