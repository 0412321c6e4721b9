//! Sign-in, sign-out, sessions, CSRF and API tokens, against a real server on a real port.

use crate::common::{TestApp, config_for, error_code, hidden_csrf, sqlite_app};
use countersign_core::user::Role;
use reqwest::{StatusCode, header};

const PW: &str = "correct horse battery";

#[tokio::test]
async fn healthz_answers_ok() {
    let (app, db) = sqlite_app("", &[]).await;
    let res = TestApp::client()
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("GET");
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.text().await.expect("body"), "ok");
    app.stop().await;
    db.cleanup().await;
}

#[tokio::test]
async fn signed_out_visitors_are_sent_to_the_sign_in_form() {
    let (app, db) = sqlite_app("", &[]).await;
    let res = TestApp::client()
        .get(app.url("/"))
        .send()
        .await
        .expect("GET /");
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()[header::LOCATION], "/login");
    let html = TestApp::client()
        .get(app.url("/login"))
        .send()
        .await
        .expect("GET")
        .text()
        .await
        .expect("body");
    for words in [
        "<label for=\"username\">User name</label>",
        "<label for=\"password\">Password</label>",
        ">Sign in</button>",
    ] {
        assert!(html.contains(words), "sign-in page lacks {words}");
    }
    app.stop().await;
    db.cleanup().await;
}

