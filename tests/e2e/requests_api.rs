//! The edit-request workflow through the JSON API of a real server: who may do what, in which
//! state, with which input — every refusal with its status and the contract's error shape.

use crate::common::{TestApp, World, error_code};
use countersign_core::user::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};

const TARGETS: &str = r#"
[[target]]
name = "shop"
driver = "sqlite"
url = "sqlite://unused-shop.db"
blocked_rules = ["truncate"]

[[target]]
name = "strict"
driver = "postgres"
url = "postgres://nobody@127.0.0.1:1/none"
approvals = { low = 1, medium = 1, high = 3 }

[[target]]
name = "lenient"
driver = "postgres"
url = "postgres://nobody@127.0.0.1:1/none"
allow_uncounted = true

[[target]]
name = "maria"
driver = "mysql"
url = "mysql://nobody@127.0.0.1:1/none"
"#;

/// A world with dave (reviewer) and erin (author only) besides the cast.
async fn world() -> World {
    let mut w = World::new(TARGETS).await;
    w.add("dave", &[Role::Reviewer]).await;
    w.add("erin", &[Role::Author]).await;
    w
}

fn request(sql: &str, reviewers: &[&str]) -> Value {
    json!({
        "title": "Mark order 42 paid",
        "intent": "The bank confirmed payment of order 42 but the webhook failed; set it to paid.",
        "sql": sql,
        "target": "shop",
        "reviewers": reviewers,
        "expected_rows": 1,
    })
}

const SAFE_SQL: &str = "UPDATE orders SET status = 'paid' WHERE id = 42";

#[tokio::test]
async fn a_submitted_request_has_the_contract_shape_and_its_analysis() {
    let w = world().await;
    let r = w.submit(request(SAFE_SQL, &["bob"])).await;
    for key in [
        "id",
        "title",
        "intent",
        "sql",
        "sql_sha256",
        "target",
        "author",
        "reviewers",
        "expected_rows",
        "status",
        "revision",
        "created_at",
        "updated_at",
        "analysis",
        "reviews",
        "execution",
    ] {
        assert!(r.get(key).is_some(), "request lacks {key}: {r}");
    }
    assert_eq!(r["status"], "pending_review");
    assert_eq!(r["revision"], 1);
    assert_eq!(r["author"], "alice");
    assert_eq!(r["reviewers"], json!(["bob"]));
    assert_eq!(r["execution"], Value::Null);
    assert_eq!(r["analysis"]["risk"], "low");
    assert_eq!(r["sql_sha256"].as_str().map(str::len), Some(64));
    let id = r["id"].as_i64().expect("id");
    let again = w.get("carol", &format!("/api/v1/requests/{id}")).await;
    assert_eq!(
        again["sql"], SAFE_SQL,
        "every signed-in user may read requests"
    );
    w.done().await;
}

#[tokio::test]
async fn only_a_named_reviewer_who_is_not_the_author_may_review() {
    let w = world().await;
    let r = w.submit(request(SAFE_SQL, &["bob"])).await;
    let id = r["id"].as_i64().expect("id");
    for who in ["alice", "carol", "root", "erin"] {
        let (status, code) = error_code(w.review(who, id, "approve", "", 1).await).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::FORBIDDEN, "forbidden"),
            "{who} must not approve"
        );
    }
    let res = w.review("bob", id, "approve", "looks right", 1).await;
    assert_eq!(res.status(), StatusCode::OK);
    let r: Value = res.json().await.expect("json");
    assert_eq!(r["status"], "approved");
    assert_eq!(r["reviews"][0]["reviewer"], "bob");
    w.done().await;
}

#[tokio::test]
async fn the_author_cannot_approve_even_as_an_admin_named_as_reviewer() {
    let w = world().await;
    // root (an admin who is also a reviewer) authors; naming themselves is refused up front.
    let bad = w.post("root", "/api/v1/requests", json!({"title": "t", "intent": "why", "sql": SAFE_SQL, "target": "shop", "reviewers": ["root"]})).await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    w.done().await;
}

#[tokio::test]
async fn a_rejection_needs_a_comment_and_rejects() {
    let w = world().await;
    let id = w.submit(request(SAFE_SQL, &["bob", "carol"])).await["id"]
        .as_i64()
        .expect("id");
    let (status, code) = error_code(w.review("bob", id, "reject", "  ", 1).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "comment_required")
    );
    let res = w
        .review("bob", id, "reject", "wrong order id: it is 24", 1)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let r: Value = res.json().await.expect("json");
    assert_eq!(r["status"], "rejected");
    // A rejected request takes no more reviews.
    let (status, _) = error_code(w.review("carol", id, "approve", "", 1).await).await;
    assert_eq!(status, StatusCode::CONFLICT);
    w.done().await;
}

