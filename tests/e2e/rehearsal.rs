//! Rehearsals through the API on real targets: who may start one, where it runs, what it
//! counts and samples, and that the target is exactly as before afterwards.

use std::time::{Duration, Instant};

use crate::common::{Backend, TestApp, World, config_for, error_code, unique};
use countersign_core::user::Role;
use countersign_store::testing::TestStore;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::Connection;

/// Polls request `id` until its rehearsal is no longer running; returns it.
async fn rehearsal_of(w: &World, id: i64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let request = w.get("alice", &format!("/api/v1/requests/{id}")).await;
        let rehearsal = request["rehearsal"].clone();
        if !rehearsal.is_null() && rehearsal["status"] != "running" {
            return rehearsal;
        }
        assert!(Instant::now() < deadline, "still running: {rehearsal}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn submit(w: &World, target: &str, sql: &str) -> i64 {
    let request = w
        .submit(
            json!({"title": "t", "intent": "a test edit", "sql": sql, "target": target,
            "reviewers": ["bob"], "expected_rows": 2}),
        )
        .await;
    request["id"].as_i64().expect("id")
}

async fn start(w: &World, who: &str, id: i64) -> reqwest::Response {
    w.post(who, &format!("/api/v1/requests/{id}/rehearse"), json!({}))
        .await
}

#[tokio::test]
async fn a_rehearsal_on_the_target_itself_counts_samples_and_changes_nothing() {
    for b in Backend::all() {
        b.create_accounts(4).await;
        let mut w = World::new(&b.target_toml("")).await;
        w.add("dave", &[Role::Reviewer]).await;
        let sql = format!(
            "UPDATE {t} SET v = v + 5 WHERE id IN (1, 2);\nDELETE FROM {t} WHERE id = 4",
            t = b.table
        );
        let id = submit(&w, b.name, &sql).await;
        let request = w.get("alice", &format!("/api/v1/requests/{id}")).await;
        assert!(
            request["rehearsal"].is_null(),
            "{}: a target rehearsed on itself never rehearses by itself",
            b.driver
        );

        for who in ["alice", "dave"] {
            let (status, code) = error_code(start(&w, who, id).await).await;
            assert_eq!(
                (status, code.as_str()),
                (StatusCode::FORBIDDEN, "forbidden"),
                "{} {who}",
                b.driver
            );
        }
        let res = start(&w, "bob", id).await;
        assert_eq!(res.status(), StatusCode::ACCEPTED, "{}", b.driver);
        let body: Value = res.json().await.expect("json");
        assert!(!body["rehearsal"].is_null(), "{body}");

        let r = rehearsal_of(&w, id).await;
        assert_eq!(r["status"], "done", "{}: {r}", b.driver);
        assert_eq!(r["rows_affected"], 3, "{}: {r}", b.driver);
        assert_eq!(r["on_target"], b.name);
        assert_eq!(r["requested_by"], "bob");
        assert_eq!(r["statements"][0]["rows_affected"], 2, "{r}");
        assert_eq!(r["statements"][1]["rows_affected"], 1, "{r}");
        let sample = &r["statements"][0]["sample"];
        assert_eq!(sample["before"].as_array().map(Vec::len), Some(2), "{r}");
        let v = sample["columns"]
            .as_array()
            .and_then(|c| c.iter().position(|c| c == "v"))
            .expect("column v");
        assert_eq!(sample["before"][0][v], "0", "{sample}");
        assert_eq!(sample["after"][0][v], "5", "{sample}");
        assert_eq!(
            b.values().await,
            [0, 0, 0, 0],
            "{}: nothing of the rehearsal stays",
            b.driver
        );

        // bob's review records the rehearsal he saw.
        let res = w.review("bob", id, "approve", "", 1).await;
        assert_eq!(res.status(), StatusCode::OK);
        let request = w.get("alice", &format!("/api/v1/requests/{id}")).await;
        assert_eq!(request["reviews"][0]["rehearsal_id"], r["id"], "{request}");

        // The admin may start one too; the author still may not.
        assert_eq!(start(&w, "root", id).await.status(), StatusCode::ACCEPTED);
        let r = rehearsal_of(&w, id).await;
        assert_eq!(r["requested_by"], "root");
        assert_eq!(b.values().await, [0, 0, 0, 0]);

        // After the withdrawal, nobody may.
        let res = w
            .send(
                "alice",
                reqwest::Method::POST,
                &format!("/api/v1/requests/{id}/withdraw"),
                None,
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        let (status, code) = error_code(start(&w, "bob", id).await).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::CONFLICT, "invalid_state")
        );
        w.done().await;
        b.drop_table().await;
    }
}

