//! Comments (design §12): `POST /api/v1/requests/{id}/comments {text}` by any signed-in user,
//! 1 to 10,000 characters of plain text, in the request object and under "Discussion" on the
//! page (escaped), audited as `comment.added`.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{Backend, PW, World, error_code, hidden_csrf};

const SCRIPT: &str = "<script>document.title = 'pwned'</script> & <b>bold</b>";

async fn world_with_request() -> (World, Backend, i64) {
    let b = Backend::sqlite();
    b.create_accounts(1).await;
    let mut w = World::new(&b.target_toml("")).await;
    w.add("dave", &[countersign_core::user::Role::Author]).await;
    let r = w
        .submit(json!({"title": "t", "intent": "a test edit",
            "sql": format!("UPDATE {} SET v = 1 WHERE id = 1", b.table),
            "target": b.name, "reviewers": ["bob"], "expected_rows": 1}))
        .await;
    let id = r["id"].as_i64().expect("id");
    (w, b, id)
}

async fn comment(w: &World, who: &str, id: i64, text: &str) -> reqwest::Response {
    w.post(
        who,
        &format!("/api/v1/requests/{id}/comments"),
        json!({ "text": text }),
    )
    .await
}

#[tokio::test]
async fn anyone_signed_in_comments_and_the_request_carries_the_discussion() {
    let (w, _b, id) = world_with_request().await;
    let res = comment(&w, "bob", id, "Why id 1 only?").await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let c: Value = res.json().await.expect("json");
    assert_eq!(c["author"], "bob");
    assert_eq!(c["text"], "Why id 1 only?");
    assert!(c["id"].is_i64() && c["at"].as_str().is_some_and(|t| t.ends_with('Z')));
    // Not a participant, yet signed in: may comment too.
    let res = comment(&w, "dave", id, "Line one\nline two").await;
    assert_eq!(res.status(), StatusCode::CREATED);

    let r = w.get("alice", &format!("/api/v1/requests/{id}")).await;
    let comments = r["comments"].as_array().expect("comments");
    let texts: Vec<(&str, &str)> = comments
        .iter()
        .map(|c| (c["author"].as_str().unwrap(), c["text"].as_str().unwrap()))
        .collect();
    assert_eq!(
        texts,
        vec![("bob", "Why id 1 only?"), ("dave", "Line one\nline two")]
    );
    let listed = w
        .get("carol", &format!("/api/v1/requests/{id}/comments"))
        .await;
    assert_eq!(&listed, &r["comments"]);

    let audit = w
        .get(
            "root",
            &format!("/api/v1/audit?request={id}&action=comment.added&format=json"),
        )
        .await;
    let events = audit.as_array().expect("events");
    assert_eq!(events.len(), 2, "{audit}");
    assert_eq!(events[0]["actor"], "bob");
    assert_eq!(events[0]["details"]["comment_id"], comments[0]["id"]);
    w.done().await;
}

#[tokio::test]
async fn bad_comments_are_refused_and_change_nothing() {
    let (w, _b, id) = world_with_request().await;
    for (text, why) in [
        ("", "empty"),
        ("   \n ", "blank"),
        ("bell\u{7}", "a control character"),
    ] {
        let (status, code) = error_code(comment(&w, "bob", id, text).await).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::BAD_REQUEST, "bad_request"),
            "{why}"
        );
    }
    let long = "é".repeat(10_001);
    let (status, _) = error_code(comment(&w, "bob", id, &long).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "10,001 characters");
    let longest = "é".repeat(10_000);
    assert_eq!(
        comment(&w, "bob", id, &longest).await.status(),
        StatusCode::CREATED
    );
    let res = w
        .post(
            "bob",
            &format!("/api/v1/requests/{id}/comments"),
            json!({"text": "x", "author": "root"}),
        )
        .await;
    assert_eq!(
        res.status(),
        StatusCode::BAD_REQUEST,
        "unknown fields refused"
    );
    let (status, _) = error_code(comment(&w, "bob", id + 100, "hello").await).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    countersign_server::notify::install_tls();
    let res = reqwest::Client::new()
        .post(w.app.url(&format!("/api/v1/requests/{id}/comments")))
        .json(&json!({"text": "anonymous"}))
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let r = w.get("alice", &format!("/api/v1/requests/{id}")).await;
    assert_eq!(
        r["comments"].as_array().map(Vec::len),
        Some(1),
        "only the longest one"
    );
    let res = w
        .send(
            "alice",
            Method::GET,
            &format!("/api/v1/requests/{}/comments", id + 100),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    w.done().await;
}

#[tokio::test]
async fn the_page_shows_the_discussion_escaped_and_adds_comments() {
    let (w, _b, id) = world_with_request().await;
    assert_eq!(
        comment(&w, "bob", id, SCRIPT).await.status(),
        StatusCode::CREATED
    );
    let mut page = w.app.sign_in("alice", PW).await;
    let html = page.page(&format!("/requests/{id}")).await;
    let discussion = &html[html
        .find("<h2>Discussion</h2>")
        .expect("a Discussion section")..];
    let shown = unescape(discussion);
    assert!(shown.contains(SCRIPT), "shown as text: {discussion}");
    assert!(!html.contains("<script>document.title"), "never as markup");
    assert!(!html.contains("<b>bold</b>"));
    assert!(discussion.contains("<label for=\"comment-text\">Comment</label>"));
    assert!(discussion.contains("Add comment"));

    let csrf = hidden_csrf(&html).expect("csrf");
    let res = page
        .post_form(
            &format!("/requests/{id}/comments"),
            &[("csrf_token", &csrf), ("text", "Looks right to me")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let res = page
        .post_form(&format!("/requests/{id}/comments"), &[("text", "no token")])
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "CSRF checked");
    let res = page
        .post_form(
            &format!("/requests/{id}/comments"),
            &[("csrf_token", &csrf), ("text", "")],
        )
        .await;
    assert_eq!(
        res.status(),
        StatusCode::BAD_REQUEST,
        "an empty comment is refused"
    );
    let html = page.absorb(res).await;
    assert!(html.contains("say something"), "the page says why");
    let html = page.page(&format!("/requests/{id}")).await;
    assert!(html.contains("Looks right to me"));
    let r = w.get("alice", &format!("/api/v1/requests/{id}")).await;
    assert_eq!(r["comments"][1]["author"], "alice");
    w.done().await;
}

/// The text a browser shows for `html`'s entities (the ones an escaper writes).
fn unescape(html: &str) -> String {
    html.replace("&#60;", "<")
        .replace("&lt;", "<")
        .replace("&#62;", ">")
        .replace("&gt;", ">")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&#34;", "\"")
        .replace("&quot;", "\"")
        .replace("&#38;", "&")
        .replace("&amp;", "&")
}