#[tokio::test]
async fn the_right_password_signs_in_and_the_session_cookie_is_locked_down() {
    let (app, db) = sqlite_app("", &[]).await;
    app.add_user("alice", &[Role::Author], PW).await;
    let mut b = crate::common::Browser::new(app.base.clone());
    let html = b.page("/login").await;
    let csrf = hidden_csrf(&html).expect("csrf");
    let res = b
        .post_form(
            "/login",
            &[
                ("username", "alice"),
                ("password", PW),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let cookies: Vec<String> = res
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().expect("ascii").to_owned())
        .collect();
    let session = cookies
        .iter()
        .find(|c| c.starts_with("countersign_session="))
        .expect("session cookie");
    assert!(session.contains("HttpOnly"), "{session}");
    assert!(session.contains("SameSite=Lax"), "{session}");
    assert!(
        !session.contains("Secure"),
        "plain http: no Secure flag: {session}"
    );
    b.absorb(res).await;
    let home = b.page("/").await;
    assert!(home.contains("alice"));
    assert!(home.contains(">Sign out</button>"));
    app.stop().await;
    db.cleanup().await;
}

#[tokio::test]
async fn cookies_are_secure_when_the_public_url_is_https() {
    let (app, db) = sqlite_app("[server]\npublic_url = \"https://cs.example.com\"\n", &[]).await;
    app.add_user("alice", &[Role::Author], PW).await;
    let b = crate::common::Browser::new(app.base.clone());
    let res = b.get("/login").await;
    let csrf_cookie = res.headers()[header::SET_COOKIE]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(csrf_cookie.contains("Secure"), "{csrf_cookie}");
    let html = res.text().await.expect("body");
    let csrf = hidden_csrf(&html).expect("csrf");
    let value = csrf_cookie
        .split(';')
        .next()
        .expect("pair")
        .split_once('=')
        .expect("=")
        .1
        .to_owned();
    let mut b = b;
    b.set_cookie("countersign_login_csrf", &value);
    let res = b
        .post_form(
            "/login",
            &[
                ("username", "alice"),
                ("password", PW),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let session = res
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().expect("ascii"))
        .find(|c| c.starts_with("countersign_session="))
        .expect("session")
        .to_owned();
    assert!(session.contains("Secure"), "{session}");
    app.stop().await;
    db.cleanup().await;
}

#[tokio::test]
async fn a_failed_sign_in_says_only_wrong_user_name_or_password() {
    let (app, db) = sqlite_app("", &[]).await;
    app.add_user("alice", &[Role::Author], PW).await;
    app.add_user("dave", &[Role::Author], PW).await;
    app.store.disable_user("dave", None).await.expect("disable");
    for (user, pw) in [
        ("alice", "wrong password"),
        ("nobody", PW),
        ("dave", PW),
        ("", ""),
    ] {
        let mut b = crate::common::Browser::new(app.base.clone());
        let html = b.page("/login").await;
        let csrf = hidden_csrf(&html).expect("csrf");
        let res = b
            .post_form(
                "/login",
                &[("username", user), ("password", pw), ("csrf_token", &csrf)],
            )
            .await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{user}");
        let body = b.absorb(res).await;
        assert!(
            body.contains("Wrong user name or password."),
            "{user}: {body}"
        );
        assert!(
            !body.contains("disabled") && !body.contains("not found"),
            "{user} leaks why: {body}"
        );
        assert!(
            b.cookie("countersign_session").is_none(),
            "{user} got a session"
        );
    }
    app.stop().await;
    db.cleanup().await;
}

#[tokio::test]
async fn a_sign_in_form_without_its_csrf_token_is_refused() {
    let (app, db) = sqlite_app("", &[]).await;
    app.add_user("alice", &[Role::Author], PW).await;
    let mut b = crate::common::Browser::new(app.base.clone());
    let html = b.page("/login").await;
    let csrf = hidden_csrf(&html).expect("csrf");
    // No token in the form.
    let res = b
        .post_form("/login", &[("username", "alice"), ("password", PW)])
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // A token that is not the cookie's (a forged cross-site form).
    let res = b
        .post_form(
            "/login",
            &[
                ("username", "alice"),
                ("password", PW),
                ("csrf_token", "forged"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // The right token without its cookie.
    let bare = crate::common::Browser::new(app.base.clone());
    let res = bare
        .post_form(
            "/login",
            &[
                ("username", "alice"),
                ("password", PW),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(b.cookie("countersign_session").is_none());
    app.stop().await;
    db.cleanup().await;
}

#[tokio::test]
async fn sign_out_needs_the_session_csrf_token_and_ends_the_session() {
    let (app, db) = sqlite_app("", &[]).await;
    app.add_user("alice", &[Role::Author], PW).await;
    let mut b = app.sign_in("alice", PW).await;
    let home = b.page("/").await;
    let csrf = hidden_csrf(&home).expect("sign-out form token");
    let res = b.post_form("/logout", &[]).await;
    assert_eq!(
        res.status(),
        StatusCode::FORBIDDEN,
        "sign-out without token"
    );
    b.page("/").await; // still signed in
    let session = b.cookie("countersign_session").expect("cookie").to_owned();
    let res = b.post_form("/logout", &[("csrf_token", &csrf)]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    b.absorb(res).await;
    // Even a stolen copy of the old cookie no longer works.
    let mut thief = crate::common::Browser::new(app.base.clone());
    thief.set_cookie("countersign_session", &session);
    assert_eq!(thief.get("/").await.status(), StatusCode::SEE_OTHER);
    app.stop().await;
    db.cleanup().await;
}

#[tokio::test]
async fn sessions_survive_a_restart_of_the_server() {
    let db = countersign_store::testing::TestStore::sqlite().await;
    let config = config_for(&db.url, "", &[]);
    let app = TestApp::start(config.clone()).await;
    app.add_user("alice", &[Role::Author], PW).await;
    let mut b = app.sign_in("alice", PW).await;
    app.stop().await;

    let app = TestApp::start(config).await;
    let mut again = crate::common::Browser::new(app.base.clone());
    again.set_cookie(
        "countersign_session",
        b.cookie("countersign_session").expect("cookie"),
    );
    let home = again.page("/").await;
    assert!(
        home.contains("alice"),
        "the restarted server knows the session"
    );
    let _ = b.absorb(again.get("/").await).await;
    app.stop().await;
    db.cleanup().await;
}

#[tokio::test]
async fn tokens_work_fail_when_wrong_and_fail_for_a_disabled_user() {
    let extra = "[[target]]\nname = \"shop\"\ndriver = \"sqlite\"\nurl_env = \"SHOP_URL\"\n";
    let (app, db) = sqlite_app(extra, &[("SHOP_URL", "sqlite://hidden-SECRET.db")]).await;
    let alice = app.add_user("alice", &[Role::Author], PW).await;
    let token = app.token_for(&alice).await;
    let client = TestApp::client();
    let get = |auth: Option<String>| {
        let mut req = client.get(app.url("/api/v1/targets"));
        if let Some(a) = auth {
            req = req.header(header::AUTHORIZATION, a);
        }
        req.send()
    };

    let res = get(Some(format!("Bearer {token}"))).await.expect("GET");
    assert_eq!(res.status(), StatusCode::OK);
    let text = res.text().await.expect("body");
    assert!(
        !text.contains("SECRET") && !text.contains("sqlite://"),
        "a target's URL leaked: {text}"
    );
    let targets: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!(targets[0]["name"], "shop");
    assert_eq!(targets[0]["driver"], "sqlite");
    assert_eq!(targets[0]["policy"]["approvals"]["high"], 2);

    for bad in [
        None,
        Some("Bearer cst_wrong".to_owned()),
        Some(format!("Basic {token}")),
        Some(format!("Bearer {token}x")),
    ] {
        let (status, code) = error_code(get(bad.clone()).await.expect("GET")).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::UNAUTHORIZED, "unauthorized"),
            "{bad:?}"
        );
    }

    app.store
        .disable_user("alice", None)
        .await
        .expect("disable");
    let (status, _) = error_code(get(Some(format!("Bearer {token}"))).await.expect("GET")).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a disabled user's token is refused"
    );
    app.stop().await;
    db.cleanup().await;
}

#[tokio::test]
async fn a_browser_session_also_reads_the_api() {
    let (app, db) = sqlite_app("", &[]).await;
    app.add_user("alice", &[Role::Author], PW).await;
    let b = app.sign_in("alice", PW).await;
    let res = b.get("/api/v1/targets").await;
    assert_eq!(res.status(), StatusCode::OK);
    app.stop().await;
    db.cleanup().await;
}

/// One sign-in attempt through the form, with a fresh CSRF pair; returns the answer.
async fn attempt(app: &TestApp, user: &str, pw: &str) -> reqwest::Response {
    let mut b = crate::common::Browser::new(app.base.clone());
    let html = b.page("/login").await;
    let csrf = hidden_csrf(&html).expect("csrf");
    b.post_form(
        "/login",
        &[("username", user), ("password", pw), ("csrf_token", &csrf)],
    )
    .await
}

#[tokio::test]
async fn sign_ins_beyond_the_free_hashers_wait_then_get_503_with_retry_after() {
    let db = countersign_store::testing::TestStore::sqlite().await;
    // One hasher and no patience: concurrent sign-ins cannot all get a turn.
    let app = TestApp::start_with(config_for(&db.url, "", &[]), |state| {
        state.with_hashers(countersign_server::auth::password::HashLimiter::new(
            1,
            std::time::Duration::ZERO,
        ))
    })
    .await;
    let attempts = (0..12).map(|i| {
        let app = &app;
        async move { attempt(app, &format!("nobody{i}"), "wrong password").await }
    });
    let answers = futures_util::future::join_all(attempts).await;
    let mut busy = 0;
    for res in &answers {
        match res.status() {
            StatusCode::UNAUTHORIZED => {}
            StatusCode::SERVICE_UNAVAILABLE => {
                busy += 1;
                let after = res.headers()[header::RETRY_AFTER].to_str().expect("ascii");
                assert!(after.parse::<u64>().expect("seconds") >= 1, "{after}");
            }
            other => panic!("a sign-in answered {other}"),
        }
    }
    assert!(
        busy > 0,
        "12 sign-ins at once on one hasher: some must be turned away"
    );
    // Every turn was given back: a sign-in afterwards gets its turn.
    app.add_user("alice", &[Role::Author], PW).await;
    app.sign_in("alice", PW).await;
    app.stop().await;
    db.cleanup().await;
}

/// The events of the audit trail, oldest first.
async fn audit_events(app: &TestApp) -> Vec<countersign_core::audit::AuditEvent> {
    use futures_util::TryStreamExt;
    app.store
        .audit_events(&countersign_store::audit::AuditFilter::default())
        .try_collect()
        .await
        .expect("events")
}

#[tokio::test]
async fn an_overlong_user_name_is_refused_before_any_hashing_or_storage() {
    let (app, db) = sqlite_app("", &[]).await;
    let before = audit_events(&app).await.len();
    let res = attempt(&app, &"a".repeat(65), "whatever").await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.text().await.expect("body").contains("username"));
    let res = attempt(
        &app,
        "eve\n2026-12-05T10:00:00Z  INFO signed in user=admin",
        "x",
    )
    .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST, "a control character");
    assert_eq!(audit_events(&app).await.len(), before, "nothing recorded");
    // 64 characters is a user name that could exist: an ordinary failure.
    let res = attempt(&app, &"a".repeat(64), "whatever").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    app.stop().await;
    db.cleanup().await;
}

#[tokio::test]
async fn a_failed_sign_in_keeps_the_user_name_only_when_that_user_exists() {
    let (app, db) = sqlite_app("", &[]).await;
    app.add_user("alice", &[Role::Author], PW).await;
    // A password typed into the user name field.
    let res = attempt(&app, "Tr0ub4dor&3", "alice").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let events = audit_events(&app).await;
    let failed = events.last().expect("an event");
    assert_eq!(failed.action, "user.login_failed");
    assert_eq!(failed.details["user"], "(unknown user)");
    let everything = serde_json::to_string(&events).expect("json");
    assert!(
        !everything.contains("Tr0ub4dor"),
        "the mistyped password is kept"
    );
    app.stop().await;
    db.cleanup().await;
}

#[tokio::test]
async fn five_failures_for_a_user_name_make_it_wait_with_429_and_one_burst_is_audited_twice() {
    let (app, db) = sqlite_app("", &[]).await;
    app.add_user("alice", &[Role::Author], PW).await;
    let before = audit_events(&app).await.len();
    for n in 1..=5 {
        let res = attempt(&app, "alice", &format!("wrong {n}")).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "failure {n}");
    }
    // Even the right password is not looked at now.
    let res = attempt(&app, "alice", PW).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let after: u64 = res.headers()[header::RETRY_AFTER]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=15).contains(&after), "Retry-After {after}");
    assert!(
        res.text()
            .await
            .expect("body")
            .contains("Too many failed sign-ins")
    );
    let actions: Vec<String> = audit_events(&app).await[before..]
        .iter()
        .map(|e| e.action.clone())
        .collect();
    assert_eq!(actions, ["user.login_failed", "user.login_throttled"]);
    // Another user name from the same address is not held back by alice's count.
    app.add_user("bob", &[Role::Reviewer], PW).await;
    app.sign_in("bob", PW).await;
    app.stop().await;
    db.cleanup().await;
}