#[tokio::test]
async fn a_target_rehearsed_on_a_copy_rehearses_there_after_every_submit_and_revise() {
    let production = Backend::sqlite();
    let staging = Backend::sqlite().with_table(&production.table);
    production.create_accounts(2).await;
    staging.create_accounts(5).await;
    let targets = format!(
        "{}{}",
        production.target_toml("rehearse = \"staging\""),
        staging
            .target_toml("")
            .replace("name = \"lite\"", "name = \"staging\""),
    );
    let w = World::new(&targets).await;
    let sql = format!("UPDATE {} SET v = 1 WHERE id > 0", production.table);
    let id = submit(&w, "lite", &sql).await;
    let r = rehearsal_of(&w, id).await;
    assert_eq!(r["status"], "done", "{r}");
    assert_eq!(r["on_target"], "staging");
    assert!(r["requested_by"].is_null(), "the system started it: {r}");
    assert_eq!(r["rows_affected"], 5, "counted on the copy's rows: {r}");
    assert_eq!(r["revision"], 1);

    let res = w
        .send(
            "alice",
            reqwest::Method::PUT,
            &format!("/api/v1/requests/{id}"),
            Some(json!({"sql": format!("UPDATE {} SET v = 1 WHERE id > 3", production.table)})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let r = rehearsal_of(&w, id).await;
    assert_eq!(r["revision"], 2, "a new revision is rehearsed anew: {r}");
    assert_eq!(r["rows_affected"], 2, "{r}");

    // On a copy, anyone who may read the request may start one again.
    assert_eq!(start(&w, "alice", id).await.status(), StatusCode::ACCEPTED);
    let r = rehearsal_of(&w, id).await;
    assert_eq!(r["requested_by"], "alice");
    assert_eq!(production.values().await, [0, 0]);
    assert_eq!(staging.values().await, [0, 0, 0, 0, 0]);
    w.done().await;
}

#[tokio::test]
async fn masked_columns_never_leave_the_rehearsal_and_samples_can_be_off() {
    let b = Backend::sqlite();
    b.exec(format!(
        "CREATE TABLE {} (id INTEGER PRIMARY KEY, email TEXT, v INTEGER)",
        b.table
    ))
    .await;
    b.exec(format!(
        "INSERT INTO {} VALUES (1, 'ann@example.com', 0), (2, 'bo@example.com', 0)",
        b.table
    ))
    .await;
    let masked = b.target_toml("mask_columns = [\"*.email\"]");
    let w = World::new(&masked).await;
    let sql = format!(
        "UPDATE {} SET v = 1, email = 'new@example.com' WHERE id = 1",
        b.table
    );
    let id = submit(&w, b.name, &sql).await;
    assert_eq!(start(&w, "bob", id).await.status(), StatusCode::ACCEPTED);
    let r = rehearsal_of(&w, id).await;
    let text = r.to_string();
    assert!(!text.contains("example.com"), "{text}");
    assert!(text.contains("••••"), "{text}");
    w.done().await;

    let counts_only = b.target_toml("rehearsal_samples = false");
    let w = World::new(&counts_only).await;
    let id = submit(&w, b.name, &sql).await;
    assert_eq!(start(&w, "bob", id).await.status(), StatusCode::ACCEPTED);
    let r = rehearsal_of(&w, id).await;
    assert_eq!(r["rows_affected"], 1, "{r}");
    assert!(r["statements"][0]["sample"].is_null(), "{r}");
    assert!(!r.to_string().contains("example.com"));
    // Nor in the page, nor in the store's row.
    let mut bob = w.app.sign_in("bob", crate::common::PW).await;
    let page = bob.page(&format!("/requests/{id}")).await;
    assert!(page.contains("changes 1 row"), "{page}");
    // (The SQL on the page names the new address; the rows' own values appear nowhere.)
    assert!(!page.contains("ann@example.com"), "{page}");
    let stored = w
        .app
        .store
        .latest_rehearsal(id, 1, None)
        .await
        .expect("store")
        .expect("rehearsal");
    assert!(!format!("{stored:?}").contains("example.com"), "{stored:?}");
    assert!(stored.result["statements"][0]["sample"].is_null());
    w.done().await;
}

#[tokio::test]
async fn a_target_not_rehearsed_refuses_and_a_skipped_statement_says_why() {
    let b = Backend::sqlite();
    b.create_accounts(2).await;
    let targets = format!(
        "{}{}",
        b.target_toml("rehearse = \"off\""),
        b.target_toml("")
            .replace("name = \"lite\"", "name = \"lite2\""),
    );
    let w = World::new(&targets).await;
    let id = submit(
        &w,
        "lite",
        &format!("UPDATE {} SET v = 1 WHERE id = 1", b.table),
    )
    .await;
    let (status, code) = error_code(start(&w, "bob", id).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::CONFLICT, "rehearsal_off")
    );

    // A function the analyzer cannot see into is not run (rehearse_functions is off).
    let sql = format!(
        "UPDATE {t} SET v = 2 WHERE id = 1;\nSELECT {f}(1)",
        t = b.table,
        f = unique("refresh_totals")
    );
    let id = submit(&w, "lite2", &sql).await;
    assert_eq!(start(&w, "bob", id).await.status(), StatusCode::ACCEPTED);
    let r = rehearsal_of(&w, id).await;
    assert_eq!(r["status"], "done", "{r}");
    assert_eq!(r["statements"][0]["rows_affected"], 1, "{r}");
    let skipped = r["statements"][1]["skipped"].as_str().unwrap_or_default();
    assert!(skipped.contains("function"), "{r}");
    assert_eq!(b.values().await, [0, 0]);
    w.done().await;
}

#[tokio::test]
async fn a_rehearsal_left_running_by_a_stopped_server_is_an_error_after_restart() {
    let b = Backend::sqlite();
    b.create_accounts(1).await;
    let db = TestStore::sqlite().await;
    let w = World::on(db, &b.target_toml("")).await;
    let id = submit(
        &w,
        b.name,
        &format!("UPDATE {} SET v = 1 WHERE id = 1", b.table),
    )
    .await;
    let bob = w
        .app
        .store
        .user_by_name("bob")
        .await
        .expect("store")
        .expect("bob");
    // What a killed server leaves: a rehearsal the store still calls running, started
    // longer ago than any live instance could still be running it.
    w.app
        .store
        .start_rehearsal(id, 1, b.name, Some(&bob))
        .await
        .expect("start");
    let mut store = sqlx::AnyConnection::connect(w.store_url())
        .await
        .expect("store");
    sqlx::query("UPDATE rehearsals SET started_at = '2026-01-01T00:00:00Z'")
        .execute(&mut store)
        .await
        .expect("backdate");
    store.close().await.ok();
    let config = config_for(w.store_url(), &b.target_toml(""), &[]);
    let again = TestApp::start(config).await;
    let res = TestApp::client()
        .get(again.url(&format!("/api/v1/requests/{id}")))
        .bearer_auth(w.token("alice"))
        .send()
        .await
        .expect("request");
    let request: Value = res.json().await.expect("json");
    assert_eq!(request["rehearsal"]["status"], "error", "{request}");
    assert!(
        request["rehearsal"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("server stopped")),
        "{request}"
    );
    again.stop().await;
    w.done().await;
}

#[tokio::test]
async fn the_request_page_offers_rehearse_to_a_reviewer_and_shows_counts_and_samples() {
    let b = Backend::sqlite();
    b.create_accounts(3).await;
    let w = World::new(&b.target_toml("")).await;
    let sql = format!("UPDATE {} SET v = 7 WHERE id IN (1, 2)", b.table);
    let id = w
        .submit(
            json!({"title": "t", "intent": "a test edit", "sql": sql, "target": b.name,
            "reviewers": ["bob"], "expected_rows": 1}),
        )
        .await["id"]
        .as_i64()
        .expect("id");
    let path = format!("/requests/{id}");

    let mut alice = w.app.sign_in("alice", crate::common::PW).await;
    let page = alice.page(&path).await;
    assert!(
        !page.contains(">Rehearse</button>"),
        "the author gets no button"
    );
    let csrf = crate::common::hidden_csrf(&page).expect("csrf");
    let refused = alice
        .post_form(&format!("{path}/rehearse"), &[("csrf_token", &csrf)])
        .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);

    let mut bob = w.app.sign_in("bob", crate::common::PW).await;
    let page = bob.page(&path).await;
    assert!(page.contains("Not rehearsed yet"), "{page}");
    assert!(page.contains(">Rehearse</button>"), "{page}");
    let csrf = crate::common::hidden_csrf(&page).expect("csrf");
    let res = bob
        .post_form(&format!("{path}/rehearse"), &[("csrf_token", &csrf)])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    rehearsal_of(&w, id).await;
    let page = bob.page(&path).await;
    assert!(page.contains("changes 2 rows"), "{page}");
    assert!(
        page.contains("<del>0</del> → <ins>7</ins>"),
        "the changed cell, before and after: {page}"
    );
    assert!(
        page.contains("The rehearsal changed 2 rows; the author expects 1."),
        "{page}"
    );
    assert_eq!(b.values().await, [0, 0, 0]);

    // Revised since: the page still shows it, marked as of the earlier revision.
    let res = w
        .send(
            "alice",
            reqwest::Method::PUT,
            &format!("/api/v1/requests/{id}"),
            Some(json!({"sql": format!("UPDATE {} SET v = 7 WHERE id = 3", b.table)})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let page = bob.page(&path).await;
    assert!(
        page.contains("This rehearsal is of revision 1; the request is at revision 2"),
        "{page}"
    );
    w.done().await;
}

#[tokio::test]
async fn without_expected_rows_a_run_is_held_to_the_rehearsal_the_reviewers_saw() {
    for b in Backend::all() {
        b.create_accounts(3).await;
        let w = World::new(&b.target_toml("")).await;
        let sql = format!("UPDATE {} SET v = 1 WHERE v = 0", b.table);
        let id = w.approved(b.name, &sql, None).await;
        assert_eq!(start(&w, "bob", id).await.status(), StatusCode::ACCEPTED);
        assert_eq!(rehearsal_of(&w, id).await["rows_affected"], 3);
        // The data changes between the rehearsal and the run: one more row would change.
        b.exec(format!("INSERT INTO {} (id, v) VALUES (4, 0)", b.table))
            .await;
        let (status, body) = w.execute("alice", id).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let run = &body["execution"];
        assert_eq!(run["outcome"], "guard", "{}: {body}", b.driver);
        assert_eq!(run["guard_source"], "rehearsal", "{body}");
        let error = run["error"].as_str().unwrap_or_default();
        assert!(error.contains('3') && error.contains('4'), "{error}");
        assert_eq!(b.values().await, [0, 0, 0, 0], "rolled back");

        // Unchanged since its rehearsal, the next one runs.
        let sql = format!("UPDATE {} SET v = 2 WHERE id <= 2", b.table);
        let id = w.approved(b.name, &sql, None).await;
        assert_eq!(start(&w, "bob", id).await.status(), StatusCode::ACCEPTED);
        assert_eq!(rehearsal_of(&w, id).await["rows_affected"], 2);
        let (_, body) = w.execute("alice", id).await;
        let run = &body["execution"];
        assert_eq!(run["outcome"], "committed", "{}: {body}", b.driver);
        assert_eq!(run["guard_source"], "rehearsal");
        assert_eq!(run["rows_affected"], 2);
        assert_eq!(b.values().await, [2, 2, 0, 0]);

        // Neither expected rows nor a rehearsal: no guard, as before.
        let sql = format!("UPDATE {} SET v = 3 WHERE id = 4", b.table);
        let id = w.approved(b.name, &sql, None).await;
        let (_, body) = w.execute("alice", id).await;
        assert_eq!(body["execution"]["outcome"], "committed", "{body}");
        assert!(body["execution"]["guard_source"].is_null(), "{body}");
        w.done().await;
        b.drop_table().await;
    }
}

#[tokio::test]
async fn a_target_that_is_down_gives_an_error_without_its_url_and_the_request_stays_reviewable() {
    let down = "[[target]]\nname = \"down\"\ndriver = \"postgres\"\n\
                url = \"postgres://app:hunter2-SECRET@127.0.0.1:1/prod\"\n";
    let w = World::new(down).await;
    let id = submit(&w, "down", "UPDATE accounts SET v = 1 WHERE id = 1").await;
    assert_eq!(start(&w, "bob", id).await.status(), StatusCode::ACCEPTED);
    let r = rehearsal_of(&w, id).await;
    assert_eq!(r["status"], "error", "{r}");
    let text = r.to_string();
    for secret in ["hunter2", "SECRET", "postgres://", "127.0.0.1:1"] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
    let res = w.review("bob", id, "approve", "", 1).await;
    assert_eq!(res.status(), StatusCode::OK, "still reviewable");
    w.done().await;
}

/// Ten rehearsals asked for at once on a target with `rehearsal_concurrency = 2`: at most two
/// sessions on the target at a time (each blocked on a row lock the test holds, as
/// `pg_stat_activity` shows), and all ten finish once the lock is gone.
#[tokio::test]
async fn at_most_rehearsal_concurrency_rehearsals_run_at_once_on_a_target() {
    let Some(b) = Backend::from_env("COUNTERSIGN_TEST_POSTGRES_URL", "pg", "postgres") else {
        return;
    };
    b.create_accounts(1).await;
    let w =
        World::new(&b.target_toml("rehearsal_concurrency = 2\nrehearsal_timeout = \"60s\"")).await;
    let mut holder = sqlx::PgConnection::connect(&b.url).await.expect("holder");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "BEGIN; SELECT * FROM {} WHERE id = 1 FOR UPDATE",
        b.table
    )))
    .execute(&mut holder)
    .await
    .expect("lock");
    let sql = format!("UPDATE {} SET v = v + 1 WHERE id = 1", b.table);
    let mut ids = Vec::new();
    for _ in 0..10 {
        ids.push(submit(&w, b.name, &sql).await);
    }
    let starts = ids.iter().map(|id| start(&w, "bob", *id));
    for res in futures_util::future::join_all(starts).await {
        assert_eq!(res.status(), StatusCode::ACCEPTED);
    }
    let mut watcher = sqlx::PgConnection::connect(&b.url).await.expect("watcher");
    let waiting = format!(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' \
         AND query LIKE '%UPDATE {}%'",
        b.table
    );
    let mut most = 0;
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(waiting.clone()))
            .fetch_one(&mut watcher)
            .await
            .expect("count");
        most = most.max(n);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(most, 2, "two at a time, the rest queued");
    sqlx::raw_sql("ROLLBACK")
        .execute(&mut holder)
        .await
        .expect("release");
    for id in ids {
        assert_eq!(rehearsal_of(&w, id).await["status"], "done");
    }
    assert_eq!(b.values().await, [0]);
    watcher.close().await.ok();
    holder.close().await.ok();
    w.done().await;
    b.drop_table().await;
}

