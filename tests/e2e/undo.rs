//! Undo end to end (design §11): executions keep the images of the rows they change, a
//! reviewed revert restores them — and never a row changed since — on SQLite, PostgreSQL and
//! MariaDB; refusals under `undo = "required"` (a table without a primary key, too many rows)
//! unless the request says `without_undo`; the images API and who may read it; the rehearsal
//! saying in advance; and images pruned after `undo_retention`.

use countersign_server::AppState;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{Backend, PW, World, error_code, hidden_csrf};

/// Reviews `id` (revision 1) as bob, then carol if still needed, and checks it is approved.
async fn approve(w: &World, id: i64) {
    for who in ["bob", "carol"] {
        let res = w.review(who, id, "approve", "", 1).await;
        assert_eq!(res.status(), StatusCode::OK, "{who}");
        let r = w.get("alice", &format!("/api/v1/requests/{id}")).await;
        if r["status"] == "approved" {
            return;
        }
    }
    panic!("request #{id} is not approved");
}

/// Asks for the revert of `id` as `who`: the status and the body.
async fn revert(w: &World, who: &str, id: i64) -> (StatusCode, Value) {
    let res = w
        .post(who, &format!("/api/v1/requests/{id}/revert"), json!({}))
        .await;
    (res.status(), res.json().await.expect("json"))
}

/// Executed, then reverted through review and execution: the rows are as they were, on every
/// backend; the two requests are linked both ways and the revert expects one row a row.
#[tokio::test]
async fn an_execution_is_reverted_through_review_and_the_rows_are_as_before() {
    for b in Backend::all() {
        b.create_accounts(4).await;
        let w = World::new(&b.target_toml("")).await;
        let t = &b.table;
        let sql = format!(
            "UPDATE {t} SET v = 7 WHERE id IN (1, 2);\nDELETE FROM {t} WHERE id = 4;\n\
             INSERT INTO {t} (id, v) VALUES (9, 9)"
        );
        let id = w.approved(b.name, &sql, Some(4)).await;
        let (_, r) = w.execute("alice", id).await;
        assert_eq!(r["status"], "executed", "{}: {r}", b.driver);
        assert_eq!(
            r["execution"]["undo"],
            json!({"available": true, "rows": 4, "reason": null}),
            "{}",
            b.driver
        );
        let (status, reverting) = revert(&w, "alice", id).await;
        assert_eq!(status, StatusCode::CREATED, "{}: {reverting}", b.driver);
        let revert_id = reverting["id"].as_i64().expect("id");
        assert_eq!(reverting["reverts"], json!({"id": id}));
        assert_eq!(reverting["expected_rows"], 4);
        assert_eq!(reverting["target"], b.name);
        assert_eq!(reverting["reviewers"], json!(["bob", "carol"]));
        assert_eq!(reverting["status"], "pending_review");
        let original = w.get("alice", &format!("/api/v1/requests/{id}")).await;
        assert_eq!(original["reverted_by"], json!([{"id": revert_id}]));
        // A second revert while the first is open is refused.
        let (status, _) = revert(&w, "alice", id).await;
        assert_eq!(status, StatusCode::CONFLICT);

        approve(&w, revert_id).await;
        let (_, done) = w.execute("alice", revert_id).await;
        assert_eq!(done["status"], "executed", "{}: {done}", b.driver);
        assert_eq!(done["execution"]["rows_affected"], 4, "{done}");
        let mut after = b.values().await;
        after.sort_unstable();
        assert_eq!(
            after,
            vec![0, 0, 0, 0],
            "{}: rows 1–4 back at 0, 9 gone",
            b.driver
        );
        assert_eq!(
            b.ids().await,
            vec![1, 2, 3, 4],
            "{}: the deleted row is back, the inserted one gone",
            b.driver
        );
        b.drop_table().await;
        w.done().await;
    }
}

