//! The request pages as a browser uses them (without JavaScript): forms, CSRF, escaping, and
//! what each role sees.

use crate::common::{Browser, TestApp, hidden_csrf, sqlite_app};
use countersign_core::user::Role;
use reqwest::{StatusCode, header};

const PW: &str = "a long password";
const TARGET: &str =
    "[[target]]\nname = \"shop\"\ndriver = \"sqlite\"\nurl = \"sqlite://unused.db\"\n";

async fn world() -> (TestApp, countersign_store::testing::TestStore) {
    let (app, db) = sqlite_app(TARGET, &[]).await;
    app.add_user("alice", &[Role::Author], PW).await;
    app.add_user("bob", &[Role::Reviewer], PW).await;
    app.add_user("carol", &[Role::Reviewer], PW).await;
    app.add_user("root", &[Role::Admin], PW).await;
    (app, db)
}

/// Submits the new-request form as `b`; returns the response.
async fn submit_form(b: &mut Browser, fields: &[(&str, &str)]) -> reqwest::Response {
    let html = b.page("/requests/new").await;
    let csrf = hidden_csrf(&html).expect("csrf");
    let mut form = vec![("csrf_token", csrf.as_str())];
    form.extend_from_slice(fields);
    b.post_form("/requests", &form).await
}

fn location(res: &reqwest::Response) -> String {
    res.headers()[header::LOCATION]
        .to_str()
        .expect("ascii")
        .to_owned()
}

#[tokio::test]
async fn the_new_request_form_has_every_labelled_field() {
    let (app, db) = world().await;
    let mut b = app.sign_in("alice", PW).await;
    let html = b.page("/requests/new").await;
    for label in [
        "Title",
        "Intent",
        "SQL",
        "Target",
        "Reviewers",
        "Expected rows",
    ] {
        assert!(
            html.contains(&format!(">{label}</label>"))
                || html.contains(&format!("<legend>{label}</legend>")),
            "no label {label}"
        );
    }
    assert!(html.contains(">Submit request</button>"));
    assert!(
        html.contains("value=\"bob\"") && html.contains("value=\"carol\""),
        "reviewers offered"
    );
    assert!(
        !html.contains("value=\"alice\""),
        "the author is not offered as a reviewer"
    );
    for link in [">New request</a>", ">Audit</a>", ">Sign out</button>"] {
        assert!(html.contains(link), "nav lacks {link}");
    }
    app.stop().await;
    db.cleanup().await;
}

