//! Notifications (design §12) through real receivers: generic webhooks signed with
//! HMAC-SHA256 and Slack incoming webhooks, from the outbox written with each change. Each event
//! reaches the channels that subscribe to it, once per delivery id, in order per request; a
//! receiver that fails or hangs gets every message once it is back; dead messages show on
//! `/admin` with their error (no secret) and a Retry button; two instances on one PostgreSQL
//! store deliver each message once between them.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use countersign_store::testing::TestStore;
use hmac::{KeyInit, Mac};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::receiver::{Hit, Mode, Receiver};
use crate::common::{Backend, PW, TestApp, World, config_for, hidden_csrf};

const KEY: &str = "whsec-0123456789-KEY";

/// `sha256=<hex HMAC-SHA256 of body with KEY>`: what a receiver expects in the signature header.
fn signature(body: &[u8]) -> String {
    let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(KEY.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// `[[notify]]` for a generic webhook (signed) at `$HOOK_URL` and a Slack one at
/// `$SLACK_URL`, with an outbox that polls and retries quickly.
fn notify_toml(outbox: &str) -> String {
    format!(
        "[[notify]]\nkind = \"webhook\"\nurl_env = \"HOOK_URL\"\nsecret_env = \"HOOK_KEY\"\n\
         [[notify]]\nkind = \"slack\"\nurl_env = \"SLACK_URL\"\n\
         [[notify]]\nname = \"approvals\"\nkind = \"webhook\"\nurl_env = \"APPROVALS_URL\"\n\
         events = [\"request.approved\"]\n\
         [outbox]\npoll_every = \"50ms\"\ntimeout = \"1s\"\nretry_first = \"200ms\"\n{outbox}\n"
    )
}

struct Hooks {
    hook: Receiver,
    slack: Receiver,
    approvals: Receiver,
}

impl Hooks {
    async fn start(mode: Mode) -> Hooks {
        Hooks {
            hook: Receiver::start(mode).await,
            slack: Receiver::start(Mode::Ok).await,
            approvals: Receiver::start(Mode::Ok).await,
        }
    }

    fn env(&self) -> Vec<(&str, &str)> {
        vec![
            ("HOOK_URL", self.hook.url.as_str()),
            ("HOOK_KEY", KEY),
            ("SLACK_URL", self.slack.url.as_str()),
            ("APPROVALS_URL", self.approvals.url.as_str()),
        ]
    }
}

async fn world_on(db: TestStore, b: &Backend, hooks: &Hooks, outbox: &str) -> World {
    let toml = format!("{}{}", b.target_toml(""), notify_toml(outbox));
    let app = TestApp::start(config_for(&db.url, &toml, &hooks.env())).await;
    let mut w = World::with_app(app).await;
    w.db = Some(db);
    w
}

/// Submits, comments on, approves and executes one request; returns its id.
async fn life_of_a_request(w: &World, b: &Backend) -> i64 {
    let sql = format!("UPDATE {} SET v = v + 1 WHERE id = 1", b.table);
    let r = w
        .submit(
            json!({"title": "Fix <one> row", "intent": "a test edit", "sql": sql,
            "target": b.name, "reviewers": ["bob"], "expected_rows": 1}),
        )
        .await;
    let id = r["id"].as_i64().expect("id");
    let res = w
        .post(
            "carol",
            &format!("/api/v1/requests/{id}/comments"),
            json!({"text": "ok?"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(
        w.review("bob", id, "approve", "", 1).await.status(),
        StatusCode::OK
    );
    let (status, r) = w.execute("alice", id).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    id
}

/// Each delivery id once, and the events in the order they happened.
fn events_once_in_order(hits: &[Hit]) -> Vec<String> {
    let ids: BTreeSet<&str> = hits.iter().map(Hit::delivery).collect();
    assert_eq!(ids.len(), hits.len(), "no delivery id twice");
    hits.iter()
        .map(|h| h.json()["event"].as_str().unwrap_or_default().to_owned())
        .collect()
}

const EVENTS: [&str; 5] = [
    "request.submitted",
    "comment.added",
    "review.approved",
    "request.approved",
    "execution.finished",
];

#[tokio::test]
async fn each_event_reaches_its_webhooks_signed_and_slack_with_a_link() {
    let b = Backend::sqlite();
    b.create_accounts(1).await;
    let hooks = Hooks::start(Mode::Ok).await;
    let w = world_on(TestStore::sqlite().await, &b, &hooks, "").await;
    let id = life_of_a_request(&w, &b).await;

    let hits = hooks.hook.wait_for(5, Duration::from_secs(10)).await;
    assert_eq!(events_once_in_order(&hits), EVENTS);
    for h in &hits {
        let body = h.json();
        assert_eq!(h.header("x-countersign-event"), body["event"]);
        assert_eq!(h.delivery(), body["delivery"]);
        assert_eq!(
            h.header("x-countersign-signature"),
            signature(&h.body),
            "HMAC verifies with the key"
        );
        assert_eq!(body["request"]["id"], id);
        assert_eq!(body["request"]["title"], "Fix <one> row");
        assert_eq!(body["request"]["target"], b.name);
        assert!(
            body["request"]["url"]
                .as_str()
                .is_some_and(|u| u.ends_with(&format!("/requests/{id}"))),
            "{body}"
        );
        assert!(body["at"].as_str().is_some_and(|t| t.ends_with('Z')));
    }
    let actors: Vec<Value> = hits.iter().map(|h| h.json()["actor"].clone()).collect();
    assert_eq!(
        actors,
        [
            json!("alice"),
            json!("carol"),
            json!("bob"),
            json!("bob"),
            json!("alice")
        ]
    );
    assert_eq!(hits[4].json()["request"]["status"], "executed");

    let slack = hooks.slack.wait_for(5, Duration::from_secs(10)).await;
    assert_eq!(slack.len(), 5);
    for h in &slack {
        let body = h.json();
        let text = body["text"].as_str().expect("text");
        assert!(text.contains(&format!("/requests/{id}")), "a link: {text}");
        assert!(
            body["blocks"].as_array().is_some_and(|b| !b.is_empty()),
            "{body}"
        );
        assert_eq!(
            h.header("x-countersign-signature"),
            "",
            "Slack hooks are not signed"
        );
    }
    let approvals = hooks.approvals.wait_for(1, Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let approvals_all = hooks.approvals.hits();
    assert_eq!(approvals.len(), 1);
    assert_eq!(approvals_all.len(), 1, "only the event it subscribes to");
    assert_eq!(approvals[0].json()["event"], "request.approved");
    w.done().await;
}

/// A change made through an instance wakes its dispatcher once it is answered: with the poll an
/// hour apart, every event of a request's life still reaches the webhook within seconds (under
/// load, `benches/notify_outbox.py`: milliseconds).
#[tokio::test]
async fn a_change_is_sent_at_once_not_at_the_next_poll() {
    let b = Backend::sqlite();
    b.create_accounts(1).await;
    let hooks = Hooks::start(Mode::Ok).await;
    let db = TestStore::sqlite().await;
    let toml = format!(
        "{}[[notify]]\nkind = \"webhook\"\nurl_env = \"HOOK_URL\"\nsecret_env = \"HOOK_KEY\"\n\
         [outbox]\npoll_every = \"1h\"\ntimeout = \"1s\"\n",
        b.target_toml("")
    );
    let app = TestApp::start(config_for(&db.url, &toml, &hooks.env())).await;
    let mut w = World::with_app(app).await;
    w.db = Some(db);
    life_of_a_request(&w, &b).await;
    let hits = hooks
        .hook
        .wait_for(EVENTS.len(), Duration::from_secs(10))
        .await;
    assert_eq!(
        events_once_in_order(&hits),
        EVENTS,
        "each at once, long before the next poll"
    );
    w.done().await;
}

#[tokio::test]
async fn a_receiver_failing_then_back_gets_every_message_once_in_order_with_the_same_ids() {
    let b = Backend::sqlite();
    b.create_accounts(1).await;
    let hooks = Hooks::start(Mode::FailUntil(Instant::now() + Duration::from_secs(3))).await;
    let w = world_on(
        TestStore::sqlite().await,
        &b,
        &hooks,
        "retry_max = \"500ms\"",
    )
    .await;
    let first = life_of_a_request(&w, &b).await;
    let second = life_of_a_request(&w, &b).await;
    let hits = hooks.hook.wait_for(10, Duration::from_secs(20)).await;
    assert_eq!(
        hits.len(),
        10,
        "every message arrives once the receiver is back"
    );
    let mut per_request: BTreeMap<i64, Vec<Hit>> = BTreeMap::new();
    for h in &hits {
        per_request
            .entry(h.json()["request"]["id"].as_i64().unwrap())
            .or_default()
            .push(h.clone());
    }
    assert_eq!(
        events_once_in_order(&per_request[&first]),
        EVENTS,
        "in order"
    );
    assert_eq!(
        events_once_in_order(&per_request[&second]),
        EVENTS,
        "in order"
    );
    let failed: BTreeSet<String> = hooks
        .hook
        .hits()
        .iter()
        .filter(|h| h.answered != StatusCode::OK)
        .map(|h| h.delivery().to_owned())
        .collect();
    let delivered: BTreeSet<String> = hits.iter().map(|h| h.delivery().to_owned()).collect();
    assert!(!failed.is_empty(), "the receiver did fail first");
    assert!(
        failed.is_subset(&delivered),
        "a retry carries the same delivery id"
    );
    w.done().await;
}

/// A receiver that answers 500 for a full minute, then 200, while three requests live their
/// lives during the outage (the design's "500 for a minute"): it is tried all along, and once
/// back it accepts every message exactly once by delivery id, in order per request, within
/// seconds (`retry_max` caps the wait between tries).
#[tokio::test]
async fn a_receiver_down_for_a_minute_accepts_every_message_once_in_order_after() {
    let b = Backend::sqlite();
    b.create_accounts(1).await;
    let down = Instant::now();
    let back = down + Duration::from_secs(60);
    let hooks = Hooks::start(Mode::FailUntil(back)).await;
    let w = world_on(TestStore::sqlite().await, &b, &hooks, "retry_max = \"2s\"").await;
    let mut ids = Vec::new();
    for i in 0..3 {
        if i > 0 {
            tokio::time::sleep(Duration::from_secs(20)).await;
        }
        ids.push(life_of_a_request(&w, &b).await);
    }
    assert!(
        Instant::now() < back,
        "every event was made during the outage"
    );
    let accepted = hooks
        .hook
        .wait_for(
            15,
            back.saturating_duration_since(Instant::now()) + Duration::from_secs(30),
        )
        .await;
    // Anything sent twice would arrive now.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let accepted_all = hooks.hook.delivered();
    assert_eq!(
        accepted.len(),
        15,
        "every message arrives once the receiver is back"
    );
    assert_eq!(accepted_all.len(), 15, "and none twice");
    let mut per_request: BTreeMap<i64, Vec<Hit>> = BTreeMap::new();
    for h in &accepted_all {
        assert!(h.at >= back, "accepted only once back");
        assert_eq!(h.header("x-countersign-signature"), signature(&h.body));
        per_request
            .entry(h.json()["request"]["id"].as_i64().unwrap())
            .or_default()
            .push(h.clone());
    }
    for id in &ids {
        assert_eq!(
            events_once_in_order(&per_request[id]),
            EVENTS,
            "request {id}: each delivery id once, in order"
        );
    }
    let last = accepted_all.iter().map(|h| h.at).max().unwrap();
    assert!(
        last - back < Duration::from_secs(15),
        "all delivered within seconds of the receiver's return: {:?}",
        last - back
    );
    let hits = hooks.hook.hits();
    let refused: Vec<&Hit> = hits
        .iter()
        .filter(|h| h.answered != StatusCode::OK)
        .collect();
    let refused_ids: BTreeSet<&str> = refused.iter().map(|h| h.delivery()).collect();
    let accepted_ids: BTreeSet<&str> = accepted_all.iter().map(Hit::delivery).collect();
    assert!(
        refused_ids.is_subset(&accepted_ids),
        "a retry carries the same delivery id"
    );
    for id in &ids {
        assert!(
            refused.iter().any(|h| h.json()["request"]["id"] == *id),
            "request {id}'s first message was tried during the outage"
        );
    }
    assert!(
        refused.iter().any(|h| back - h.at < Duration::from_secs(5)),
        "still tried at the end of the outage"
    );
    w.done().await;
}

#[tokio::test]
async fn a_hanging_receiver_is_left_at_the_timeout_and_gets_its_messages_later() {
    let b = Backend::sqlite();
    b.create_accounts(1).await;
    let hooks = Hooks::start(Mode::Hang(Duration::from_secs(30))).await;
    let w = world_on(TestStore::sqlite().await, &b, &hooks, "").await;
    let started = Instant::now();
    let sql = format!("UPDATE {} SET v = v + 1 WHERE id = 1", b.table);
    w.submit(json!({"title": "t", "intent": "a test edit", "sql": sql,
        "target": b.name, "reviewers": ["bob"], "expected_rows": 1}))
        .await;
    // The other receivers hear of it at once, whatever the hanging one does.
    let slack = hooks.slack.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(slack.len(), 1);
    assert!(started.elapsed() < Duration::from_secs(3));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    hooks.hook.set(Mode::Ok);
    let hits = hooks.hook.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(hits.len(), 1, "delivered once the receiver answers again");
    assert_eq!(hits[0].json()["event"], "request.submitted");
    w.done().await;
}

#[tokio::test]
async fn dead_messages_show_on_admin_without_secrets_and_retry_with_the_same_id() {
    let b = Backend::sqlite();
    b.create_accounts(1).await;
    let hooks = Hooks::start(Mode::Fail).await;
    let w = world_on(
        TestStore::sqlite().await,
        &b,
        &hooks,
        "give_up_after = \"1s\"",
    )
    .await;
    let sql = format!("UPDATE {} SET v = v + 1 WHERE id = 1", b.table);
    let r = w
        .submit(json!({"title": "t", "intent": "a test edit", "sql": sql,
            "target": b.name, "reviewers": ["bob"], "expected_rows": 1}))
        .await;
    let id = r["id"].as_i64().unwrap();
    let mut dead = Vec::new();
    for _ in 0..100 {
        dead = w.app.store.dead_deliveries(10).await.expect("dead");
        if !dead.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(dead.len(), 1, "given up on after give_up_after");
    let error = dead[0].last_error.clone().unwrap_or_default();
    assert!(
        error.contains("HTTP 500") && error.contains("gave up"),
        "{error}"
    );

    let mut admin = w.app.sign_in("root", PW).await;
    let html = admin.page("/admin").await;
    let section = &html[html.find("Failed deliveries").expect("the section")..];
    assert!(
        section.contains("request.submitted") && section.contains("HTTP 500"),
        "{section}"
    );
    for secret in secrets(&hooks) {
        assert!(!html.contains(&secret), "/admin shows a secret");
    }
    let failed_id = hooks.hook.hits()[0].delivery().to_owned();
    hooks.hook.set(Mode::Ok);
    let csrf = hidden_csrf(&html).expect("csrf");
    let res = admin
        .post_form(
            &format!("/admin/deliveries/{}/retry", dead[0].id),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let hits = hooks.hook.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].delivery(), failed_id, "the same delivery id");
    // Nobody else may retry.
    let mut bob = w.app.sign_in("bob", PW).await;
    let html = bob.page(&format!("/requests/{id}")).await;
    let csrf = hidden_csrf(&html).expect("csrf");
    let res = bob
        .post_form(
            &format!("/admin/deliveries/{}/retry", dead[0].id),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    w.done().await;
}

/// The secrets of `hooks`: their URLs (and the paths that stand for tokens) and the key.
fn secrets(hooks: &Hooks) -> Vec<String> {
    let mut all = vec![KEY.to_owned()];
    for r in [&hooks.hook, &hooks.slack, &hooks.approvals] {
        all.push(r.url.clone());
        all.push(r.url.rsplit('/').next().unwrap().to_owned());
    }
    all
}

#[tokio::test]
async fn secrets_appear_in_no_page_answer_or_export() {
    let b = Backend::sqlite();
    b.create_accounts(1).await;
    let hooks = Hooks::start(Mode::Ok).await;
    let w = world_on(TestStore::sqlite().await, &b, &hooks, "").await;
    let id = life_of_a_request(&w, &b).await;
    hooks.hook.wait_for(5, Duration::from_secs(10)).await;
    let mut root = w.app.sign_in("root", PW).await;
    let mut seen = String::new();
    for page in ["/", "/admin", "/audit", &format!("/requests/{id}")] {
        seen.push_str(&root.page(page).await);
    }
    for path in [
        format!("/api/v1/requests/{id}"),
        "/api/v1/targets".to_owned(),
        "/api/v1/audit?format=jsonl".to_owned(),
        "/api/v1/audit?format=csv".to_owned(),
    ] {
        let res = w.send("root", reqwest::Method::GET, &path, None).await;
        seen.push_str(&res.text().await.unwrap());
    }
    for secret in secrets(&hooks) {
        assert!(!seen.contains(&secret), "a secret leaked: {secret}");
    }
    w.done().await;
}

#[tokio::test]
async fn two_instances_on_one_postgres_store_deliver_each_message_once() {
    let Some(db) = TestStore::postgres().await else {
        return;
    };
    let b = Backend::sqlite();
    b.create_accounts(1).await;
    let hooks = Hooks::start(Mode::Ok).await;
    let toml = format!("{}{}", b.target_toml(""), notify_toml(""));
    let other = TestApp::start(config_for(&db.url, &toml, &hooks.env())).await;
    let w = world_on(db, &b, &hooks, "").await;
    let sql = format!("UPDATE {} SET v = v + 1 WHERE id = 1", b.table);
    for i in 0..20 {
        let r = w
            .submit(
                json!({"title": format!("t{i}"), "intent": "a test edit", "sql": sql,
                "target": b.name, "reviewers": ["bob"], "expected_rows": 1}),
            )
            .await;
        let id = r["id"].as_i64().unwrap();
        let res = w
            .post(
                "carol",
                &format!("/api/v1/requests/{id}/comments"),
                json!({"text": "ok?"}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
    }
    let hits = hooks.hook.wait_for(40, Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let all = hooks.hook.hits();
    assert_eq!(hits.len(), 40);
    assert_eq!(all.len(), 40, "nothing sent twice");
    let ids: BTreeSet<&str> = all.iter().map(Hit::delivery).collect();
    assert_eq!(ids.len(), 40, "no delivery id twice");
    other.stop().await;
    w.done().await;
}

/// alice (author, with the API token returned) and bob (reviewer, with `bob_email`) in the store
/// at `db`, written by a server of its own that is stopped before the test starts its own.
async fn accounts(db: &TestStore, b: &Backend, bob_email: Option<&str>) -> String {
    let setup = TestApp::start(config_for(&db.url, &b.target_toml(""), &[])).await;
    let alice = setup
        .add_user("alice", &[countersign_core::user::Role::Author], PW)
        .await;
    setup
        .add_user("bob", &[countersign_core::user::Role::Reviewer], PW)
        .await;
    if let Some(email) = bob_email {
        setup.store.set_email("bob", Some(email)).await.unwrap();
    }
    let token = setup.token_for(&alice).await;
    setup.stop().await;
    token
}

/// alice submits a one-row edit for bob's review to the server at `base`.
async fn submit_to(base: &str, token: &str, b: &Backend) {
    let res = TestApp::client()
        .post(format!("{base}/api/v1/requests"))
        .bearer_auth(token)
        .json(&json!({"title": "t", "intent": "a test edit",
            "sql": format!("UPDATE {} SET v = 1 WHERE id = 1", b.table),
            "target": b.name, "reviewers": ["bob"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn a_server_killed_while_delivering_delivers_again_after_restart_with_the_same_id() {
    use crate::common::{free_addr, spawn_server, wait_up, write_config};
    let b = Backend::sqlite();
    b.create_accounts(1).await;
    let db = TestStore::sqlite().await;
    // Users and a token, written by a server that is gone before anything is told.
    let token = accounts(&db, &b, None).await;

    let hook = Receiver::start(Mode::Hang(Duration::from_secs(60))).await;
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        "{}[[notify]]\nkind = \"webhook\"\nurl_env = \"HOOK_URL\"\n\
         [outbox]\npoll_every = \"50ms\"\ntimeout = \"3s\"\n",
        b.target_toml("")
    );
    let config = write_config(dir.path(), &db.url, &toml);
    let env = [("HOOK_URL", hook.url.as_str())];
    let addr = free_addr();
    let mut server = spawn_server(&config, &addr, &env);
    let base = format!("http://{addr}");
    wait_up(&base).await;
    submit_to(&base, &token, &b).await;
    let started = Instant::now();
    while hook.arrived().is_empty() && started.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let sent = hook.arrived();
    assert_eq!(sent.len(), 1, "the message was being delivered");
    // Killed between sending and marking it sent.
    server.kill().unwrap();
    server.wait().unwrap();
    hook.set(Mode::Ok);
    let mut server = spawn_server(&config, &addr, &env);
    wait_up(&base).await;
    // Delivered again once the dead server's lease (2 × timeout + 5 s) is over.
    let hits = hook.wait_for(1, Duration::from_secs(30)).await;
    server.kill().unwrap();
    server.wait().unwrap();
    assert_eq!(hits.len(), 1, "delivered after the restart");
    assert_eq!(hits[0].delivery(), sent[0], "with the same delivery id");
    assert_eq!(hits[0].json()["event"], "request.submitted");
    db.cleanup().await;
}

#[tokio::test]
async fn secrets_appear_in_no_log_line_of_the_server() {
    use std::process::{Command, Stdio};

    use crate::common::{free_addr, wait_up, write_config};
    let b = Backend::sqlite();
    b.create_accounts(1).await;
    let db = TestStore::sqlite().await;
    let token = accounts(&db, &b, Some("bob@example.com")).await;

    let hook = Receiver::start(Mode::Fail).await;
    // An SMTP server that is not there, with credentials in its URL.
    let smtp_url = format!("smtp://mailer:SMTP-PA55WORD@{}", free_addr());
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        "{}[smtp]\nurl_env = \"SMTP_URL\"\n\
         [[notify]]\nkind = \"webhook\"\nurl_env = \"HOOK_URL\"\nsecret_env = \"HOOK_KEY\"\n\
         [outbox]\npoll_every = \"50ms\"\ntimeout = \"1s\"\nretry_first = \"100ms\"\n",
        b.target_toml("")
    );
    let config = write_config(dir.path(), &db.url, &toml);
    let addr = free_addr();
    let mut server = Command::new(env!("CARGO_BIN_EXE_countersign"))
        .args(["serve", "--config"])
        .arg(&config)
        .env("COUNTERSIGN_SERVER_LISTEN", &addr)
        .env("HOOK_URL", &hook.url)
        .env("HOOK_KEY", KEY)
        .env("SMTP_URL", &smtp_url)
        .env("RUST_LOG", "debug")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let base = format!("http://{addr}");
    wait_up(&base).await;
    submit_to(&base, &token, &b).await;
    // Let both deliveries fail a few times.
    tokio::time::sleep(Duration::from_secs(2)).await;
    server.kill().unwrap();
    let out = server.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        log.contains("a delivery failed"),
        "the failures are logged: {log}"
    );
    let mut secrets = vec![KEY.to_owned(), smtp_url.clone(), "SMTP-PA55WORD".to_owned()];
    secrets.push(hook.url.clone());
    secrets.push(hook.url.rsplit('/').next().unwrap().to_owned());
    for secret in secrets {
        assert!(!log.contains(&secret), "the log holds a secret: {secret}");
    }
    db.cleanup().await;
}

/// The events the life of a request above does not make — a rejection, a revision, an
/// approval that expires — reach the webhook too, signed, in order, each once; and Slack.
#[tokio::test]
async fn rejected_revised_and_expired_reach_the_webhooks_in_order() {
    let b = Backend::sqlite();
    b.create_accounts(1).await;
    let hooks = Hooks::start(Mode::Ok).await;
    let db = TestStore::sqlite().await;
    let toml = format!(
        "{}{}",
        b.target_toml("approval_ttl = \"1s\""),
        notify_toml("")
    );
    let mut env = hooks.env();
    env.push(("COUNTERSIGN_SERVER_EXPIRE_APPROVALS_EVERY", "1s"));
    let app = TestApp::start(config_for(&db.url, &toml, &env)).await;
    let mut w = World::with_app(app).await;
    w.db = Some(db);

    let sql = format!("UPDATE {} SET v = v + 1 WHERE id = 1", b.table);
    let r = w
        .submit(
            json!({"title": "Fix a row", "intent": "a test edit", "sql": sql,
            "target": b.name, "reviewers": ["bob"], "expected_rows": 1}),
        )
        .await;
    let id = r["id"].as_i64().expect("id");
    let res = w.review("bob", id, "reject", "not this row", 1).await;
    assert_eq!(res.status(), StatusCode::OK);
    let revised = format!("UPDATE {} SET v = v + 2 WHERE id = 1", b.table);
    let res = w
        .send(
            "alice",
            reqwest::Method::PUT,
            &format!("/api/v1/requests/{id}"),
            Some(json!({"sql": revised})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        w.review("bob", id, "approve", "", 2).await.status(),
        StatusCode::OK
    );

    let hits = hooks.hook.wait_for(6, Duration::from_secs(15)).await;
    assert_eq!(
        events_once_in_order(&hits),
        [
            "request.submitted",
            "review.rejected",
            "request.revised",
            "review.approved",
            "request.approved",
            "approval.expired",
        ]
    );
    for h in &hits {
        assert_eq!(h.header("x-countersign-signature"), signature(&h.body));
        assert_eq!(h.json()["request"]["id"], id);
    }
    let expired = hits.last().expect("hits").json();
    assert_eq!(
        expired["actor"],
        Value::Null,
        "the system expired it: {expired}"
    );
    assert_eq!(expired["request"]["status"], "pending_review");
    let slack = hooks.slack.wait_for(6, Duration::from_secs(10)).await;
    assert_eq!(slack.len(), 6);
    w.done().await;
}

/// A run whose target nobody can ask any more (its target left the configuration while the run
/// was open) is settled as `unknown` after a restart: `execution.reconciled` reaches the
/// generic webhook, signed, once, after the events before it (the email side: `email.rs`).
#[tokio::test]
async fn a_run_nothing_can_tell_about_reaches_the_webhook_signed() {
    let b = Backend::sqlite();
    b.create_accounts(1).await;
    let hook = Receiver::start(Mode::Ok).await;
    let db = TestStore::sqlite().await;
    let notify = "[[notify]]\nkind = \"webhook\"\nurl_env = \"HOOK_URL\"\nsecret_env = \"HOOK_KEY\"\n\
         [outbox]\npoll_every = \"50ms\"\ntimeout = \"1s\"\nretry_first = \"200ms\"\n";
    let env = [("HOOK_URL", hook.url.as_str()), ("HOOK_KEY", KEY)];
    let toml = format!("{}{notify}", b.target_toml(""));
    let app = TestApp::start(config_for(&db.url, &toml, &env)).await;
    let w = World::with_app(app).await;
    let sql = format!("UPDATE {} SET v = v + 1 WHERE id = 1", b.table);
    let id = w.approved(b.name, &sql, Some(1)).await;
    w.orphan_run(id).await;
    // What happened before the run reached the webhook already.
    let before = hook.wait_for(3, Duration::from_secs(10)).await;
    w.done().await;

    // Restarted without that target: nothing can tell what became of the run.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let other = format!(
        "[[target]]\nname = \"elsewhere\"\ndriver = \"sqlite\"\nurl = \"{}\"\n{notify}",
        b.url
    );
    let mut env = env.to_vec();
    env.push(("COUNTERSIGN_SERVER_RECONCILE_AFTER", "1s"));
    let app = TestApp::start(config_for(&db.url, &other, &env)).await;
    for _ in 0..150 {
        let delivered = hook.delivered();
        if delivered
            .iter()
            .any(|h| h.json()["event"] == "execution.reconciled")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let all = hook.delivered();
    let events = events_once_in_order(&all);
    assert_eq!(
        events,
        [
            "request.submitted",
            "review.approved",
            "request.approved",
            "execution.reconciled"
        ],
        "each once, in order (before the restart: {:?})",
        events_once_in_order(&before)
    );
    let h = all.last().expect("the reconciled event");
    assert_eq!(h.header("x-countersign-event"), "execution.reconciled");
    assert_eq!(
        h.header("x-countersign-signature"),
        signature(&h.body),
        "HMAC verifies with the key"
    );
    let body = h.json();
    assert_eq!(h.delivery(), body["delivery"]);
    assert_eq!(body["request"]["id"], id);
    assert_eq!(body["actor"], Value::Null, "the server settled it: {body}");
    assert!(
        body["request"]["url"]
            .as_str()
            .is_some_and(|u| u.ends_with(&format!("/requests/{id}"))),
        "{body}"
    );
    let record = app.store.request(id).await.unwrap().unwrap();
    assert_eq!(
        record.execution.and_then(|e| e.outcome).map(|o| o.as_str()),
        Some("unknown")
    );
    app.stop().await;
    db.cleanup().await;
}

/// A server stopped while a message is on its way finishes sending it and marks it sent: the
/// next instance does not send it again (shutdown stops the dispatcher between two rounds).
#[tokio::test]
async fn a_message_in_flight_at_shutdown_is_marked_sent_not_sent_again() {
    let b = Backend::sqlite();
    let hook = Receiver::start(Mode::Hang(Duration::from_millis(800))).await;
    let db = TestStore::sqlite().await;
    let notify = "[[notify]]\nkind = \"webhook\"\nurl_env = \"HOOK_URL\"\nsecret_env = \"HOOK_KEY\"\n\
         [outbox]\npoll_every = \"50ms\"\ntimeout = \"5s\"\n";
    let env = [("HOOK_URL", hook.url.as_str()), ("HOOK_KEY", KEY)];
    let toml = format!("{}{notify}", b.target_toml(""));
    let app = TestApp::start(config_for(&db.url, &toml, &env)).await;
    let w = World::with_app(app).await;
    let sql = format!("UPDATE {} SET v = 1 WHERE id = 1", b.table);
    let submitted = w
        .submit(
            json!({"title": "t", "intent": "in flight", "sql": sql, "target": b.name,
            "reviewers": ["bob"]}),
        )
        .await;
    let id = submitted["id"].as_i64().expect("id");
    for _ in 0..250 {
        if !hook.arrived().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(hook.arrived().len(), 1, "the message is on its way");
    w.done().await;
    let store = countersign_store::Store::open(&db.url)
        .await
        .expect("store");
    let deliveries = store.deliveries_of(id).await.expect("deliveries");
    assert!(!deliveries.is_empty());
    assert!(
        deliveries.iter().all(|d| d.status == "sent"),
        "{deliveries:?}"
    );
    db.cleanup().await;
}