/// A row changed between the execution and its revert is not overwritten: the revert's guard
/// fails, nothing is restored, and the revert's page names the row.
#[tokio::test]
async fn a_revert_never_overwrites_a_row_changed_since() {
    for b in Backend::all() {
        b.create_accounts(3).await;
        let w = World::new(&b.target_toml("")).await;
        let t = &b.table;
        let id = w
            .approved(
                b.name,
                &format!("UPDATE {t} SET v = 5 WHERE id <= 2"),
                Some(2),
            )
            .await;
        let (_, r) = w.execute("alice", id).await;
        assert_eq!(r["status"], "executed", "{r}");
        let (_, reverting) = revert(&w, "alice", id).await;
        let revert_id = reverting["id"].as_i64().expect("id");
        b.exec(format!("UPDATE {t} SET v = 99 WHERE id = 2")).await;
        approve(&w, revert_id).await;
        let (_, done) = w.execute("alice", revert_id).await;
        assert_eq!(done["status"], "failed", "{}: {done}", b.driver);
        assert_eq!(done["execution"]["outcome"], "guard", "{done}");
        assert_eq!(
            b.values().await,
            vec![5, 99, 0],
            "{}: nothing restored",
            b.driver
        );

        let mut alice = w.app.sign_in("alice", PW).await;
        let page = alice.page(&format!("/requests/{revert_id}")).await;
        assert!(page.contains("id=\"changed-since\""), "{page}");
        assert!(
            page.contains(&format!("{t}: id = 2")),
            "{}: {page}",
            b.driver
        );
        assert!(!page.contains(&format!("{t}: id = 1<")), "{page}");
        b.drop_table().await;
        w.done().await;
    }
}

/// A table without a primary key under `undo = "required"`: refused before any change, unless
/// the request says `without_undo` (shown to reviewers in words); under `optional` it runs and
/// says why there is no undo.
#[tokio::test]
async fn a_table_without_a_key_needs_without_undo_or_optional_undo() {
    for b in Backend::all() {
        let t = &b.table;
        b.exec(format!("CREATE TABLE {t} (id INTEGER, v INTEGER)"))
            .await;
        b.exec(format!("INSERT INTO {t} (id, v) VALUES (1, 0), (2, 0)"))
            .await;
        let w = World::new(&b.target_toml("")).await;
        let sql = format!("UPDATE {t} SET v = 1 WHERE id = 1");
        let id = w.approved(b.name, &sql, Some(1)).await;
        let (_, r) = w.execute("alice", id).await;
        assert_eq!(r["status"], "failed", "{r}");
        assert_eq!(r["execution"]["outcome"], "no_undo", "{r}");
        let error = r["execution"]["error"].as_str().expect("error");
        assert!(error.contains("no primary key"), "{}: {error}", b.driver);
        assert_eq!(
            b.values().await,
            vec![0, 0],
            "{}: nothing changed",
            b.driver
        );

        let submitted = w
            .submit(json!({"title": "t", "intent": "a test edit", "sql": sql,
                "target": b.name, "reviewers": ["bob"], "expected_rows": 1,
                "without_undo": true}))
            .await;
        assert_eq!(submitted["without_undo"], true);
        let id = submitted["id"].as_i64().expect("id");
        let mut bob = w.app.sign_in("bob", PW).await;
        let page = bob.page(&format!("/requests/{id}")).await;
        assert!(page.contains("This change cannot be undone"), "{page}");
        approve(&w, id).await;
        let (_, r) = w.execute("alice", id).await;
        assert_eq!(r["status"], "executed", "{r}");
        assert_eq!(r["execution"]["undo"]["available"], false);
        assert!(
            r["execution"]["undo"]["reason"]
                .as_str()
                .is_some_and(|m| m.contains("without undo")),
            "{r}"
        );
        assert_eq!(b.values().await, vec![1, 0]);
        let (status, _) = revert(&w, "alice", id).await;
        assert_eq!(status, StatusCode::CONFLICT, "no undo, no revert");
        w.done().await;

        let w = World::new(&b.target_toml("undo = \"optional\"")).await;
        let id = w
            .approved(
                b.name,
                &format!("UPDATE {t} SET v = 2 WHERE id = 2"),
                Some(1),
            )
            .await;
        let (_, r) = w.execute("alice", id).await;
        assert_eq!(r["status"], "executed", "{r}");
        let reason = r["execution"]["undo"]["reason"].as_str().expect("reason");
        assert!(reason.contains("no primary key"), "{reason}");
        assert_eq!(b.values().await, vec![1, 2]);
        b.drop_table().await;
        w.done().await;
    }
}

