//! Approval expiry (design §12): a target's `approval_ttl`. The execute claim itself refuses an
//! approval older than the ttl (409 `approval_expired`, nothing runs), with the background pass
//! stopped; the pass moves such requests back to review (`approval.expired`), approvals void;
//! the request page says it in words.

use std::time::Duration;

use countersign_server::AppState;
use countersign_store::testing::TestStore;
use reqwest::StatusCode;
use serde_json::Value;

use crate::common::{Backend, PW, TestApp, World, config_for, error_code};

/// A world whose target's approvals expire after `ttl`, with the expiry pass every `every`.
async fn world(b: &Backend, ttl: &str, every: &str) -> World {
    let db = TestStore::sqlite().await;
    let targets = b.target_toml(&format!("approval_ttl = \"{ttl}\""));
    let config = config_for(
        &db.url,
        &targets,
        &[("COUNTERSIGN_SERVER_EXPIRE_APPROVALS_EVERY", every)],
    );
    let mut w = World::with_app(TestApp::start(config).await).await;
    w.db = Some(db);
    w
}

#[tokio::test]
async fn executing_after_the_ttl_answers_409_and_runs_nothing_even_with_the_pass_stopped() {
    let b = Backend::sqlite();
    b.create_accounts(2).await;
    // The pass runs at start-up, then not again within the test: only the claim can refuse.
    let w = world(&b, "2s", "1h").await;
    let sql = format!("UPDATE {} SET v = v + 1 WHERE id = 1", b.table);
    let id = w.approved(b.name, &sql, Some(1)).await;
    let mut page = w.app.sign_in("alice", PW).await;
    let html = page.page(&format!("/requests/{id}")).await;
    assert!(
        html.contains("The approval expires at"),
        "the page says when the approval expires: {html}"
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let html = page.page(&format!("/requests/{id}")).await;
    assert!(
        html.contains("The approval expired at"),
        "the page says it expired before the pass noticed"
    );

    let res = w
        .post(
            "alice",
            &format!("/api/v1/requests/{id}/execute"),
            serde_json::json!({}),
        )
        .await;
    let (status, code) = error_code(res).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(code, "approval_expired");
    assert_eq!(b.values().await, vec![0, 0], "nothing ran on the target");
    let r = w.get("alice", &format!("/api/v1/requests/{id}")).await;
    assert_eq!(
        r["status"], "approved",
        "the pass is stopped: only the claim refused"
    );
    assert_eq!(r["execution"], Value::Null, "no execution was recorded");
    w.done().await;
}

#[tokio::test]
async fn the_pass_moves_an_expired_approval_back_to_review_with_its_approvals_void() {
    let b = Backend::sqlite();
    b.create_accounts(2).await;
    let w = world(&b, "1s", "1h").await;
    let sql = format!("UPDATE {} SET v = v + 1 WHERE id = 1", b.table);
    let id = w.approved(b.name, &sql, Some(1)).await;
    let fresh = w.approved(b.name, &sql, Some(1)).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    // A third, approved just now, stays approved.
    let recent = w.approved(b.name, &sql, Some(1)).await;
    // A withdrawn one is left alone.
    let res = w
        .post(
            "alice",
            &format!("/api/v1/requests/{fresh}/withdraw"),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);

    AppState::new(w.app.store.clone(), w.app.config.clone())
        .expire_approvals()
        .await;

    let r = w.get("alice", &format!("/api/v1/requests/{id}")).await;
    assert_eq!(r["status"], "pending_review");
    assert_eq!(
        r["revision"], 2,
        "the approvals are void: a new revision, the same SQL"
    );
    assert_eq!(r["sql"], sql.as_str());
    assert_eq!(r["approvals"]["have"], 0, "{r}");
    let recent_r = w.get("alice", &format!("/api/v1/requests/{recent}")).await;
    assert_eq!(recent_r["status"], "approved", "a recent approval stays");
    let withdrawn = w.get("alice", &format!("/api/v1/requests/{fresh}")).await;
    assert_eq!(withdrawn["status"], "withdrawn");

    let audit = w
        .get(
            "root",
            &format!("/api/v1/audit?request={id}&action=approval.expired&format=json"),
        )
        .await;
    let events = audit.as_array().expect("events");
    assert_eq!(events.len(), 1, "{audit}");
    assert_eq!(events[0]["actor"], Value::Null, "the system expired it");
    assert_eq!(events[0]["details"]["expired_revision"], 1);
    assert_eq!(events[0]["details"]["approval_ttl_seconds"], 1);

    let mut page = w.app.sign_in("alice", PW).await;
    let html = page.page(&format!("/requests/{id}")).await;
    assert!(
        html.contains("The approval of revision 1 expired at"),
        "the page says it in words"
    );
    assert!(
        html.contains("approved revision 1 (void: the approval expired)"),
        "the void review says why: {html}"
    );
    assert!(
        !html.contains("void: the request was revised"),
        "nobody revised it"
    );

    // Executing now is refused as not approved; a fresh approval lets it run.
    let (status, _) = w.execute("alice", id).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let res = w.review("bob", id, "approve", "still fine", 2).await;
    assert_eq!(res.status(), StatusCode::OK);
    let (status, r) = w.execute("alice", id).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(r["status"], "executed");
    assert_eq!(b.values().await, vec![1, 0]);

    // A review voided by a revision still says so.
    let r = w
        .submit(
            serde_json::json!({"title": "t", "intent": "a test edit", "sql": sql,
            "target": b.name, "reviewers": ["bob"], "expected_rows": 1}),
        )
        .await;
    let revised = r["id"].as_i64().expect("id");
    let res = w.review("bob", revised, "reject", "not this row", 1).await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = w
        .send(
            "alice",
            reqwest::Method::PUT,
            &format!("/api/v1/requests/{revised}"),
            Some(serde_json::json!({"sql": format!("UPDATE {} SET v = v + 2 WHERE id = 1", b.table)})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let html = page.page(&format!("/requests/{revised}")).await;
    assert!(
        html.contains("rejected revision 1 (void: the request was revised)"),
        "{html}"
    );
    assert!(!html.contains("void: the approval expired"));
    w.done().await;
}

#[tokio::test]
async fn the_background_pass_expires_approvals_by_itself() {
    let b = Backend::sqlite();
    b.create_accounts(1).await;
    let w = world(&b, "1s", "1s").await;
    let sql = format!("UPDATE {} SET v = v + 1 WHERE id = 1", b.table);
    let id = w.approved(b.name, &sql, Some(1)).await;
    let mut status = Value::Null;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        status = w.get("alice", &format!("/api/v1/requests/{id}")).await["status"].clone();
        if status == "pending_review" {
            break;
        }
    }
    assert_eq!(
        status, "pending_review",
        "the pass moved it back within 5 s"
    );
    w.done().await;
}
