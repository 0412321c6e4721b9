//! The audit trail from the outside (docs/api.md, docs/audit.md): one event per action with its
//! actor and none for a refused one; `GET /api/v1/audit` in its three formats; the `/audit` page;
//! `countersign audit export` and `countersign audit verify` as a user runs them, on intact and
//! tampered exports.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::{PW, TestApp, World, error_code, hidden_csrf};
use countersign_core::audit::AuditEvent;
use countersign_store::NewEvent;
use countersign_store::testing::TestStore;
use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_countersign");

const TARGETS: &str = r#"
[[target]]
name = "shop"
driver = "sqlite"
url = "sqlite://unused-shop.db"
"#;

/// Text that CSV must quote and HTML must escape: commas, double quotes, line breaks, markup.
const AWKWARD: &str = "Refund, then \"close\" it;\nsecond line <script>alert('x')</script>";

const SQL: &str =
    "UPDATE orders\nSET note = 'paid, \"late\"'\nWHERE id = 42 -- <script>alert(1)</script>";

/// The cast of [`World`] and a configuration file for the `countersign` binary over the same
/// store.
struct AuditWorld {
    world: World,
    dir: tempfile::TempDir,
}

impl std::ops::Deref for AuditWorld {
    type Target = World;
    fn deref(&self) -> &World {
        &self.world
    }
}

impl AuditWorld {
    async fn new() -> AuditWorld {
        AuditWorld::with(World::new(TARGETS).await)
    }

    fn with(world: World) -> AuditWorld {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = format!("[store]\nurl = \"{}\"\n{TARGETS}", world.store_url());
        std::fs::write(dir.path().join("countersign.toml"), config).expect("config");
        AuditWorld { world, dir }
    }

    async fn done(self) {
        self.world.done().await;
    }

    /// Submits as alice; returns the request's id.
    async fn submit(&self, title: &str, reviewers: &[&str]) -> i64 {
        let body = json!({
            "title": title,
            "intent": "The bank confirmed the refund; record it on the order.",
            "sql": SQL,
            "target": "shop",
            "reviewers": reviewers,
            "expected_rows": 1,
        });
        let res = self
            .send("alice", Method::POST, "/api/v1/requests", Some(body))
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let r: Value = res.json().await.expect("json");
        r["id"].as_i64().expect("id")
    }

    async fn revise(&self, id: i64, sql: &str) -> reqwest::Response {
        self.send(
            "alice",
            Method::PUT,
            &format!("/api/v1/requests/{id}"),
            Some(json!({"sql": sql})),
        )
        .await
    }

    async fn withdraw(&self, who: &str, id: i64) -> reqwest::Response {
        self.send(
            who,
            Method::POST,
            &format!("/api/v1/requests/{id}/withdraw"),
            None,
        )
        .await
    }

    /// The raw body of `GET /api/v1/audit?QUERY` as bob, asserting 200.
    async fn export(&self, query: &str) -> String {
        let res = self
            .send("bob", Method::GET, &format!("/api/v1/audit?{query}"), None)
            .await;
        assert_eq!(res.status(), StatusCode::OK, "GET /api/v1/audit?{query}");
        res.text().await.expect("body")
    }

    /// Every event, through the API's JSON Lines.
    async fn events(&self) -> Vec<AuditEvent> {
        parse_lines(&self.export("format=jsonl").await)
    }