/// More rows than `undo_limit_rows`: refused with the count, nothing changed.
#[tokio::test]
async fn more_rows_than_the_undo_limit_are_refused_with_the_count() {
    let b = Backend::sqlite();
    b.create_accounts(5).await;
    let w = World::new(&b.target_toml("undo_limit_rows = 3")).await;
    let id = w
        .approved(b.name, &format!("UPDATE {} SET v = 1", b.table), Some(5))
        .await;
    let (_, r) = w.execute("alice", id).await;
    assert_eq!(r["execution"]["outcome"], "no_undo", "{r}");
    let error = r["execution"]["error"].as_str().expect("error");
    assert!(error.contains("more than 3 rows"), "{error}");
    assert!(error.contains("at least 5"), "{error}");
    assert_eq!(b.values().await, vec![0; 5]);
    w.done().await;
}

/// The images as JSON Lines, masked columns masked, for the author, named reviewers and
/// admins; 403 for anyone else; only JSON Lines is offered.
#[tokio::test]
async fn the_images_are_production_rows_for_author_reviewers_and_admins() {
    let b = Backend::sqlite();
    let t = &b.table;
    b.exec(format!(
        "CREATE TABLE {t} (id INTEGER PRIMARY KEY, email TEXT, note TEXT)"
    ))
    .await;
    b.exec(format!(
        "INSERT INTO {t} (id, email, note) VALUES (1, 'a@example.com', 'it''s\nfine')"
    ))
    .await;
    let mut w = World::new(&b.target_toml(&format!("mask_columns = [\"{t}.email\"]"))).await;
    w.add("zed", &[countersign_core::user::Role::Reviewer])
        .await;
    let id = w
        .approved(
            b.name,
            &format!("UPDATE {t} SET note = 'changed', email = 'b@example.com' WHERE id = 1"),
            Some(1),
        )
        .await;
    let (_, r) = w.execute("alice", id).await;
    assert_eq!(r["status"], "executed", "{r}");
    let images = async |who: &str, query: &str| {
        let path = format!("/api/v1/requests/{id}/images{query}");
        w.send(who, reqwest::Method::GET, &path, None).await
    };
    for who in ["alice", "bob", "root"] {
        let res = images(who, "?format=jsonl").await;
        assert_eq!(res.status(), StatusCode::OK, "{who}");
        let text = res.text().await.expect("body");
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect();
        assert_eq!(
            lines,
            vec![json!({
                "statement": 0,
                "table": t,
                "key": {"id": "1"},
                "before": {"id": "1", "email": "••••", "note": "it's\nfine"},
                "after": {"id": "1", "email": "••••", "note": "changed"},
            })],
            "{who}"
        );
        assert!(!text.contains("example.com"), "{text}");
    }
    let res = images("zed", "").await;
    assert_eq!(error_code(res).await.0, StatusCode::FORBIDDEN);
    let res = images("alice", "?format=csv").await;
    assert_eq!(error_code(res).await.0, StatusCode::BAD_REQUEST);
    w.done().await;
}

/// Only the author or an admin may revert, only an executed request with undo available.
#[tokio::test]
async fn a_revert_is_for_the_author_or_an_admin_of_an_executed_request() {
    let b = Backend::sqlite();
    b.create_accounts(2).await;
    let w = World::new(&b.target_toml("")).await;
    let id = w
        .approved(
            b.name,
            &format!("UPDATE {} SET v = 3 WHERE id = 1", b.table),
            Some(1),
        )
        .await;
    let (status, body) = revert(&w, "alice", id).await;
    assert_eq!(status, StatusCode::CONFLICT, "not executed yet: {body}");
    assert_eq!(body["error"]["code"], "not_executed");
    w.execute("alice", id).await;
    let (status, _) = revert(&w, "bob", id).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = revert(&w, "root", id).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["author"], "root");
    w.done().await;
}