/// A PostgreSQL target rehearsed on another PostgreSQL database (a copy): the rehearsal counts
/// the copy's rows; neither database keeps anything of it.
#[tokio::test]
async fn a_postgresql_target_is_rehearsed_on_a_copy_in_another_database() {
    let Some(production) = Backend::from_env("COUNTERSIGN_TEST_POSTGRES_URL", "pg", "postgres")
    else {
        return;
    };
    let copy_db = unique("cs_copy");
    let mut admin = sqlx::PgConnection::connect(&production.url)
        .await
        .expect("admin");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {copy_db}")))
        .execute(&mut admin)
        .await
        .expect("create the copy");
    let copy_url = match production.url.rsplit_once('/') {
        Some((server, _)) => format!("{server}/{copy_db}"),
        None => panic!("no database in {}", production.url),
    };
    let copy = production.clone().with_url(copy_url);
    production.create_accounts(2).await;
    copy.create_accounts(6).await;
    let targets = format!(
        "{}{}",
        production.target_toml("rehearse = \"copy\""),
        copy.target_toml("")
            .replace("name = \"pg\"", "name = \"copy\""),
    );
    let w = World::new(&targets).await;
    let sql = format!("UPDATE {} SET v = 9 WHERE id > 0", production.table);
    let id = submit(&w, "pg", &sql).await;
    let r = rehearsal_of(&w, id).await;
    assert_eq!(r["status"], "done", "{r}");
    assert_eq!(r["on_target"], "copy");
    assert_eq!(r["rows_affected"], 6, "the copy's rows: {r}");
    assert_eq!(production.values().await, [0, 0]);
    assert_eq!(copy.values().await, [0; 6]);
    w.done().await;
    production.drop_table().await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE {copy_db} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await
    .expect("drop the copy");
    admin.close().await.ok();
}