    /// Runs `countersign ARGS --config countersign.toml` in the world's directory.
    fn countersign(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .args(args)
            .arg("--config")
            .arg(self.dir.path().join("countersign.toml"))
            .current_dir(self.dir.path())
            .output()
            .expect("run countersign")
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

fn parse_lines(text: &str) -> Vec<AuditEvent> {
    text.lines()
        .map(|line| serde_json::from_str(line).expect("an event per line"))
        .collect()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The events appended since `seen` of them were read; moves `seen` on.
async fn new_events(w: &AuditWorld, seen: &mut usize) -> Vec<AuditEvent> {
    let all = w.events().await;
    let fresh = all[*seen..].to_vec();
    *seen = all.len();
    fresh
}

/// Asserts that exactly one event came, with this action, actor and request.
fn assert_one(
    events: &[AuditEvent],
    action: &str,
    actor: Option<&str>,
    request: Option<(i64, i64)>,
) -> AuditEvent {
    assert_eq!(
        events.len(),
        1,
        "one {action} event expected, got {events:#?}"
    );
    let e = &events[0];
    assert_eq!(e.action, action);
    assert_eq!(e.actor.as_deref(), actor, "actor of {action}");
    assert_eq!(
        e.request_id.zip(e.revision),
        request,
        "request and revision of {action}"
    );
    e.clone()
}

#[tokio::test]
async fn every_action_appends_exactly_one_event_by_its_actor() {
    let w = AuditWorld::new().await;
    let mut seen = w.events().await.len();

    w.app.sign_in("alice", PW).await;
    assert_one(
        &new_events(&w, &mut seen).await,
        "user.login",
        Some("alice"),
        None,
    );

    let mut b = crate::common::Browser::new(w.app.base.clone());
    let csrf = hidden_csrf(&b.page("/login").await).expect("csrf");
    let res = b
        .post_form(
            "/login",
            &[
                ("username", "alice"),
                ("password", "not it"),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let failed = assert_one(
        &new_events(&w, &mut seen).await,
        "user.login_failed",
        None,
        None,
    );
    assert_eq!(failed.details["user"], "alice");

    let id = w.submit("Refund order 42", &["bob", "carol"]).await;
    let submitted = assert_one(
        &new_events(&w, &mut seen).await,
        "request.submitted",
        Some("alice"),
        Some((id, 1)),
    );
    assert_eq!(submitted.details["title"], "Refund order 42");

    assert_eq!(
        w.revise(id, "UPDATE orders SET note = 'refunded' WHERE id = 42")
            .await
            .status(),
        StatusCode::OK
    );
    assert_one(
        &new_events(&w, &mut seen).await,
        "request.revised",
        Some("alice"),
        Some((id, 2)),
    );

    assert_eq!(
        w.review("bob", id, "reject", "Say which refund", 2)
            .await
            .status(),
        StatusCode::OK
    );
    let rejected = assert_one(
        &new_events(&w, &mut seen).await,
        "review.rejected",
        Some("bob"),
        Some((id, 2)),
    );
    assert_eq!(rejected.details["comment"], "Say which refund");

    assert_eq!(w.revise(id, SQL).await.status(), StatusCode::OK);
    assert_one(
        &new_events(&w, &mut seen).await,
        "request.revised",
        Some("alice"),
        Some((id, 3)),
    );

    assert_eq!(
        w.review("carol", id, "approve", "fine", 3).await.status(),
        StatusCode::OK
    );
    assert_one(
        &new_events(&w, &mut seen).await,
        "review.approved",
        Some("carol"),
        Some((id, 3)),
    );

    assert_eq!(w.withdraw("alice", id).await.status(), StatusCode::OK);
    assert_one(
        &new_events(&w, &mut seen).await,
        "request.withdrawn",
        Some("alice"),
        Some((id, 3)),
    );

    let other = w.submit("Another", &["bob"]).await;
    new_events(&w, &mut seen).await;
    assert_eq!(
        w.withdraw("root", other).await.status(),
        StatusCode::OK,
        "an admin may withdraw"
    );
    assert_one(
        &new_events(&w, &mut seen).await,
        "request.withdrawn",
        Some("root"),
        Some((other, 1)),
    );
    w.done().await;
}

#[tokio::test]
async fn a_refused_action_appends_no_event() {
    let w = AuditWorld::new().await;
    let id = w.submit("Refund order 42", &["bob"]).await;
    let before = w.app.store.audit_head().await.expect("head");

    let (status, _) = error_code(w.review("carol", id, "approve", "", 1).await).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "carol is not named");
    let (status, _) = error_code(w.review("bob", id, "approve", "", 7).await).await;
    assert_eq!(status, StatusCode::CONFLICT, "a stale revision");
    let (status, _) = error_code(w.withdraw("bob", id).await).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "only the author withdraws");
    let bad = json!({"title": "", "intent": "", "sql": "", "target": "shop", "reviewers": []});
    let (status, _) = error_code(
        w.send("alice", Method::POST, "/api/v1/requests", Some(bad))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        w.app.store.audit_head().await.expect("head"),
        before,
        "no event for a refusal"
    );

    assert_eq!(w.withdraw("alice", id).await.status(), StatusCode::OK);
    let after_withdraw = w.app.store.audit_head().await.expect("head");
    assert_eq!(after_withdraw.0, before.0 + 1);
    let (status, _) = error_code(w.withdraw("alice", id).await).await;
    assert_eq!(status, StatusCode::CONFLICT, "withdrawn is final");
    assert_eq!(
        w.app.store.audit_head().await.expect("head"),
        after_withdraw
    );
    w.done().await;
}

#[tokio::test]
async fn the_api_streams_three_formats_to_signed_in_users_only() {
    let w = AuditWorld::new().await;
    let id = w.submit("Refund order 42", &["bob"]).await;
    assert_eq!(
        w.review("bob", id, "approve", "ok", 1).await.status(),
        StatusCode::OK
    );

    let anonymous = TestApp::client()
        .get(w.app.url("/api/v1/audit"))
        .send()
        .await
        .expect("GET");
    assert_eq!(
        error_code(anonymous).await,
        (StatusCode::UNAUTHORIZED, "unauthorized".to_owned())
    );
    for query in [
        "since=yesterday",
        "until=2025-13-45",
        "format=xml",
        "request=twelve",
    ] {
        let res = w
            .send("bob", Method::GET, &format!("/api/v1/audit?{query}"), None)
            .await;
        assert_eq!(
            error_code(res).await,
            (StatusCode::BAD_REQUEST, "bad_request".to_owned()),
            "{query}"
        );
    }

    let all = w.events().await;
    assert!(
        all.len() >= 6,
        "users, tokens, submission, review: {all:#?}"
    );
    let res = w.send("bob", Method::GET, "/api/v1/audit", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[header::CONTENT_TYPE], "application/json");
    assert!(res.headers().get(header::CONTENT_DISPOSITION).is_none());
    let array: Vec<AuditEvent> = res.json().await.expect("a JSON array");
    assert_eq!(array, all, "json and jsonl carry the same events");

    let res = w
        .send("bob", Method::GET, "/api/v1/audit?format=jsonl", None)
        .await;
    assert_eq!(res.headers()[header::CONTENT_TYPE], "application/x-ndjson");
    assert_eq!(
        res.headers()[header::CONTENT_DISPOSITION],
        "attachment; filename=\"countersign-audit.jsonl\""
    );
    let res = w
        .send("bob", Method::GET, "/api/v1/audit?format=csv", None)
        .await;
    assert!(
        res.headers()[header::CONTENT_TYPE]
            .to_str()
            .expect("ascii")
            .starts_with("text/csv")
    );
    assert_eq!(
        res.headers()[header::CONTENT_DISPOSITION],
        "attachment; filename=\"countersign-audit.csv\""
    );

    // Filters narrow, and combine.
    let by_bob = parse_lines(&w.export("format=jsonl&actor=bob").await);
    assert_eq!(
        by_bob.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(),
        ["review.approved"]
    );
    let on_request = parse_lines(&w.export(&format!("format=jsonl&request={id}")).await);
    assert_eq!(on_request.len(), 2);
    let submitted = parse_lines(
        &w.export(&format!(
            "format=jsonl&request={id}&action=request.submitted"
        ))
        .await,
    );
    assert_eq!(submitted.len(), 1);
    let since = countersign_core::timestamp::format(on_request[1].at);
    let later = parse_lines(&w.export(&format!("format=jsonl&since={since}")).await);
    assert_eq!(
        later.first().map(|e| e.seq),
        Some(on_request[1].seq),
        "since includes its moment"
    );
    let earlier = parse_lines(&w.export(&format!("format=jsonl&until={since}")).await);
    assert_eq!(
        earlier.len() + later.len(),
        all.len(),
        "until stops just before it"
    );
    assert_eq!(w.export("format=json&actor=nobody").await, "[]");

    // The browser session signs in GETs, so the page's download links work.
    let b = w.app.sign_in("carol", PW).await;
    let res = b.get("/api/v1/audit?format=csv&actor=bob").await;
    assert_eq!(res.status(), StatusCode::OK);
    w.done().await;
}

#[tokio::test]
async fn csv_round_trips_commas_quotes_newlines_and_markup() {
    let w = AuditWorld::new().await;
    let title = format!("Order 42: {AWKWARD}");
    let id = w.submit(&title, &["bob"]).await;
    assert_eq!(
        w.review("bob", id, "reject", AWKWARD, 1).await.status(),
        StatusCode::OK
    );

    let from_api = w.export("format=csv").await;
    let out = w.countersign(&["audit", "export", "--format", "csv"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        from_api,
        "the CLI and the API write the same CSV"
    );

    let mut reader = csv::Reader::from_reader(from_api.as_bytes());
    assert_eq!(
        reader.headers().expect("header").iter().collect::<Vec<_>>(),
        [
            "seq",
            "at",
            "actor",
            "action",
            "request_id",
            "revision",
            "details",
            "prev_hash",
            "hash"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("a CSV row")).collect();
    assert_eq!(rows.len(), w.events().await.len());
    let row = |action: &str| {
        rows.iter()
            .find(|r| &r[3] == action)
            .unwrap_or_else(|| panic!("a {action} row"))
            .clone()
    };
    let submitted = row("request.submitted");
    assert_eq!(
        (&submitted[2], &submitted[4], &submitted[5]),
        ("alice", id.to_string().as_str(), "1")
    );
    let details: Value = serde_json::from_str(&submitted[6]).expect("details are JSON");
    assert_eq!(details["title"], title.as_str());
    assert_eq!(
        details["sql_sha256"],
        countersign_core::request::sql_sha256(SQL)
    );
    let rejected = row("review.rejected");
    let details: Value = serde_json::from_str(&rejected[6]).expect("details are JSON");
    assert_eq!(details["comment"], AWKWARD);
    assert_eq!(&rejected[2], "bob");

    // The same event in JSON Lines carries the same chain fields.
    let event = w
        .events()
        .await
        .into_iter()
        .find(|e| e.action == "review.rejected")
        .expect("event");
    assert_eq!(
        (&rejected[7], &rejected[8]),
        (event.prev_hash.as_str(), event.hash.as_str())
    );
    assert_eq!(&rejected[1], countersign_core::timestamp::format(event.at));
    w.done().await;
}

/// Makes a trail with a request, a rejection and a revision; exports it with the CLI to
/// `export.jsonl` and returns its lines.
async fn exported_trail(w: &AuditWorld) -> Vec<String> {
    let id = w.submit("Refund order 42", &["bob"]).await;
    assert_eq!(
        w.review("bob", id, "reject", AWKWARD, 1).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        w.revise(id, "UPDATE orders SET note = 'x' WHERE id = 42")
            .await
            .status(),
        StatusCode::OK
    );
    let out = w.countersign(&[
        "audit",
        "export",
        "--format",
        "jsonl",
        "--output",
        "export.jsonl",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = std::fs::read_to_string(w.path("export.jsonl")).expect("export written");
    assert_eq!(
        text,
        w.export("format=jsonl").await,
        "the CLI and the API write the same JSON Lines"
    );
    assert!(!w.path("export.jsonl.partial").exists());
    text.lines().map(str::to_owned).collect()
}

fn write_lines(path: &Path, lines: &[String]) {
    std::fs::write(
        path,
        lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
    )
    .expect("write");
}

/// Runs `audit verify --file` on `lines`; asserts it fails naming `event`, and returns its words.
fn assert_breaks_at(w: &AuditWorld, lines: &[String], event: i64) -> String {
    let file = w.path("tampered.jsonl");
    write_lines(&file, lines);
    let out = w.countersign(&[
        "audit",
        "verify",
        "--file",
        file.to_str().expect("utf-8 path"),
    ]);
    let said = format!("{}{}", stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains(&format!("event #{event}")),
        "names event #{event}: {said}"
    );
    assert!(!said.contains("intact"), "{said}");
    said
}

#[tokio::test]
async fn verify_passes_on_an_intact_export_and_names_the_event_where_it_breaks() {
    let w = AuditWorld::new().await;
    let lines = exported_trail(&w).await;
    let n = lines.len();
    assert!(n >= 10, "a trail of some length: {n}");

    let out = w.countersign(&["audit", "verify", "--file", "export.jsonl"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains(&format!("audit trail intact: {n} events")),
        "{}",
        stdout(&out)
    );

    // (a) One byte of one event changed: the letter of a user name in event #9's line.
    let mut altered = lines.clone();
    let target = &lines[8];
    let at = target.find("\"actor\":\"").expect("an actor") + "\"actor\":\"".len();
    let mut bytes = target.clone().into_bytes();
    bytes[at] = if bytes[at] == b'x' { b'y' } else { b'x' };
    altered[8] = String::from_utf8(bytes).expect("utf-8");
    let said = assert_breaks_at(&w, &altered, 9);
    assert!(said.contains("altered"), "{said}");

    // (b) One line deleted: the break is at the event after the gap.
    let mut deleted = lines.clone();
    deleted.remove(4);
    let said = assert_breaks_at(&w, &deleted, 6);
    assert!(said.contains("removed"), "{said}");

    // (c) Two lines swapped.
    let mut swapped = lines.clone();
    swapped.swap(6, 7);
    assert_breaks_at(&w, &swapped, 8);

    // A line that is no event at all.
    let mut garbled = lines.clone();
    garbled[3] = garbled[3].replacen('{', "", 1);
    let said = assert_breaks_at(&w, &garbled, 3);
    assert!(said.contains("line 4"), "{said}");

    // The live store verifies too.
    let out = w.countersign(&["audit", "verify"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains(&format!("audit trail intact: {n} events")),
        "{}",
        stdout(&out)
    );
    w.done().await;
}

#[tokio::test]
async fn an_export_from_a_start_time_is_an_excerpt_and_says_so() {
    let w = AuditWorld::new().await;
    let lines = exported_trail(&w).await;
    let events = parse_lines(&lines.join("\n"));
    let since = countersign_core::timestamp::format(events[5].at);
    let out = w.countersign(&[
        "audit",
        "export",
        "--format",
        "jsonl",
        "--since",
        &since,
        "--output",
        "part.jsonl",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let part = std::fs::read_to_string(w.path("part.jsonl")).expect("written");
    assert_eq!(
        part.lines().collect::<Vec<_>>(),
        lines[5..].iter().map(String::as_str).collect::<Vec<_>>()
    );

    let out = w.countersign(&["audit", "verify", "--file", "part.jsonl"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "an excerpt cannot be verified from the start"
    );
    assert!(
        stderr(&out).contains("event #6") && stderr(&out).contains("--excerpt"),
        "{}",
        stderr(&out)
    );

    let out = w.countersign(&["audit", "verify", "--excerpt", "--file", "part.jsonl"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!(
            "audit excerpt intact: {} events from event #6",
            lines.len() - 5
        )),
        "{}",
        stdout(&out)
    );

    let mut altered: Vec<String> = part.lines().map(str::to_owned).collect();
    altered[1] = altered[1].replacen("\"seq\":7", "\"seq\":8", 1);
    write_lines(&w.path("part.jsonl"), &altered);
    let out = w.countersign(&["audit", "verify", "--excerpt", "--file", "part.jsonl"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("event #8"), "{}", stderr(&out));
    w.done().await;
}

#[tokio::test]
async fn export_refuses_bad_arguments_and_verify_a_missing_file() {
    let w = AuditWorld::new().await;
    let out = w.countersign(&["audit", "export", "--format", "xml"]);
    assert_eq!(out.status.code(), Some(2), "a usage error");
    let out = w.countersign(&["audit", "export", "--format", "csv", "--since", "last week"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("not a time"), "{}", stderr(&out));
    let out = w.countersign(&["audit", "verify", "--file", "missing.jsonl"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("missing.jsonl"), "{}", stderr(&out));
    w.done().await;
}

#[tokio::test]
async fn the_live_store_verifies_on_postgresql_too() {
    let Some(db) = TestStore::postgres().await else {
        return;
    };
    let w = AuditWorld::with(World::on(db, TARGETS).await);
    let id = w.submit("Refund order 42", &["bob"]).await;
    assert_eq!(
        w.review("bob", id, "approve", AWKWARD, 1).await.status(),
        StatusCode::OK
    );
    let n = w.events().await.len();
    let out = w.countersign(&["audit", "verify"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains(&format!("audit trail intact: {n} events")),
        "{}",
        stdout(&out)
    );
    let out = w.countersign(&["audit", "export", "--format", "csv"]);
    assert_eq!(stdout(&out), w.export("format=csv").await);
    w.done().await;
}

/// The page with its ampersands unescaped, to read its links.
fn links(html: &str) -> String {
    html.replace("&#38;", "&").replace("&amp;", "&")
}

#[tokio::test]
async fn the_audit_page_lists_filters_pages_and_links_the_exports() {
    let w = AuditWorld::new().await;
    let id = w.submit(&format!("Order 42: {AWKWARD}"), &["bob"]).await;
    assert_eq!(
        w.review("bob", id, "approve", "fine", 1).await.status(),
        StatusCode::OK
    );

    let signed_out = TestApp::client()
        .get(w.app.url("/audit"))
        .send()
        .await
        .expect("GET");
    assert!(
        signed_out.status().is_redirection(),
        "signed out: to the sign-in page"
    );

    let mut b = w.app.sign_in("carol", PW).await;
    let html = b.page("/audit").await;
    for label in [
        "<label for=\"since\">Since</label>",
        "<label for=\"until\">Until</label>",
        "<label for=\"actor\">Actor</label>",
        "<label for=\"action\">Action</label>",
        "<label for=\"request\">Request</label>",
    ] {
        assert!(html.contains(label), "{label}");
    }
    assert!(
        html.contains("href=\"/api/v1/audit?format=csv\""),
        "CSV download link"
    );
    assert!(
        html.contains("href=\"/api/v1/audit?format=jsonl\""),
        "JSON Lines download link"
    );
    assert!(!html.contains("<script>alert"), "text is escaped");
    assert!(
        html.contains("&lt;script&gt;") || html.contains("&#60;script&#62;"),
        "the title is shown, escaped"
    );
    // Newest first: carol's sign-in, then bob's approval, then the submission.
    let login = html.find("<code>user.login</code>").expect("the sign-in");
    let approved = html
        .find("<code>review.approved</code>")
        .expect("the approval");
    let submitted = html
        .find("<code>request.submitted</code>")
        .expect("the submission");
    assert!(login < approved && approved < submitted, "newest first");
    assert!(!html.contains("Older events"), "one page holds it all");

    let html = b
        .page("/audit?actor=bob&action=&since=&until=&request=")
        .await;
    assert!(
        html.contains("<code>review.approved</code>")
            && !html.contains("<code>request.submitted</code>")
    );
    assert!(
        links(&html).contains("href=\"/api/v1/audit?format=csv&actor=bob\""),
        "downloads keep the filter: {html}"
    );
    let html = b
        .page(&format!("/audit?request=%23{id}&action=request.submitted"))
        .await;
    assert!(
        html.contains("<code>request.submitted</code>")
            && !html.contains("<code>review.approved</code>")
    );
    assert!(
        html.contains("<option value=\"request.submitted\" selected>"),
        "the form keeps its choice"
    );

    let res = b.get("/audit?since=yesterday").await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let html = b.absorb(res).await;
    assert!(
        html.contains("since:") && html.contains("is not a time"),
        "{html}"
    );

    // Pages of 100, newest first, with an "Older events" cursor that keeps the filter.
    for n in 0..150 {
        let event = NewEvent::new(
            Some("dave"),
            countersign_core::audit::AuditAction::UserLogin,
            json!({ "n": n }),
        );
        w.app.store.record_event(event).await.expect("event");
    }
    let html = b.page("/audit?actor=dave").await;
    assert_eq!(
        html.matches("<tr>").count() - 1,
        100,
        "a page of 100 events and a header row"
    );
    let plain = links(&html);
    let at = plain
        .find("href=\"/audit?actor=dave&before=")
        .expect("an Older events link")
        + "href=\"".len();
    let end = plain[at..].find('"').expect("the link ends");
    let older = plain[at..at + end].to_owned();
    assert!(html.contains("Older events"));
    let html = b.page(&older).await;
    assert_eq!(html.matches("<tr>").count() - 1, 50);
    assert!(
        html.contains("{&#34;n&#34;:0}") || html.contains("{&quot;n&quot;:0}"),
        "the oldest of dave's events is on the last page"
    );
    assert!(!html.contains("Older events") && html.contains("Newest events"));
    w.done().await;
}

/// On PostgreSQL the CSV and JSON Lines exports are written by the database itself (`COPY`); they
/// must be the very bytes the server's own writer makes of the same rows, for every filter,
/// whatever the text holds, and the signed trailer the same.
#[tokio::test]
async fn postgresql_copies_the_bytes_the_writer_writes() {
    use countersign_core::audit::AuditAction;
    use countersign_server::anchor::AuditKey;
    use countersign_server::audit::{CopyTail, ExportFormat, ExportWriter};
    use countersign_store::audit::AuditFilter;
    use futures_util::TryStreamExt;

    let Some(db) = TestStore::postgres().await else {
        return;
    };
    let store = &db.store;
    let awkward = [
        json!({"comment": AWKWARD, "n": 1.5, "list": [null, true, {"b": 2, "a": "\\ back\\slash"}]}),
        json!({"control": "bell \u{7} unit \u{1f} tab \t end", "unicode": "é ☃ 😀 \u{2028}", "empty": ""}),
        json!({}),
    ];
    let actors = [None, Some("bob"), Some("o'brien \"the\" reviewer, jr")];
    for (i, details) in awkward.iter().enumerate() {
        for (j, actor) in actors.iter().enumerate() {
            let mut event = NewEvent::new(*actor, AuditAction::ReviewRejected, details.clone());
            if j > 0 {
                event = event.on_request(i as i64 + 1, j as i64);
            }
            store.record_event(event).await.expect("event");
        }
    }
    let since = store.audit_events_for_test().await.expect("events")[4].at;
    let filters = [
        AuditFilter::default(),
        AuditFilter {
            actor: Some("o'brien \"the\" reviewer, jr".into()),
            ..Default::default()
        },
        AuditFilter {
            request_id: Some(2),
            ..Default::default()
        },
        AuditFilter {
            since: Some(since),
            action: Some("review.rejected".into()),
            ..Default::default()
        },
        AuditFilter {
            actor: Some("nobody".into()),
            ..Default::default()
        },
    ];
    let key = AuditKey::generate();
    for format in [ExportFormat::Csv, ExportFormat::JsonLines] {
        for filter in &filters {
            for key in [None, Some(key.clone())] {
                let copy = format.copy_format().expect("copied format");
                let copied = store
                    .audit_copy(filter, copy)
                    .await
                    .expect("copy")
                    .expect("on PostgreSQL");
                let mut tail = CopyTail::new(format, key.clone());
                let mut bytes = Vec::new();
                let chunks: Vec<_> = copied.try_collect().await.expect("chunks");
                for chunk in &chunks {
                    tail.saw(chunk.as_ref());
                    bytes.extend_from_slice(chunk.as_ref());
                }
                bytes.extend(tail.finish().expect("tail"));
                let mut writer = ExportWriter::new(format, Vec::new())
                    .expect("writer")
                    .signed_by(key.clone());
                let rows: Vec<_> = store.audit_rows(filter).try_collect().await.expect("rows");
                for row in &rows {
                    writer.write_stored(row).expect("write");
                }
                assert_eq!(tail.events(), writer.events(), "{format} {filter:?}");
                let written = writer.finish().expect("finish");
                assert_eq!(
                    String::from_utf8_lossy(&bytes),
                    String::from_utf8_lossy(&written),
                    "{format} {filter:?} signed: {}",
                    key.is_some()
                );
            }
        }
    }
    db.cleanup().await;
}