#[tokio::test]
async fn the_counts_live_in_the_store_so_every_instance_shares_them() {
    let db = countersign_store::testing::TestStore::sqlite().await;
    let one = TestApp::start(config_for(&db.url, "", &[])).await;
    let two = TestApp::start(config_for(&db.url, "", &[])).await;
    one.add_user("alice", &[Role::Author], PW).await;
    for n in 1..=5 {
        let app = if n % 2 == 0 { &one } else { &two };
        assert_eq!(
            attempt(app, "alice", "wrong").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        attempt(&one, "alice", PW).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        attempt(&two, "alice", PW).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    one.stop().await;
    two.stop().await;
    db.cleanup().await;
}

#[tokio::test]
async fn guessing_many_user_names_from_one_address_is_throttled_by_address() {
    let (app, db) = sqlite_app("", &[]).await;
    let before = audit_events(&app).await.len();
    for n in 0..countersign_core::throttle::PER_ADDRESS.limit {
        let res = attempt(&app, &format!("guess{n}"), "pw").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "guess {n}");
    }
    let res = attempt(&app, "one-more-guess", "pw").await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.headers().contains_key(header::RETRY_AFTER));
    let actions: Vec<String> = audit_events(&app).await[before..]
        .iter()
        .map(|e| e.action.clone())
        .collect();
    assert_eq!(actions, ["user.login_failed", "user.login_throttled"]);
    app.stop().await;
    db.cleanup().await;
}