#[tokio::test]
async fn revising_makes_a_new_revision_reanalyzes_and_voids_every_review() {
    let w = world().await;
    let id = w.submit(request(SAFE_SQL, &["bob", "carol"])).await["id"]
        .as_i64()
        .expect("id");
    assert_eq!(
        w.review("bob", id, "reject", "wrong id", 1).await.status(),
        StatusCode::OK
    );
    let path = format!("/api/v1/requests/{id}");
    // Not the author: refused.
    let (status, _) = error_code(
        w.send(
            "bob",
            reqwest::Method::PUT,
            &path,
            Some(json!({"sql": "DELETE FROM orders"})),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = error_code(
        w.send(
            "root",
            reqwest::Method::PUT,
            &path,
            Some(json!({"sql": "DELETE FROM orders"})),
        )
        .await,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "not even an admin revises someone else's request"
    );
    // The author revises the rejected request: revision 2, pending again, analysis re-run.
    let res = w
        .send(
            "alice",
            reqwest::Method::PUT,
            &path,
            Some(json!({"sql": "DELETE FROM orders"})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let r: Value = res.json().await.expect("json");
    assert_eq!(
        (r["revision"].as_i64(), r["status"].as_str()),
        (Some(2), Some("pending_review"))
    );
    assert_eq!(r["analysis"]["risk"], "high", "the new SQL was analyzed");
    assert!(
        r["analysis"]["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .any(|f| f["rule"] == "delete-without-where")
    );
    assert_eq!(
        r["reviews"][0]["current"], false,
        "bob's review of revision 1 is void"
    );
    assert_eq!(r["approvals"]["have"], 0);
    assert_eq!(r["revisions"].as_array().map(Vec::len), Some(2));
    // A review of the old revision is a conflict.
    let (status, code) = error_code(w.review("carol", id, "approve", "", 1).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::CONFLICT, "stale_revision")
    );
    // High risk on "shop": two approvals.
    assert_eq!(
        w.review("carol", id, "approve", "", 2).await.status(),
        StatusCode::OK
    );
    let r = w.get("alice", &path).await;
    assert_eq!(
        r["status"], "pending_review",
        "one approval is not enough for high risk"
    );
    let r: Value = w
        .review("bob", id, "approve", "ok now", 2)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(r["status"], "approved");
    // Approved: revising is over.
    let (status, code) = error_code(
        w.send(
            "alice",
            reqwest::Method::PUT,
            &path,
            Some(json!({"intent": "new words"})),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::CONFLICT, "invalid_state")
    );
    w.done().await;
}

#[tokio::test]
async fn a_high_risk_request_needs_the_policy_number_of_approvals() {
    let w = world().await;
    let mut body = request(
        "UPDATE orders SET status = 'paid'",
        &["bob", "carol", "dave"],
    );
    body["target"] = json!("strict");
    let r = w.submit(body).await;
    assert_eq!(r["analysis"]["risk"], "high");
    assert_eq!(r["approvals"]["need"], 3);
    let id = r["id"].as_i64().expect("id");
    for (who, expect) in [
        ("bob", "pending_review"),
        ("carol", "pending_review"),
        ("dave", "approved"),
    ] {
        let r: Value = w
            .review(who, id, "approve", "", 1)
            .await
            .json()
            .await
            .expect("json");
        assert_eq!(r["status"], expect, "after {who}");
    }
    w.done().await;
}

#[tokio::test]
async fn concurrent_approvals_all_count() {
    let w = world().await;
    let mut body = request(
        "UPDATE orders SET status = 'paid'",
        &["bob", "carol", "dave"],
    );
    body["target"] = json!("strict");
    let id = w.submit(body).await["id"].as_i64().expect("id");
    let (a, b, c) = tokio::join!(
        w.review("bob", id, "approve", "", 1),
        w.review("carol", id, "approve", "", 1),
        w.review("dave", id, "approve", "", 1),
    );
    assert!(
        [a.status(), b.status(), c.status()]
            .iter()
            .all(|s| *s == StatusCode::OK)
    );
    assert_eq!(
        w.get("alice", &format!("/api/v1/requests/{id}")).await["status"],
        "approved"
    );
    w.done().await;
}

/// Scripts that would make the server read the text otherwise than the reviewers were shown,
/// or that cannot run as one transaction, are refused at submission (422, naming the rule):
/// the hostile cases of a review of the product, on the dialect they were found on.
#[tokio::test]
async fn scripts_the_server_would_read_otherwise_are_refused_at_submission() {
    let w = world().await;
    for (target, sql, rule) in [
        (
            "maria",
            "SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES'; SELECT 'a\\'; UPDATE accounts SET status = 0x6e6265 WHERE id > 0; -- '",
            "lexing-setting",
        ),
        (
            "maria",
            "SET @@session.sql_mode = 'ANSI_QUOTES'; UPDATE accounts SET status = \"x\" WHERE id = 1",
            "lexing-setting",
        ),
        (
            "strict",
            "SET standard_conforming_strings = off; UPDATE accounts SET status = 'x' WHERE id = 1",
            "lexing-setting",
        ),
        (
            "maria",
            "UPDATE accounts SET status = 'x' WHERE id IN (12, 13); CREATE TABLE t_tmp (a int)",
            "implicit-commit-mixed",
        ),
    ] {
        let mut body = request(sql, &["bob"]);
        body["target"] = json!(target);
        let res = w.post("alice", "/api/v1/requests", body).await;
        let status = res.status();
        let body: Value = res.json().await.expect("json");
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{sql}: {body}");
        let message = body["error"]["message"].as_str().expect("message");
        assert!(message.contains(rule), "{sql}: {body}");
    }
}

/// What a reviewer is shown for the hidden writes and hidden code of a review of the product:
/// the statement's kind is what it does (an UPDATE, however it is dressed), and hidden code is
/// a danger of its own.
#[tokio::test]
async fn hidden_writes_show_as_what_they_do_and_executable_comments_as_danger() {
    let w = world().await;
    for (target, sql, rule, kind) in [
        (
            "strict",
            "WITH u AS (UPDATE accounts SET status = 'x' WHERE id > 10 RETURNING 1) SELECT 1",
            "",
            "update",
        ),
        (
            "strict",
            "EXPLAIN ANALYZE UPDATE accounts SET status = 'y' WHERE id > 50",
            "",
            "update",
        ),
        (
            "maria",
            "UPDATE accounts SET status = 'z' WHERE /*M! id > 0 OR */ id = 1",
            "executable-comment",
            "update",
        ),
    ] {
        let mut body = request(sql, &["bob"]);
        body["target"] = json!(target);
        body["expected_rows"] = json!(1);
        let r = w.submit(body).await;
        let analysis = &r["analysis"];
        assert_eq!(analysis["statements"][0]["kind"], kind, "{sql}: {analysis}");
        if !rule.is_empty() {
            assert_eq!(analysis["risk"], "high", "{sql}: {analysis}");
            let rules: Vec<&str> = analysis["findings"]
                .as_array()
                .expect("findings")
                .iter()
                .filter_map(|f| f["rule"].as_str())
                .collect();
            assert!(rules.contains(&rule), "{sql}: {rules:?}");
        }
    }
}

/// A guard must never promise what the database cannot count: expected rows on a TRUNCATE or
/// a DROP TABLE are refused, unless the target allows it; without expected rows, no promise.
#[tokio::test]
async fn expected_rows_on_an_uncounted_statement_are_refused() {
    let w = world().await;
    let sql = "UPDATE orders SET status = 'x' WHERE id = 1;\nDROP TABLE old_orders";
    let on = |target: &str, expected: Option<i64>| {
        let mut body = request(sql, &["bob"]);
        body["target"] = json!(target);
        body["expected_rows"] = json!(expected);
        body
    };
    let res = w
        .post("alice", "/api/v1/requests", on("strict", Some(1)))
        .await;
    let status = res.status();
    let body: Value = res.json().await.expect("json");
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let message = body["error"]["message"].as_str().expect("message");
    assert!(message.contains("uncounted-effect"), "{body}");
    assert!(message.contains("drop_table"), "{body}");
    for (target, expected) in [("strict", None), ("lenient", Some(1))] {
        let res = w
            .post("alice", "/api/v1/requests", on(target, expected))
            .await;
        assert_eq!(res.status(), StatusCode::CREATED, "{target} {expected:?}");
    }
    let targets = w.get("alice", "/api/v1/targets").await;
    let lenient = targets
        .as_array()
        .expect("targets")
        .iter()
        .find(|t| t["name"] == "lenient")
        .expect("lenient");
    assert_eq!(lenient["policy"]["allow_uncounted"], true, "{targets}");
}

#[tokio::test]
async fn a_blocked_rule_or_an_error_finding_is_refused_with_422_naming_it() {
    let w = world().await;
    let res = w
        .post(
            "alice",
            "/api/v1/requests",
            request("TRUNCATE orders", &["bob"]),
        )
        .await;
    let status = res.status();
    let body: Value = res.json().await.expect("json");
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["code"], "blocked_by_policy");
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("message")
            .contains("truncate"),
        "{body}"
    );
    let res = w
        .post(
            "alice",
            "/api/v1/requests",
            request(
                "BEGIN; UPDATE orders SET status = 'x' WHERE id = 1; COMMIT",
                &["bob"],
            ),
        )
        .await;
    let status = res.status();
    let body: Value = res.json().await.expect("json");
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("message")
            .contains("transaction-control"),
        "{body}"
    );
    let list = w.get("alice", "/api/v1/requests").await;
    assert_eq!(
        list["items"].as_array().map(Vec::len),
        Some(0),
        "nothing was stored"
    );
    w.done().await;
}

#[tokio::test]
async fn every_validation_is_a_clear_400_or_404() {
    let w = world().await;
    let cases: Vec<(&str, Value, StatusCode, &str)> = vec![
        (
            "no title",
            json!({"title": " "}),
            StatusCode::BAD_REQUEST,
            "title",
        ),
        (
            "no intent",
            json!({"intent": ""}),
            StatusCode::BAD_REQUEST,
            "intent",
        ),
        (
            "no reviewer",
            json!({"reviewers": []}),
            StatusCode::BAD_REQUEST,
            "reviewer",
        ),
        (
            "unknown reviewer",
            json!({"reviewers": ["zed"]}),
            StatusCode::BAD_REQUEST,
            "zed",
        ),
        (
            "not a reviewer",
            json!({"reviewers": ["erin"]}),
            StatusCode::BAD_REQUEST,
            "erin",
        ),
        (
            "author reviews",
            json!({"reviewers": ["alice"]}),
            StatusCode::BAD_REQUEST,
            "nobody reviews their own request",
        ),
        (
            "huge SQL",
            json!({"sql": format!("UPDATE t SET a = 1 WHERE id = 1; -- {}", "x".repeat(4 * 1024 * 1024))}),
            StatusCode::BAD_REQUEST,
            "at most 4194304 bytes (4096 KiB)",
        ),
        (
            "negative rows",
            json!({"expected_rows": -1}),
            StatusCode::BAD_REQUEST,
            "expected rows cannot be negative",
        ),
        (
            "unknown target",
            json!({"target": "nowhere"}),
            StatusCode::NOT_FOUND,
            "nowhere",
        ),
    ];
    for (what, patch, expect, mention) in cases {
        let mut body = request(SAFE_SQL, &["bob"]);
        for (k, v) in patch.as_object().expect("object") {
            body[k] = v.clone();
        }
        let res = w.post("alice", "/api/v1/requests", body).await;
        let status = res.status();
        let body: Value = res.json().await.expect("json error");
        assert_eq!(status, expect, "{what}: {body}");
        let message = body["error"]["message"].as_str().expect("message");
        assert!(message.contains(mention), "{what}: {message}");
    }
    // Malformed JSON: 400 with the parser's reason.
    let res = TestApp::client()
        .post(w.app.url("/api/v1/requests"))
        .bearer_auth(w.token("alice"))
        .header("content-type", "application/json")
        .body("{\"title\": ")
        .send()
        .await
        .expect("send");
    let (status, code) = error_code(res).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "bad_request")
    );
    // An unknown request: 404.
    let res = w
        .send("alice", reqwest::Method::GET, "/api/v1/requests/999", None)
        .await;
    assert_eq!(error_code(res).await.0, StatusCode::NOT_FOUND);
    w.done().await;
}

