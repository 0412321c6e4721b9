//! HTTP hygiene against a real server on a real port: slow and silent connections, body
//! limits, unknown JSON fields, control characters, and the headers every answer carries.

use std::time::Duration;

use crate::common::{TestApp, config_for, error_code, sqlite_app};
use countersign_core::user::Role;
use countersign_store::testing::TestStore;
use reqwest::{StatusCode, header};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const PW: &str = "correct horse battery";

fn addr(app: &TestApp) -> String {
    app.base.trim_start_matches("http://").to_owned()
}

/// Reads until the server closes the connection; panics if it has not within `limit`.
async fn closed_within(mut s: TcpStream, limit: Duration, what: &str) {
    let mut buf = [0u8; 1024];
    let done = tokio::time::timeout(limit, async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(done.is_ok(), "{what}: still open after {limit:?}");
}

#[tokio::test]
async fn slow_and_silent_connections_are_closed_after_the_header_read_timeout() {
    let (app, db) = sqlite_app("[server]\nheader_read_timeout = \"1s\"\n", &[]).await;
    let mut slow = TcpStream::connect(addr(&app)).await.expect("connect");
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .expect("write");
    let silent = TcpStream::connect(addr(&app)).await.expect("connect");
    let started = std::time::Instant::now();
    closed_within(
        slow,
        Duration::from_secs(4),
        "a connection sending half its headers",
    )
    .await;
    closed_within(
        silent,
        Duration::from_secs(4),
        "a connection sending nothing",
    )
    .await;
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "not before the timeout"
    );
    let res = TestApp::client()
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("GET");
    assert_eq!(res.status(), StatusCode::OK, "the server still serves");
    app.stop().await;
    db.cleanup().await;
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_until_one_ends() {
    let (app, db) = sqlite_app(
        "[server]\nmax_connections = 4\nheader_read_timeout = \"60s\"\n",
        &[],
    )
    .await;
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut s = TcpStream::connect(addr(&app)).await.expect("connect");
        s.write_all(b"GET / HTTP/1.1\r\n").await.expect("write");
        held.push(s);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    countersign_server::notify::install_tls();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(800))
        .build()
        .expect("client");
    assert!(
        client.get(app.url("/healthz")).send().await.is_err(),
        "a fifth connection is not served while four are held"
    );
    held.pop();
    let res = TestApp::client()
        .get(app.url("/healthz"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .expect("served once a slot is free");
    assert_eq!(res.status(), StatusCode::OK);
    drop(held);
    app.stop().await;
    db.cleanup().await;
}

const TARGET: &str =
    "[[target]]\nname = \"shop\"\ndriver = \"sqlite\"\nurl = \"sqlite://unused-shop.db\"\n";

/// A server over `db` with alice (author), bob (reviewer) and their tokens.
async fn world(db: &TestStore, extra: &str) -> (TestApp, String, String) {
    let app = TestApp::start(config_for(&db.url, &format!("{TARGET}{extra}"), &[])).await;
    let alice = app.add_user("alice", &[Role::Author], PW).await;
    let bob = app.add_user("bob", &[Role::Reviewer], PW).await;
    let (a, b) = (app.token_for(&alice).await, app.token_for(&bob).await);
    (app, a, b)
}

async fn send(
    app: &TestApp,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut req = TestApp::client()
        .request(method, app.url(path))
        .bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    req.send().await.expect("request")
}

fn request(title: &str, sql: &str) -> Value {
    json!({
        "title": title,
        "intent": "Order 42 was paid.\nMark it so.",
        "sql": sql,
        "target": "shop",
        "reviewers": ["bob"],
        "expected_rows": 1,
    })
}

/// The error's code and message.
async fn error_of(res: reqwest::Response) -> (StatusCode, String) {
    let status = res.status();
    let body: Value = res.json().await.expect("JSON error");
    (
        status,
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

/// Every store backend available: SQLite, and PostgreSQL when its URL is set.
async fn stores() -> Vec<TestStore> {
    let mut all = vec![TestStore::sqlite().await];
    all.extend(TestStore::postgres().await);
    all
}

#[tokio::test]
async fn control_characters_in_text_and_filters_are_a_400_naming_the_field_on_every_store() {
    for db in stores().await {
        let (app, alice, _) = world(&db, "").await;
        let post = reqwest::Method::POST;
        for (body, field) in [
            (
                request("Fix\u{0}order", "UPDATE orders SET paid = 1 WHERE id = 42"),
                "title",
            ),
            (
                request(
                    "Fix order",
                    "UPDATE orders SET note = '\u{0}' WHERE id = 42",
                ),
                "sql",
            ),
            (
                request(
                    "Fix\u{1b}[31m order",
                    "UPDATE orders SET paid = 1 WHERE id = 42",
                ),
                "title",
            ),
        ] {
            let res = send(&app, &alice, post.clone(), "/api/v1/requests", Some(body)).await;
            let (status, message) = error_of(res).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{field}: {message}");
            assert!(message.contains(field), "{field}: {message}");
        }
        for path in [
            "/api/v1/requests?author=al%00ice",
            "/api/v1/requests?target=%1B",
            "/api/v1/audit?actor=%00",
            "/api/v1/audit?action=user.login%0A",
        ] {
            let res = send(&app, &alice, reqwest::Method::GET, path, None).await;
            let (status, message) = error_of(res).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {message}");
            assert!(message.contains("control characters"), "{path}: {message}");
        }
        let page = TestApp::client()
            .get(app.url("/audit?actor=%00"))
            .send()
            .await
            .expect("GET");
        assert_eq!(page.status(), StatusCode::BAD_REQUEST);
        // Line breaks and tabs in SQL and intent are ordinary.
        let res = send(
            &app,
            &alice,
            post,
            "/api/v1/requests",
            Some(request(
                "Fix order",
                "UPDATE orders\r\n\tSET paid = 1\nWHERE id = 42",
            )),
        )
        .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        app.stop().await;
        db.cleanup().await;
    }
}

#[tokio::test]
async fn unknown_json_fields_are_refused_naming_the_field() {
    let db = TestStore::sqlite().await;
    let (app, alice, bob) = world(&db, "").await;
    let created: Value = send(
        &app,
        &alice,
        reqwest::Method::POST,
        "/api/v1/requests",
        Some(request(
            "Fix order",
            "UPDATE orders SET paid = 1 WHERE id = 42",
        )),
    )
    .await
    .json()
    .await
    .expect("json");
    let id = created["id"].as_i64().expect("id");
    let path = format!("/api/v1/requests/{id}");
    let res = send(
        &app,
        &alice,
        reqwest::Method::PUT,
        &path,
        Some(json!({"target": "elsewhere"})),
    )
    .await;
    let (status, message) = error_of(res).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{message}");
    assert!(message.contains("target"), "{message}");
    let res = send(&app, &alice, reqwest::Method::POST, "/api/v1/requests",
        Some(json!({"title": "t", "intent": "i", "sql": "SELECT 1", "target": "shop", "reviewers": ["bob"], "author": "bob"}))).await;
    let (status, message) = error_of(res).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(message.contains("author"), "{message}");
    let res = send(
        &app,
        &bob,
        reqwest::Method::POST,
        &format!("{path}/reviews"),
        Some(json!({"decision": "approve", "revision": 1, "reviewer": "carol"})),
    )
    .await;
    let (status, message) = error_of(res).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(message.contains("reviewer"), "{message}");
    let after: Value = send(&app, &alice, reqwest::Method::GET, &path, None)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(after["target"], "shop");
    assert_eq!(after["status"], "pending_review");
    app.stop().await;
    db.cleanup().await;
}

#[tokio::test]
async fn a_body_over_the_limit_is_413_for_the_api_and_the_forms() {
    let db = TestStore::sqlite().await;
    let (app, alice, _) = world(&db, "").await;
    // Over the default limit: three times server.max_sql_bytes (4 MiB) plus 1 MiB.
    let big = "x".repeat(14 * 1024 * 1024);
    let res = send(
        &app,
        &alice,
        reqwest::Method::POST,
        "/api/v1/requests",
        Some(request("Big", &big)),
    )
    .await;
    assert_eq!(
        error_code(res).await,
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large".to_owned()
        )
    );
    let b = app.sign_in("alice", PW).await;
    let res = b
        .post_form("/requests", &[("title", "Big"), ("sql", &big)])
        .await;
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let res = b
        .post_form("/login", &[("username", "alice"), ("password", &big)])
        .await;
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    app.stop().await;
    db.cleanup().await;
}

#[tokio::test]
async fn a_reviewer_reviews_a_revision_once() {
    let db = TestStore::sqlite().await;
    let two = "[[target]]\nname = \"two\"\ndriver = \"sqlite\"\nurl = \"sqlite://unused.db\"\n\
               approvals = { low = 2, medium = 2, high = 2 }\n";
    let (app, alice, bob) = world(&db, two).await;
    app.add_user("carol", &[Role::Reviewer], PW).await;
    // Two approvals needed: a second approval by bob must not count as the second.
    let mut body = request("Fix order", "UPDATE orders SET paid = 1 WHERE id = 42");
    body["reviewers"] = json!(["bob", "carol"]);
    body["target"] = json!("two");
    let created: Value = send(
        &app,
        &alice,
        reqwest::Method::POST,
        "/api/v1/requests",
        Some(body),
    )
    .await
    .json()
    .await
    .expect("json");
    let id = created["id"].as_i64().expect("id");
    let review = json!({"decision": "approve", "comment": "fine", "revision": 1});
    let path = format!("/api/v1/requests/{id}/reviews");
    let first = send(
        &app,
        &bob,
        reqwest::Method::POST,
        &path,
        Some(review.clone()),
    )
    .await;
    assert_eq!(first.status(), StatusCode::OK);
    let first: Value = first.json().await.expect("json");
    assert_eq!(
        first["status"], "pending_review",
        "one approval of two: {first}"
    );
    let second = send(&app, &bob, reqwest::Method::POST, &path, Some(review)).await;
    assert_eq!(second.status(), StatusCode::CONFLICT);
    let after: Value = send(
        &app,
        &alice,
        reqwest::Method::GET,
        &format!("/api/v1/requests/{id}"),
        None,
    )
    .await
    .json()
    .await
    .expect("json");
    assert_eq!(after["reviews"].as_array().expect("reviews").len(), 1);
    app.stop().await;
    db.cleanup().await;
}

#[tokio::test]
async fn answers_carry_the_security_headers_and_signed_in_ones_are_never_stored() {
    let db = TestStore::sqlite().await;
    let (app, alice, _) = world(&db, "").await;
    let b = app.sign_in("alice", PW).await;
    let page = b.get("/").await;
    let api = send(&app, &alice, reqwest::Method::GET, "/api/v1/targets", None).await;
    let login = TestApp::client()
        .get(app.url("/login"))
        .send()
        .await
        .expect("GET");
    for (what, res) in [("page", &page), ("api", &api), ("sign-in page", &login)] {
        let h = res.headers();
        assert_eq!(h[header::CACHE_CONTROL], "no-store", "{what}");
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "{what}");
        assert!(h.contains_key(header::REFERRER_POLICY), "{what}");
        let csp = h[header::CONTENT_SECURITY_POLICY].to_str().expect("ascii");
        assert!(
            csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"),
            "{what}: {csp}"
        );
        assert!(
            !h.contains_key(header::STRICT_TRANSPORT_SECURITY),
            "{what}: no HSTS over plain http"
        );
    }
    let css = TestApp::client()
        .get(app.url("/static/style.css"))
        .send()
        .await
        .expect("GET");
    assert_ne!(
        css.headers()[header::CACHE_CONTROL],
        "no-store",
        "static files may be cached"
    );
    app.stop().await;
    db.cleanup().await;

    let db = TestStore::sqlite().await;
    let (app, _, _) = world(&db, "[server]\npublic_url = \"https://cs.example.com\"\n").await;
    let res = TestApp::client()
        .get(app.url("/login"))
        .send()
        .await
        .expect("GET");
    let hsts = res.headers()[header::STRICT_TRANSPORT_SECURITY]
        .to_str()
        .expect("ascii");
    assert!(hsts.starts_with("max-age="), "{hsts}");
    app.stop().await;
    db.cleanup().await;
}