/// A `countersign serve` process killed (SIGKILL) while its rehearsal waits on a row lock: the
/// target keeps nothing of it, and the restarted server settles it as an error (once it is
/// older than any live instance could still be running it: 2 × 1 s + 10 s here).
#[tokio::test]
async fn a_server_killed_mid_rehearsal_leaves_nothing_and_the_rehearsal_ends_as_an_error() {
    use crate::common::{free_addr, spawn_server, wait_up, write_config};

    let Some(b) = Backend::from_env("COUNTERSIGN_TEST_POSTGRES_URL", "pg", "postgres") else {
        return;
    };
    b.create_accounts(1).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let store_url = format!("sqlite://{}", dir.path().join("store.db").display());
    let targets = b.target_toml("rehearsal_timeout = \"1s\"");
    let config = write_config(dir.path(), &store_url, &targets);
    let w = World::with_app(TestApp::start(config_for(&store_url, &targets, &[])).await).await;
    let id = submit(
        &w,
        b.name,
        &format!("UPDATE {} SET v = 5 WHERE id = 1", b.table),
    )
    .await;
    let token = w.token("bob").to_owned();
    let alice = w.token("alice").to_owned();
    w.app.stop().await;

    let mut holder = sqlx::PgConnection::connect(&b.url).await.expect("holder");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "BEGIN; SELECT * FROM {} WHERE id = 1 FOR UPDATE",
        b.table
    )))
    .execute(&mut holder)
    .await
    .expect("lock");
    let addr = free_addr();
    let base = format!("http://{addr}");
    let mut server = spawn_server(&config, &addr, &[]);
    wait_up(&base).await;
    let res = TestApp::client()
        .post(format!("{base}/api/v1/requests/{id}/rehearse"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("rehearse");
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.kill().expect("kill -9");
    server.wait().ok();
    sqlx::raw_sql("ROLLBACK")
        .execute(&mut holder)
        .await
        .expect("release");
    holder.close().await.ok();

    tokio::time::sleep(Duration::from_secs(13)).await;
    let mut server = spawn_server(&config, &addr, &[]);
    wait_up(&base).await;
    let request: Value = TestApp::client()
        .get(format!("{base}/api/v1/requests/{id}"))
        .bearer_auth(&alice)
        .send()
        .await
        .expect("read")
        .json()
        .await
        .expect("json");
    server.kill().ok();
    server.wait().ok();
    assert_eq!(request["rehearsal"]["status"], "error", "{request}");
    assert_eq!(b.values().await, [0], "nothing of the rehearsal stayed");
    b.drop_table().await;
}