/// The rehearsal says before approval whether undo will be possible, and why not.
#[tokio::test]
async fn the_rehearsal_says_in_advance_whether_undo_is_possible() {
    let b = Backend::sqlite();
    let t = &b.table;
    b.create_accounts(2).await;
    b.exec(format!("CREATE TABLE {t}_nokey (a INTEGER)")).await;
    let w = World::new(&b.target_toml("")).await;
    for (sql, possible, reason) in [
        (format!("UPDATE {t} SET v = 1 WHERE id = 1"), true, None),
        (
            format!("UPDATE {t}_nokey SET a = 1"),
            false,
            Some("has no primary key"),
        ),
    ] {
        let request = w
            .submit(json!({"title": "t", "intent": "a test edit", "sql": sql,
                "target": b.name, "reviewers": ["bob"]}))
            .await;
        let id = request["id"].as_i64().expect("id");
        let res = w
            .post("bob", &format!("/api/v1/requests/{id}/rehearse"), json!({}))
            .await;
        assert_eq!(res.status(), StatusCode::ACCEPTED);
        let mut rehearsal = Value::Null;
        for _ in 0..100 {
            let r = w.get("bob", &format!("/api/v1/requests/{id}")).await;
            rehearsal = r["rehearsal"].clone();
            if rehearsal["status"] != "running" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(rehearsal["status"], "done", "{rehearsal}");
        assert_eq!(rehearsal["undo_possible"], possible, "{sql}: {rehearsal}");
        match reason {
            None => assert_eq!(rehearsal["undo_reason"], Value::Null),
            Some(words) => assert!(
                rehearsal["undo_reason"]
                    .as_str()
                    .is_some_and(|r| r.contains(words)),
                "{rehearsal}"
            ),
        }
        let mut bob = w.app.sign_in("bob", PW).await;
        let page = bob.page(&format!("/requests/{id}")).await;
        let words = if possible {
            "Undo will be possible"
        } else {
            "Undo will not be possible"
        };
        assert!(page.contains(words), "{page}");
    }
    w.done().await;
}

/// Images past `undo_retention` are pruned with an `undo.pruned` event; the execution then
/// says why there is no undo, and a revert is refused.
#[tokio::test]
async fn images_past_their_retention_are_pruned_and_audited() {
    let b = Backend::sqlite();
    b.create_accounts(2).await;
    let w = World::new(&b.target_toml("undo_retention = \"1ms\"")).await;
    let id = w
        .approved(
            b.name,
            &format!("UPDATE {} SET v = 3 WHERE id = 1", b.table),
            Some(1),
        )
        .await;
    let (_, r) = w.execute("alice", id).await;
    assert_eq!(r["execution"]["undo"]["available"], true, "{r}");
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    AppState::new(w.app.store.clone(), w.app.config.clone())
        .prune_images()
        .await;
    let r = w.get("alice", &format!("/api/v1/requests/{id}")).await;
    assert_eq!(r["execution"]["undo"]["available"], false, "{r}");
    assert!(
        r["execution"]["undo"]["reason"]
            .as_str()
            .is_some_and(|m| m.contains("undo_retention")),
        "{r}"
    );
    let events = w
        .get(
            "alice",
            &format!("/api/v1/audit?request={id}&action=undo.pruned"),
        )
        .await;
    let events = events.as_array().expect("events");
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["actor"], Value::Null);
    let (status, _) = revert(&w, "alice", id).await;
    assert_eq!(status, StatusCode::CONFLICT);
    w.done().await;
}