#[tokio::test]
async fn a_request_goes_from_form_to_approval_in_the_browser() {
    let (app, db) = world().await;
    let mut alice = app.sign_in("alice", PW).await;
    let res = submit_form(
        &mut alice,
        &[
            ("title", "Mark order 42 paid"),
            ("intent", "Payment confirmed by the bank."),
            (
                "sql",
                "UPDATE orders\nSET status = 'paid'\n-- WHERE id = 42",
            ),
            ("target", "shop"),
            ("reviewers", "bob"),
            ("reviewers", "carol"),
            ("expected_rows", "1"),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let path = location(&res);
    let page = alice.page(&path).await;
    assert!(page.contains("pending review"));
    assert!(
        page.contains("update-without-where"),
        "the finding is shown"
    );
    assert!(
        page.contains("<td class=\"ln\">3</td>"),
        "lines are numbered"
    );
    assert!(
        !page.contains(">Approve</button>"),
        "the author gets no review form"
    );
    assert!(page.contains(">Revise</a>") && page.contains(">Withdraw</button>"));

    let mut bob = app.sign_in("bob", PW).await;
    let dash = bob.page("/").await;
    assert!(dash.contains("Waiting for my review") && dash.contains("Mark order 42 paid"));
    let page = bob.page(&path).await;
    assert!(page.contains("<label for=\"comment\">Comment</label>"));
    assert!(page.contains(">Approve</button>") && page.contains(">Reject</button>"));
    let csrf = hidden_csrf(&page).expect("csrf");
    // Without its CSRF token the review is refused.
    let res = bob
        .post_form(
            &format!("{path}/review"),
            &[("decision", "approve"), ("revision", "1")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // A rejection without a comment is refused, and says why.
    let res = bob
        .post_form(
            &format!("{path}/review"),
            &[
                ("csrf_token", &csrf),
                ("decision", "reject"),
                ("revision", "1"),
                ("comment", ""),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(
        res.text()
            .await
            .expect("body")
            .contains("a rejection needs a comment")
    );
    // High risk: bob's approval leaves it pending, carol's approves it.
    let res = bob
        .post_form(
            &format!("{path}/review"),
            &[
                ("csrf_token", &csrf),
                ("decision", "approve"),
                ("revision", "1"),
                ("comment", "ok"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let mut carol = app.sign_in("carol", PW).await;
    let page = carol.page(&path).await;
    let csrf = hidden_csrf(&page).expect("csrf");
    carol
        .post_form(
            &format!("{path}/review"),
            &[
                ("csrf_token", &csrf),
                ("decision", "approve"),
                ("revision", "1"),
                ("comment", ""),
            ],
        )
        .await;
    let page = alice.page(&path).await;
    assert!(
        page.contains(">approved</span>"),
        "approved after two approvals"
    );
    assert!(
        page.contains("review.approved"),
        "the history shows the approvals"
    );
    app.stop().await;
    db.cleanup().await;
}

#[tokio::test]
async fn a_refused_form_keeps_everything_typed() {
    let (app, db) = world().await;
    let mut b = app.sign_in("alice", PW).await;
    let res = submit_form(
        &mut b,
        &[
            ("title", "Fix prices"),
            ("intent", ""),
            (
                "sql",
                "UPDATE products SET price_cents = 990 WHERE sku = 'SKU-1'",
            ),
            ("target", "shop"),
            ("reviewers", "carol"),
            ("expected_rows", "1"),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let html = res.text().await.expect("body");
    assert!(html.contains("role=\"alert\""), "the reason is shown");
    assert!(html.contains("intent"), "the reason names the field");
    assert!(html.contains("value=\"Fix prices\""));
    assert!(
        html.contains("UPDATE products SET price_cents = 990 WHERE sku = &#39;SKU-1&#39;")
            || html.contains("UPDATE products SET price_cents = 990 WHERE sku = &#x27;SKU-1&#x27;"),
        "{html}"
    );
    assert!(html.contains("value=\"carol\" checked"));
    let res = submit_form(
        &mut b,
        &[
            ("title", "t"),
            ("intent", "i"),
            ("sql", "SELECT 1"),
            ("target", "shop"),
            ("reviewers", "bob"),
            ("expected_rows", "lots"),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(
        res.text()
            .await
            .expect("body")
            .contains("expected rows: a whole number")
    );
    app.stop().await;
    db.cleanup().await;
}

#[tokio::test]
async fn user_text_is_escaped_everywhere() {
    let (app, db) = world().await;
    let mut b = app.sign_in("alice", PW).await;
    let res = submit_form(
        &mut b,
        &[
            ("title", "<img src=x onerror=alert(1)>"),
            ("intent", "<b>bold</b>"),
            (
                "sql",
                "UPDATE t SET a = 1 WHERE id = 1 -- <script>alert(1)</script>",
            ),
            ("target", "shop"),
            ("reviewers", "bob"),
        ],
    )
    .await;
    let path = location(&res);
    let page = b.page(&path).await;
    assert!(
        !page.contains("<script>alert(1)</script>"),
        "a SQL comment stays text"
    );
    assert!(
        page.contains("&lt;script&gt;alert(1)&lt;/script&gt;")
            || page.contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
        "the comment is shown, escaped"
    );
    assert!(!page.contains("<img src=x"));
    assert!(!page.contains("<b>bold</b>"));
    let res = b.get(&path).await;
    let csp = res.headers()[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    app.stop().await;
    db.cleanup().await;
}

#[tokio::test]
async fn every_role_sees_its_pages() {
    let (app, db) = world().await;
    let mut alice = app.sign_in("alice", PW).await;
    let res = submit_form(
        &mut alice,
        &[
            ("title", "Tidy carts"),
            ("intent", "Old carts"),
            ("sql", "DELETE FROM carts WHERE id = 3"),
            ("target", "shop"),
            ("reviewers", "bob"),
        ],
    )
    .await;
    let path = location(&res);
    for who in ["alice", "bob", "carol", "root"] {
        let mut b = app.sign_in(who, PW).await;
        let dash = b.page("/").await;
        assert!(
            dash.contains("My requests") && dash.contains("Waiting for my review"),
            "{who}'s dashboard"
        );
        let page = b.page(&path).await;
        assert!(page.contains("Tidy carts"), "{who} reads the request");
        assert_eq!(
            page.contains(">Approve</button>"),
            who == "bob",
            "only bob, named, may review ({who})"
        );
        assert_eq!(
            page.contains(">Withdraw</button>"),
            who == "alice" || who == "root",
            "withdraw: author or admin ({who})"
        );
        b.page("/requests/new").await;
    }
    // Revising through the form: a new revision, reviews voided.
    let edit = alice.page(&format!("{path}/edit")).await;
    assert!(
        edit.contains("DELETE FROM carts WHERE id = 3"),
        "the form is prefilled"
    );
    let csrf = hidden_csrf(&edit).expect("csrf");
    let res = alice
        .post_form(
            &format!("{path}/edit"),
            &[
                ("csrf_token", &csrf),
                ("title", "Tidy carts"),
                ("intent", "Old carts, two of them"),
                ("sql", "DELETE FROM carts WHERE id IN (3, 4)"),
                ("reviewers", "bob"),
                ("expected_rows", "2"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let page = alice.page(&path).await;
    assert!(page.contains("Revision 2"));
    // Someone else cannot open the edit form.
    let mut bob = app.sign_in("bob", PW).await;
    assert_eq!(
        bob.get(&format!("{path}/edit")).await.status(),
        StatusCode::FORBIDDEN
    );
    let _ = bob.page("/").await;
    app.stop().await;
    db.cleanup().await;
}

#[tokio::test]
async fn the_admin_page_lists_users_and_targets_but_never_a_url() {
    let (app, db) = world().await;
    let mut root = app.sign_in("root", PW).await;
    let home = root.page("/").await;
    assert!(home.contains(">Admin</a>"), "admins get the link");
    let html = root.page("/admin").await;
    for name in ["alice", "bob", "carol", "root", "shop", "sqlite"] {
        assert!(html.contains(name), "admin page lacks {name}");
    }
    assert!(
        !html.contains("unused.db") && !html.contains("sqlite://"),
        "a target URL leaked"
    );
    let mut alice = app.sign_in("alice", PW).await;
    assert!(!alice.page("/").await.contains(">Admin</a>"));
    assert_eq!(alice.get("/admin").await.status(), StatusCode::FORBIDDEN);
    app.stop().await;
    db.cleanup().await;
}

#[tokio::test]
async fn a_revised_request_shows_what_changed_in_its_sql() {
    let (app, db) = world().await;
    let mut alice = app.sign_in("alice", PW).await;
    let res = submit_form(
        &mut alice,
        &[
            ("title", "Fix"),
            ("intent", "why"),
            ("sql", "UPDATE orders SET status = 'paid'\nWHERE id = 41"),
            ("target", "shop"),
            ("reviewers", "bob"),
        ],
    )
    .await;
    let path = location(&res);
    assert!(
        !alice.page(&path).await.contains("Changes from revision"),
        "nothing to compare yet"
    );
    let edit = alice.page(&format!("{path}/edit")).await;
    let csrf = hidden_csrf(&edit).expect("csrf");
    alice
        .post_form(
            &format!("{path}/edit"),
            &[
                ("csrf_token", &csrf),
                ("title", "Fix"),
                ("intent", "why"),
                ("sql", "UPDATE orders SET status = 'paid'\nWHERE id = 42"),
                ("reviewers", "bob"),
            ],
        )
        .await;
    let page = alice.page(&path).await;
    assert!(page.contains("Changes from revision 1"));
    assert!(
        page.contains("<span class=\"del\">- WHERE id = 41</span>"),
        "{page}"
    );
    assert!(page.contains("<span class=\"ins\">+ WHERE id = 42</span>"));
    app.stop().await;
    db.cleanup().await;
}

#[tokio::test]
async fn the_live_analysis_script_is_served_from_the_app_itself() {
    let (app, db) = world().await;
    let mut b = app.sign_in("alice", PW).await;
    let form = b.page("/requests/new").await;
    assert!(form.contains("<script src=\"/static/app.js\" defer></script>"));
    let res = b.get("/static/app.js").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()[header::CONTENT_TYPE]
            .to_str()
            .expect("ascii")
            .starts_with("text/javascript")
    );
    let js = res.text().await.expect("body");
    assert!(
        js.contains("/api/v1/analyze") && !js.contains(".innerHTML"),
        "builds the DOM from text only"
    );
    app.stop().await;
    db.cleanup().await;
}

#[tokio::test]
async fn a_failed_request_is_offered_again_as_a_new_request() {
    let (app, db) = world().await;
    let mut alice = app.sign_in("alice", PW).await;
    // The target's database does not exist, so the run fails.
    let sql = "UPDATE orders SET status = 'paid' WHERE id = 42";
    let res = submit_form(
        &mut alice,
        &[
            ("title", "Pay 42"),
            ("intent", "bank confirmed"),
            ("sql", sql),
            ("target", "shop"),
            ("reviewers", "bob"),
            ("expected_rows", "1"),
        ],
    )
    .await;
    let path = location(&res);
    let mut bob = app.sign_in("bob", PW).await;
    let csrf = hidden_csrf(&bob.page(&path).await).expect("csrf");
    bob.post_form(
        &format!("{path}/review"),
        &[
            ("csrf_token", &csrf),
            ("decision", "approve"),
            ("revision", "1"),
            ("comment", ""),
        ],
    )
    .await;
    let confirm = alice.page(&format!("{path}/execute")).await;
    let csrf = hidden_csrf(&confirm).expect("csrf");
    let res = alice
        .post_form(&format!("{path}/execute"), &[("csrf_token", &csrf)])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let page = alice.page(&path).await;
    assert!(page.contains(">failed</span>"), "the run failed");
    assert!(
        !page.contains(">Execute</button>"),
        "a failed request is never retried"
    );
    assert!(page.contains("Submit again as new request"));
    let id = path.rsplit('/').next().expect("id");
    let form = alice.page(&format!("/requests/new?from={id}")).await;
    assert!(
        form.contains("value=\"Pay 42\"") && form.contains("bank confirmed"),
        "the form starts from the failed request"
    );
    assert!(form.contains("value=\"bob\" checked"));
    assert!(
        !bob.page(&path)
            .await
            .contains("Submit again as new request"),
        "only for its author"
    );
    app.stop().await;
    db.cleanup().await;
}

/// After a run, the request page lists the rows the database counted as changed, per table —
/// here an UPDATE and the row its trigger wrote into another table.
#[tokio::test]
async fn the_request_page_lists_the_rows_changed_per_table() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("shop.db");
    let url = format!("sqlite://{}", file.display());
    {
        use sqlx::Connection;
        let mut c = sqlx::SqliteConnection::connect(&format!("{url}?mode=rwc"))
            .await
            .expect("target");
        sqlx::raw_sql(
            "CREATE TABLE orders (id INTEGER PRIMARY KEY, status TEXT);
             INSERT INTO orders VALUES (42, 'new'), (43, 'new');
             CREATE TABLE order_log (id INTEGER);
             CREATE TRIGGER logged AFTER UPDATE ON orders BEGIN INSERT INTO order_log VALUES (NEW.id); END;",
        )
        .execute(&mut c)
        .await
        .expect("seed");
    }
    // The trigger's rows are out of capture's sight: with undo optional, the run goes ahead
    // and says why it has no undo.
    let target = format!(
        "[[target]]\nname = \"shop\"\ndriver = \"sqlite\"\nurl = \"{url}\"\nundo = \"optional\"\n"
    );
    let (app, db) = sqlite_app(&target, &[]).await;
    let alice = app.add_user("alice", &[Role::Author], PW).await;
    let bob = app.add_user("bob", &[Role::Reviewer], PW).await;
    let client = TestApp::client();
    let post = |token: String, path: String, body: serde_json::Value| {
        client
            .post(app.url(&path))
            .bearer_auth(token)
            .json(&body)
            .send()
    };
    let (alice_token, bob_token) = (app.token_for(&alice).await, app.token_for(&bob).await);
    let res = post(
        alice_token.clone(),
        "/api/v1/requests".into(),
        serde_json::json!({"title": "Pay 42", "intent": "bank confirmed",
            "sql": "UPDATE orders SET status = 'paid' WHERE id = 42", "target": "shop",
            "reviewers": ["bob"], "expected_rows": 2}),
    )
    .await
    .expect("submit");
    let id = res.json::<serde_json::Value>().await.expect("json")["id"]
        .as_i64()
        .expect("id");
    post(
        bob_token,
        format!("/api/v1/requests/{id}/reviews"),
        serde_json::json!({"decision": "approve", "comment": "", "revision": 1}),
    )
    .await
    .expect("approve");
    let res = post(
        alice_token,
        format!("/api/v1/requests/{id}/execute"),
        serde_json::json!({}),
    )
    .await
    .expect("execute");
    let run: serde_json::Value = res.json().await.expect("json");
    assert_eq!(run["status"], "executed", "{run}");

    let mut page_reader = app.sign_in("alice", PW).await;
    let page = page_reader.page(&format!("/requests/{id}")).await;
    assert!(page.contains("id=\"tables-changed\""), "{page}");
    assert!(
        page.contains("No undo: the database counted 1 row(s) inserted"),
        "{page}"
    );
    assert!(
        page.contains("<td>main.orders</td><td>0</td><td>1</td><td>0</td>"),
        "the update, counted by the database"
    );
    assert!(
        page.contains("<td>main.order_log</td><td>1</td><td>0</td><td>0</td>"),
        "the trigger's insert, counted by the database"
    );
    assert!(page.contains("expected_rows"), "the guard's source");
    app.stop().await;
    db.cleanup().await;
}

/// The text of the element with id `id` on `page` (up to its closing tag).
fn element(page: &str, id: &str) -> String {
    let open = format!("id=\"{id}\">");
    let Some(at) = page.find(&open) else {
        return String::new();
    };
    let rest = &page[at + open.len()..];
    rest[..rest.find("</").unwrap_or(rest.len())].to_owned()
}

/// A world on a SQLite target, and a second instance on its store where bob is signed in.
async fn a_second_instance_with_bob_signed_in() -> (
    crate::common::Backend,
    crate::common::World,
    TestApp,
    crate::common::Browser,
) {
    let b = crate::common::Backend::sqlite();
    b.create_accounts(3).await;
    let w = crate::common::World::new(&b.target_toml("")).await;
    let viewer = TestApp::start(w.app.config.clone()).await;
    let bob = viewer.sign_in("bob", crate::common::PW).await;
    (b, w, viewer, bob)
}

/// A request page is kept between views while its request does not change (issue 18), and
/// every instance on a store keeps its own: each change made through another instance — a
/// comment, reviews, a run, a revert made of it — shows at the very next view on this one.
#[tokio::test]
async fn a_kept_request_page_shows_every_change_made_through_another_instance() {
    use serde_json::json;

    let (b, w, viewer, mut bob) = a_second_instance_with_bob_signed_in().await;
    let sql = format!("UPDATE {} SET v = 5 WHERE id = 2", b.table);
    let submitted = w
        .submit(
            json!({"title": "kept", "intent": "a kept page", "sql": sql, "target": b.name,
            "reviewers": ["bob", "carol"], "expected_rows": 1}),
        )
        .await;
    let id = submitted["id"].as_i64().expect("id");
    let path = format!("/requests/{id}");
    // Shown twice: the second view is the kept one.
    for _ in 0..2 {
        let page = bob.page(&path).await;
        assert_eq!(element(&page, "status"), "pending review", "{page}");
    }

    let res = w
        .post(
            "carol",
            &format!("/api/v1/requests/{id}/comments"),
            json!({"text": "looks right to me"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert!(bob.page(&path).await.contains("looks right to me"));

    for who in ["bob", "carol"] {
        let res = w.review(who, id, "approve", "", 1).await;
        if res.status() == StatusCode::CONFLICT {
            break; // one approval was enough
        }
        assert_eq!(res.status(), StatusCode::OK, "{who}");
    }
    let page = bob.page(&path).await;
    assert_eq!(element(&page, "status"), "approved", "{page}");

    let (status, run) = w.execute("alice", id).await;
    assert_eq!(status, StatusCode::OK, "{run}");
    let page = bob.page(&path).await;
    assert_eq!(element(&page, "status"), "executed", "{page}");
    assert!(!page.contains("id=\"reverted-by\""));

    // A revert is a change of the new request, not of this one: the page sees it all the same.
    let res = w
        .post("alice", &format!("/api/v1/requests/{id}/revert"), json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let revert: serde_json::Value = res.json().await.expect("json");
    let revert_id = revert["id"].as_i64().expect("id");
    let page = bob.page(&path).await;
    assert!(
        page.contains(&format!("<a href=\"/requests/{revert_id}\">")),
        "{page}"
    );

    viewer.stop().await;
    w.done().await;
}

/// The dashboard's lists and the API's list are kept against the store's version: a review made
/// through another instance on the same store is in the very next view of either.
#[tokio::test]
async fn kept_lists_show_every_change_made_through_another_instance() {
    use serde_json::json;

    let (b, w, viewer, mut bob) = a_second_instance_with_bob_signed_in().await;
    let sql = format!("UPDATE {} SET v = 6 WHERE id = 2", b.table);
    let submitted = w
        .submit(
            json!({"title": "waiting for bob", "intent": "a kept list", "sql": sql,
            "target": b.name, "reviewers": ["bob"], "expected_rows": 1}),
        )
        .await;
    let id = submitted["id"].as_i64().expect("id");
    let statuses = |list: &serde_json::Value| -> Vec<(i64, String)> {
        list["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|i| {
                (
                    i["id"].as_i64().expect("id"),
                    i["status"].as_str().expect("status").to_owned(),
                )
            })
            .collect()
    };
    // Each shown twice: the second view is the kept one.
    for _ in 0..2 {
        let page = bob.page("/").await;
        assert!(page.contains("waiting for bob"), "{page}");
        assert!(
            !page.contains("Nothing is waiting for your review."),
            "{page}"
        );
        let res = bob.get("/api/v1/requests?limit=5").await;
        let list: serde_json::Value = res.json().await.expect("json");
        assert_eq!(statuses(&list), [(id, "pending_review".to_owned())]);
    }

    let res = w.review("bob", id, "approve", "", 1).await;
    assert_eq!(res.status(), StatusCode::OK);
    let page = bob.page("/").await;
    assert!(
        page.contains("Nothing is waiting for your review."),
        "{page}"
    );
    let res = bob.get("/api/v1/requests?limit=5").await;
    let list: serde_json::Value = res.json().await.expect("json");
    assert_eq!(statuses(&list), [(id, "approved".to_owned())]);

    viewer.stop().await;
    w.done().await;
}