#[tokio::test]
async fn a_session_ends_after_its_idle_time_and_its_cookie_lasts_the_absolute_maximum() {
    let (app, db) = sqlite_app(
        "[server]\nsession_idle = \"1s\"\nsession_max = \"3d\"\n",
        &[],
    )
    .await;
    app.add_user("alice", &[Role::Author], PW).await;
    let res = attempt(&app, "alice", PW).await;
    let cookie = res
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().expect("ascii").to_owned())
        .find(|c| c.starts_with("countersign_session="))
        .expect("session cookie");
    assert!(
        cookie.contains(&format!("Max-Age={}", 3 * 24 * 3600)),
        "{cookie}"
    );
    let mut b = crate::common::Browser::new(app.base.clone());
    b.absorb(res).await;
    assert_eq!(b.get("/").await.status(), StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let res = b.get("/").await;
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "idle for longer than 1 s"
    );
    assert_eq!(res.headers()[header::LOCATION], "/login");
    app.stop().await;
    db.cleanup().await;
}

#[tokio::test]
async fn admins_see_every_token_and_revoke_one_with_a_csrf_protected_audited_form() {
    let (app, db) = sqlite_app("", &[]).await;
    let ci = app.add_user("ci", &[Role::Author], PW).await;
    app.add_user("root", &[Role::Admin], PW).await;
    app.add_user("alice", &[Role::Author], PW).await;
    let token = app.token_for(&ci).await;
    let api = |t: String| {
        let app = &app;
        async move {
            TestApp::client()
                .get(app.url("/api/v1/targets"))
                .bearer_auth(t)
                .send()
                .await
                .expect("GET")
                .status()
        }
    };
    assert_eq!(api(token.clone()).await, StatusCode::OK);
    let id = app.store.list_tokens(Some("ci")).await.expect("tokens")[0].id;

    let mut admin = app.sign_in("root", PW).await;
    let page = admin.page("/admin").await;
    assert!(page.contains("API tokens"), "{page}");
    assert!(
        page.contains(&format!("action=\"/admin/tokens/{id}/revoke\"")),
        "{page}"
    );
    assert!(!page.contains(&token[4..]), "never the token");
    let csrf = hidden_csrf(&page).expect("csrf");
    let path = format!("/admin/tokens/{id}/revoke");

    let forged = admin.post_form(&path, &[("csrf_token", "forged")]).await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let alice = app.sign_in("alice", PW).await;
    let alice_csrf = hidden_csrf(&alice.get("/").await.text().await.expect("body")).expect("csrf");
    let not_admin = alice.post_form(&path, &[("csrf_token", &alice_csrf)]).await;
    assert_eq!(not_admin.status(), StatusCode::FORBIDDEN);
    assert_eq!(api(token.clone()).await, StatusCode::OK, "still live");

    let res = admin.post_form(&path, &[("csrf_token", &csrf)]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(api(token).await, StatusCode::UNAUTHORIZED, "revoked");
    let last = audit_events(&app).await.pop().expect("event");
    assert_eq!(last.action, "token.revoked");
    assert_eq!(last.actor.as_deref(), Some("root"));
    assert_eq!(last.details["user"], "ci");
    let page = admin.page("/admin").await;
    assert!(page.contains("revoked"), "{page}");
    assert!(!page.contains(&format!("action=\"/admin/tokens/{id}/revoke\"")));
    app.stop().await;
    db.cleanup().await;
}

/// The request list checks a token in the same statement as it reads the page (issue 18): it
/// answers a live token, and 401 to every other — wrong, revoked, expired, a disabled user's —
/// whatever the filter (a user who does not exist, a bad status or limit: who asks is told
/// before what is wrong with the question).
#[tokio::test]
async fn the_request_list_answers_only_a_live_token_whatever_it_asks() {
    let (app, db) = sqlite_app("", &[]).await;
    let alice = app.add_user("alice", &[Role::Author], PW).await;
    let bob = app.add_user("bob", &[Role::Reviewer], PW).await;
    let token = app.token_for(&alice).await;
    let revoked = app.token_for(&alice).await;
    let id = app.store.list_tokens(Some("alice")).await.expect("tokens")[0].id;
    app.store.revoke_token(id, None).await.expect("revoke");
    let bobs = app.token_for(&bob).await;
    app.store.disable_user("bob", None).await.expect("disable");
    let client = TestApp::client();
    let list = |auth: String, query: &'static str| {
        client
            .get(app.url(&format!("/api/v1/requests{query}")))
            .header(header::AUTHORIZATION, auth)
            .send()
    };
    let queries = [
        "",
        "?limit=5",
        "?author=nobody",
        "?reviewer=bob&status=executed",
    ];
    for query in queries {
        let res = list(format!("Bearer {token}"), query).await.expect("GET");
        assert_eq!(res.status(), StatusCode::OK, "{query}");
        let page: serde_json::Value = res.json().await.expect("json");
        assert_eq!(page["items"], serde_json::json!([]), "{query}");
    }
    let bad_queries = ["?status=nonsense", "?limit=0", "?cursor=x"];
    for query in bad_queries {
        let (status, _) =
            error_code(list(format!("Bearer {token}"), query).await.expect("GET")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
    }
    for dead in [
        format!("Bearer {revoked}"),
        format!("Bearer {bobs}"),
        "Bearer cst_wrong".to_owned(),
        format!("Basic {token}"),
    ] {
        for query in queries.iter().chain(&bad_queries) {
            let (status, code) = error_code(list(dead.clone(), query).await.expect("GET")).await;
            assert_eq!(
                (status, code.as_str()),
                (StatusCode::UNAUTHORIZED, "unauthorized"),
                "{dead} {query}"
            );
        }
    }
    app.stop().await;
    db.cleanup().await;
}
