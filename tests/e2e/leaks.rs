//! A run's database error never shows the target's user, host, database name or address,
//! whatever SQL brought them out: real PostgreSQL and MariaDB errors, through the whole flow
//! (submit, approve, execute) of a real server. Skipped, saying so, without the servers' URLs.

use crate::common::{TestApp, sqlite_app};
use countersign_core::user::Role;
use serde_json::{Value, json};

const PW: &str = "correct horse battery";

/// Submits `sql` to `target` as alice, has bob approve it, runs it; returns the run's error.
async fn run_error(app: &TestApp, alice: &str, bob: &str, target: &str, sql: &str) -> String {
    let client = TestApp::client();
    let res = client
        .post(app.url("/api/v1/requests"))
        .bearer_auth(alice)
        .json(&json!({
            "title": "Probe", "intent": "See what the error says", "sql": sql,
            "target": target, "reviewers": ["bob"],
        }))
        .send()
        .await
        .expect("submit");
    let created: Value = res.json().await.expect("json");
    let id = created["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("submitted: {created}"));
    let res = client
        .post(app.url(&format!("/api/v1/requests/{id}/reviews")))
        .bearer_auth(bob)
        .json(&json!({"decision": "approve", "comment": "ok", "revision": 1}))
        .send()
        .await
        .expect("review");
    assert!(res.status().is_success(), "approve: {}", res.status());
    let ran: Value = client
        .post(app.url(&format!("/api/v1/requests/{id}/execute")))
        .bearer_auth(alice)
        .send()
        .await
        .expect("execute")
        .json()
        .await
        .expect("json");
    ran["execution"]["error"]
        .as_str()
        .unwrap_or_else(|| panic!("{sql}: a database error: {ran}"))
        .to_owned()
}

/// The user, host and database of a URL such as `postgres://user:pw@host:port/db?…`.
fn parts(url: &str) -> (String, String, String) {
    let rest = url.split_once("://").expect("scheme").1;
    let (userinfo, rest) = rest.split_once('@').expect("a user in the test URL");
    let user = userinfo.split(':').next().expect("user").to_owned();
    let (host_port, db) = rest.split_once('/').expect("a database in the test URL");
    let host = host_port.split(':').next().expect("host").to_owned();
    let db = db.split('?').next().expect("db").to_owned();
    (user, host, db)
}

#[tokio::test]
async fn errors_from_probing_sql_show_no_user_host_database_or_address() {
    let pg = std::env::var("COUNTERSIGN_TEST_POSTGRES_URL").ok();
    let my = std::env::var("COUNTERSIGN_TEST_MYSQL_URL").ok();
    if pg.is_none() && my.is_none() {
        eprintln!(
            "skipped: neither COUNTERSIGN_TEST_POSTGRES_URL nor COUNTERSIGN_TEST_MYSQL_URL is set"
        );
        return;
    }
    let mut toml = String::new();
    let mut env = Vec::new();
    if pg.is_some() {
        toml.push_str("[[target]]\nname = \"pg\"\ndriver = \"postgres\"\nurl_env = \"COUNTERSIGN_TEST_POSTGRES_URL\"\n");
        env.push((
            "COUNTERSIGN_TEST_POSTGRES_URL",
            pg.as_deref().unwrap_or_default(),
        ));
    }
    if my.is_some() {
        toml.push_str("[[target]]\nname = \"my\"\ndriver = \"mysql\"\nurl_env = \"COUNTERSIGN_TEST_MYSQL_URL\"\n");
        env.push((
            "COUNTERSIGN_TEST_MYSQL_URL",
            my.as_deref().unwrap_or_default(),
        ));
    }
    let (app, db) = sqlite_app(&toml, &env).await;
    let alice = app.add_user("alice", &[Role::Author], PW).await;
    let bob = app.add_user("bob", &[Role::Reviewer], PW).await;
    let (alice, bob) = (app.token_for(&alice).await, app.token_for(&bob).await);

    if let Some(url) = &pg {
        let (user, host, database) = parts(url);
        for sql in [
            "SELECT CAST(current_user AS int)",
            "SELECT CAST(upper(current_user) || 'x' AS int)",
            "SELECT CAST(reverse(current_user::text) AS int)",
            "SELECT CAST(current_database() AS int)",
            "SELECT CAST(host(inet_server_addr()) AS int)",
            "SELECT CAST(current_setting('listen_addresses') AS int)",
        ] {
            let error = run_error(&app, &alice, &bob, "pg", sql).await;
            let lower = error.to_lowercase();
            let reversed: String = user.chars().rev().collect();
            assert!(!lower.contains(&user.to_lowercase()), "{sql}: {error}");
            assert!(!lower.contains(&reversed.to_lowercase()), "{sql}: {error}");
            assert!(
                !error.contains(&format!("\"{database}\"")),
                "{sql}: {error}"
            );
            assert!(!error.contains(&host), "{sql}: {error}");
            assert!(
                error.contains("invalid input syntax"),
                "{sql}: the database's own message: {error}"
            );
        }
    }
    if let Some(url) = &my {
        let (user, host, database) = parts(url);
        for sql in [
            "SELECT EXTRACTVALUE(1, CONCAT(0x7e, user()))",
            "SELECT EXTRACTVALUE(1, CONCAT(0x7e, reverse(user())))",
            "SELECT EXTRACTVALUE(1, CONCAT(0x7e, database()))",
            "SELECT EXTRACTVALUE(1, CONCAT(0x7e, upper(current_user())))",
        ] {
            let error = run_error(&app, &alice, &bob, "my", sql).await;
            let lower = error.to_lowercase();
            let reversed: String = user.chars().rev().collect();
            assert!(
                !lower.contains(&format!("~{}", user.to_lowercase())),
                "{sql}: {error}"
            );
            assert!(
                !lower.contains(&format!("~{}", reversed.to_lowercase())),
                "{sql}: {error}"
            );
            assert!(!error.contains(&format!("~{database}'")), "{sql}: {error}");
            assert!(!error.contains(&host), "{sql}: {error}");
            assert!(
                error.contains("XPATH"),
                "{sql}: the database's own message: {error}"
            );
        }
    }
    app.stop().await;
    db.cleanup().await;
}