#[tokio::test]
async fn withdrawing_is_for_the_author_or_an_admin_and_is_final() {
    let w = world().await;
    let a = w.submit(request(SAFE_SQL, &["bob"])).await["id"]
        .as_i64()
        .expect("id");
    let b = w.submit(request(SAFE_SQL, &["bob"])).await["id"]
        .as_i64()
        .expect("id");
    let (status, _) = error_code(
        w.post("bob", &format!("/api/v1/requests/{a}/withdraw"), json!({}))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let r: Value = w
        .post(
            "alice",
            &format!("/api/v1/requests/{a}/withdraw"),
            json!({}),
        )
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(r["status"], "withdrawn");
    let r: Value = w
        .post("root", &format!("/api/v1/requests/{b}/withdraw"), json!({}))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(r["status"], "withdrawn");
    let (status, _) = error_code(
        w.post(
            "alice",
            &format!("/api/v1/requests/{a}/withdraw"),
            json!({}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = error_code(w.review("bob", a, "approve", "", 1).await).await;
    assert_eq!(status, StatusCode::CONFLICT);
    w.done().await;
}

#[tokio::test]
async fn lists_paginate_with_a_cursor_and_filter() {
    let w = world().await;
    let mut ids = Vec::new();
    for reviewers in [["bob"], ["carol"], ["bob"], ["carol"], ["bob"]] {
        ids.push(
            w.submit(request(SAFE_SQL, &reviewers)).await["id"]
                .as_i64()
                .expect("id"),
        );
    }
    let page = w.get("alice", "/api/v1/requests?limit=2").await;
    let got: Vec<i64> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["id"].as_i64().expect("id"))
        .collect();
    assert_eq!(got, vec![ids[4], ids[3]]);
    let cursor = page["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    let page = w
        .get(
            "alice",
            &format!("/api/v1/requests?limit=2&cursor={cursor}"),
        )
        .await;
    let cursor = page["next_cursor"]
        .as_str()
        .expect("a third page")
        .to_owned();
    let page = w
        .get(
            "alice",
            &format!("/api/v1/requests?limit=2&cursor={cursor}"),
        )
        .await;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(page["next_cursor"], Value::Null);
    assert_eq!(
        w.get("bob", "/api/v1/requests?reviewer=bob").await["items"]
            .as_array()
            .map(Vec::len),
        Some(3)
    );
    assert_eq!(
        w.get("bob", "/api/v1/requests?author=bob").await["items"]
            .as_array()
            .map(Vec::len),
        Some(0)
    );
    assert_eq!(
        w.get("bob", "/api/v1/requests?target=shop&status=pending_review")
            .await["items"]
            .as_array()
            .map(Vec::len),
        Some(5)
    );
    let res = w
        .send(
            "bob",
            reqwest::Method::GET,
            "/api/v1/requests?status=sideways",
            None,
        )
        .await;
    assert_eq!(error_code(res).await.0, StatusCode::BAD_REQUEST);
    let res = w
        .send(
            "bob",
            reqwest::Method::GET,
            "/api/v1/requests?limit=0",
            None,
        )
        .await;
    assert_eq!(error_code(res).await.0, StatusCode::BAD_REQUEST);
    w.done().await;
}

#[tokio::test]
async fn analyze_answers_for_a_dialect_or_a_target() {
    let w = world().await;
    let res = w
        .post(
            "alice",
            "/api/v1/analyze",
            json!({"sql": "DELETE FROM orders", "dialect": "postgres"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let a: Value = res.json().await.expect("json");
    assert_eq!(a["risk"], "high");
    let res = w
        .post(
            "alice",
            "/api/v1/analyze",
            json!({"sql": "SELECT 1", "target": "shop"}),
        )
        .await;
    assert_eq!(
        res.json::<Value>().await.expect("json")["dialect"],
        "sqlite"
    );
    let res = w
        .post(
            "alice",
            "/api/v1/analyze",
            json!({"sql": "SELECT 1", "target": "nowhere"}),
        )
        .await;
    assert_eq!(error_code(res).await.0, StatusCode::NOT_FOUND);
    w.done().await;
}

#[tokio::test]
async fn api_writes_with_a_session_cookie_need_the_csrf_header() {
    let w = world().await;
    let b = w.app.sign_in("alice", "a long password").await;
    let cookie = format!(
        "countersign_session={}",
        b.cookie("countersign_session").expect("session")
    );
    let res = TestApp::client()
        .post(w.app.url("/api/v1/requests"))
        .header("cookie", &cookie)
        .json(&request(SAFE_SQL, &["bob"]))
        .send()
        .await
        .expect("send");
    let (status, code) = error_code(res).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::FORBIDDEN, "csrf_token_invalid")
    );
    w.done().await;
}