/// The Revert button on the executed request's page starts the revert and lands on it.
#[tokio::test]
async fn the_revert_button_opens_the_new_request() {
    let b = Backend::sqlite();
    b.create_accounts(1).await;
    let w = World::new(&b.target_toml("")).await;
    let id = w
        .approved(b.name, &format!("UPDATE {} SET v = 3", b.table), Some(1))
        .await;
    w.execute("alice", id).await;
    let mut alice = w.app.sign_in("alice", PW).await;
    let page = alice.page(&format!("/requests/{id}")).await;
    assert!(page.contains("Undo available: 1 rows"), "{page}");
    assert!(page.contains("id=\"revert\""), "{page}");
    let csrf = hidden_csrf(&page).expect("csrf");
    let res = alice
        .post_form(&format!("/requests/{id}/revert"), &[("csrf_token", &csrf)])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let location = res.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    let page = alice.page(&location).await;
    assert!(page.contains(&format!("href=\"/requests/{id}\"")), "{page}");
    assert!(page.contains(&format!("Revert #{id}")), "{page}");
    w.done().await;
}

/// A revert whose SQL would not fit in a request is refused with the reason (and where the
/// images are), rather than failing as a bad request.
#[tokio::test]
async fn a_revert_too_large_for_a_request_says_so() {
    let b = Backend::sqlite();
    let t = &b.table;
    b.exec(format!(
        "CREATE TABLE {t} (id INTEGER PRIMARY KEY, note TEXT)"
    ))
    .await;
    b.exec(format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2500) \
         INSERT INTO {t} (id, note) SELECT i, replace(hex(zeroblob(500)), '0', 'x') FROM n"
    ))
    .await;
    let small = format!(
        "[server]\nmax_sql_bytes = \"256KiB\"\n{}",
        b.target_toml("")
    );
    let w = World::new(&small).await;
    let id = w
        .approved(b.name, &format!("UPDATE {t} SET note = 'y'"), Some(2500))
        .await;
    let (_, r) = w.execute("alice", id).await;
    assert_eq!(r["execution"]["undo"]["rows"], 2500, "{r}");
    let (status, body) = revert(&w, "alice", id).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "undo_too_large");
    let message = body["error"]["message"].as_str().expect("message");
    assert!(message.contains("2500 rows"), "{message}");
    assert!(message.contains("/images"), "{message}");
    assert!(message.contains("262144"), "the server's limit: {message}");
    w.done().await;
}

/// Before anyone reviews it, the request page says when a change cannot be undone as written
/// (DDL, an upsert, a join) and what will happen at execution; not once it is submitted
/// without undo.
#[tokio::test]
async fn the_request_page_warns_before_review_when_undo_will_refuse() {
    let b = Backend::sqlite();
    b.create_accounts(1).await;
    let w = World::new(&b.target_toml("")).await;
    let t = &b.table;
    let ddl = format!("CREATE INDEX {t}_v ON {t} (v)");
    let mut bob = w.app.sign_in("bob", PW).await;
    for (without_undo, warned) in [(false, true), (true, false)] {
        let request = w
            .submit(json!({"title": "t", "intent": "a test edit", "sql": ddl,
                "target": b.name, "reviewers": ["bob"], "without_undo": without_undo}))
            .await;
        let page = bob
            .page(&format!(
                "/requests/{}",
                request["id"].as_i64().expect("id")
            ))
            .await;
        assert_eq!(page.contains("id=\"undo-warning\""), warned, "{page}");
        if warned {
            assert!(page.contains("cannot be undone as written"), "{page}");
            assert!(page.contains("statement 1 (create index"), "{page}");
        }
    }
    let keyed = w
        .submit(json!({"title": "t", "intent": "a test edit",
            "sql": format!("UPDATE {t} SET v = 1 WHERE id = 1"),
            "target": b.name, "reviewers": ["bob"]}))
        .await;
    let page = bob
        .page(&format!("/requests/{}", keyed["id"].as_i64().expect("id")))
        .await;
    assert!(!page.contains("id=\"undo-warning\""), "{page}");
    w.done().await;
}
