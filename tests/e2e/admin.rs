//! Managing users from *Admin*: adding a user, setting a password, changing roles and
//! disabling, through the page's forms against a real server — admin only, CSRF-protected,
//! audited with the admin as actor, every session of the user ending with their old rights, and
//! bad input shown again with its reason instead of a 500.

use crate::common::{Browser, TestApp, hidden_csrf, sqlite_app};
use countersign_core::audit::AuditEvent;
use countersign_core::user::Role;
use futures_util::TryStreamExt;
use reqwest::{StatusCode, header};

const PW: &str = "correct horse battery";
const NEW_PW: &str = "a brand new password";

/// The events of the audit trail, oldest first.
async fn audit_events(app: &TestApp) -> Vec<AuditEvent> {
    app.store
        .audit_events(&countersign_store::audit::AuditFilter::default())
        .try_collect()
        .await
        .expect("events")
}

/// An app with the admin `root` signed in; returns the admin's browser and form token.
async fn with_admin() -> (
    TestApp,
    countersign_store::testing::TestStore,
    Browser,
    String,
) {
    let (app, db) = sqlite_app("", &[]).await;
    app.add_user("root", &[Role::Admin], PW).await;
    let mut admin = app.sign_in("root", PW).await;
    let page = admin.page("/admin").await;
    let csrf = hidden_csrf(&page).expect("csrf");
    (app, db, admin, csrf)
}

/// Posts a form; returns the status, the redirect target and the body.
async fn post(b: &Browser, path: &str, form: &[(&str, &str)]) -> (StatusCode, String, String) {
    let res = b.post_form(path, form).await;
    let status = res.status();
    let location = res
        .headers()
        .get(header::LOCATION)
        .map(|l| l.to_str().expect("ascii").to_owned())
        .unwrap_or_default();
    (status, location, res.text().await.expect("body"))
}

/// One sign-in attempt through the form; returns its status.
async fn sign_in_status(app: &TestApp, user: &str, pw: &str) -> StatusCode {
    let mut b = Browser::new(app.base.clone());
    let html = b.page("/login").await;
    let csrf = hidden_csrf(&html).expect("csrf");
    b.post_form(
        "/login",
        &[("username", user), ("password", pw), ("csrf_token", &csrf)],
    )
    .await
    .status()
}

/// Whether `b`'s session still works.
async fn signed_in(b: &Browser) -> bool {
    match b.get("/").await.status() {
        StatusCode::OK => true,
        StatusCode::SEE_OTHER => false,
        other => panic!("GET / answered {other}"),
    }
}

#[tokio::test]
async fn an_admin_adds_a_user_who_can_then_sign_in_and_the_addition_is_audited() {
    let (app, db, mut admin, csrf) = with_admin().await;
    let (status, location, _) = post(
        &admin,
        "/admin/users",
        &[
            ("csrf_token", &csrf),
            ("name", "dana"),
            ("role", "author"),
            ("role", "reviewer"),
            ("password", PW),
        ],
    )
    .await;
    assert_eq!(
        (status, location.as_str()),
        (StatusCode::SEE_OTHER, "/admin")
    );
    let dana = app
        .store
        .user_by_name("dana")
        .await
        .expect("read")
        .expect("dana exists");
    assert_eq!(dana.roles, [Role::Author, Role::Reviewer]);
    let last = audit_events(&app).await.pop().expect("an event");
    assert_eq!(last.action, "user.created");
    assert_eq!(last.actor.as_deref(), Some("root"));
    assert_eq!(last.details["user"], "dana");
    assert!(
        !serde_json::to_string(&last).expect("json").contains(PW),
        "no password in the trail"
    );
    let page = admin.page("/admin").await;
    assert!(
        page.contains("action=\"/admin/users/dana/roles\""),
        "{page}"
    );
    assert!(
        page.contains("<title>Admin · Countersign</title>"),
        "{page}"
    );
    app.sign_in("dana", PW).await;
    app.stop().await;
    db.cleanup().await;
}

#[tokio::test]
async fn a_new_password_ends_the_users_sessions_and_only_the_new_password_works() {
    let (app, db, admin, csrf) = with_admin().await;
    app.add_user("alice", &[Role::Author], PW).await;
    let alice = app.sign_in("alice", PW).await;
    assert!(signed_in(&alice).await);
    let (status, location, _) = post(
        &admin,
        "/admin/users/alice/password",
        &[("csrf_token", &csrf), ("password", NEW_PW)],
    )
    .await;
    assert_eq!(
        (status, location.as_str()),
        (StatusCode::SEE_OTHER, "/admin")
    );
    assert!(!signed_in(&alice).await, "her old session ended");
    assert_eq!(
        sign_in_status(&app, "alice", PW).await,
        StatusCode::UNAUTHORIZED
    );
    app.sign_in("alice", NEW_PW).await;
    let event = audit_events(&app)
        .await
        .into_iter()
        .find(|e| e.action == "user.password_changed")
        .expect("audited");
    assert_eq!(event.actor.as_deref(), Some("root"));
    assert_eq!(event.details["user"], "alice");
    assert_eq!(event.details["sessions_ended"], 1);
    assert!(
        signed_in(&admin).await,
        "the admin's own session is untouched"
    );
    app.stop().await;
    db.cleanup().await;
}

#[tokio::test]
async fn disabling_a_user_ends_their_sessions_and_refuses_their_sign_in() {
    let (app, db, mut admin, csrf) = with_admin().await;
    app.add_user("alice", &[Role::Author], PW).await;
    let alice = app.sign_in("alice", PW).await;
    let (status, location, _) = post(
        &admin,
        "/admin/users/alice/disable",
        &[("csrf_token", &csrf)],
    )
    .await;
    assert_eq!(
        (status, location.as_str()),
        (StatusCode::SEE_OTHER, "/admin")
    );
    assert!(!signed_in(&alice).await, "her session ended");
    assert_eq!(
        sign_in_status(&app, "alice", PW).await,
        StatusCode::UNAUTHORIZED
    );
    let event = audit_events(&app)
        .await
        .into_iter()
        .find(|e| e.action == "user.disabled")
        .expect("audited");
    assert_eq!(event.actor.as_deref(), Some("root"));
    assert_eq!(event.details["user"], "alice");
    assert_eq!(event.details["sessions_ended"], 1);
    let page = admin.page("/admin").await;
    assert!(
        !page.contains("action=\"/admin/users/alice/disable\""),
        "no forms for a disabled user: {page}"
    );

    // Enabled again: she signs in, and the change is audited once.
    assert!(page.contains("Enable alice"), "{page}");
    let (status, location, _) = post(
        &admin,
        "/admin/users/alice/enable",
        &[("csrf_token", &csrf)],
    )
    .await;
    assert_eq!(
        (status, location.as_str()),
        (StatusCode::SEE_OTHER, "/admin")
    );
    assert_eq!(
        sign_in_status(&app, "alice", PW).await,
        StatusCode::SEE_OTHER
    );
    let (status, _, _) = post(
        &admin,
        "/admin/users/alice/enable",
        &[("csrf_token", &csrf)],
    )
    .await;
    assert_eq!(
        status,
        StatusCode::SEE_OTHER,
        "enabling an active user changes nothing"
    );
    let enabled: Vec<AuditEvent> = audit_events(&app)
        .await
        .into_iter()
        .filter(|e| e.action == "user.enabled")
        .collect();
    assert_eq!(enabled.len(), 1, "{enabled:?}");
    assert_eq!(enabled[0].actor.as_deref(), Some("root"));
    assert_eq!(enabled[0].details["user"], "alice");
    app.stop().await;
    db.cleanup().await;
}

#[tokio::test]
async fn changing_roles_gives_exactly_the_checked_roles_and_ends_the_users_sessions() {
    let (app, db, admin, csrf) = with_admin().await;
    app.add_user("alice", &[Role::Author], PW).await;
    let alice = app.sign_in("alice", PW).await;
    assert_eq!(alice.get("/admin").await.status(), StatusCode::FORBIDDEN);
    let (status, location, _) = post(
        &admin,
        "/admin/users/alice/roles",
        &[
            ("csrf_token", &csrf),
            ("role", "reviewer"),
            ("role", "admin"),
        ],
    )
    .await;
    assert_eq!(
        (status, location.as_str()),
        (StatusCode::SEE_OTHER, "/admin")
    );
    let roles = app
        .store
        .user_by_name("alice")
        .await
        .expect("read")
        .expect("alice")
        .roles;
    assert_eq!(roles, [Role::Reviewer, Role::Admin]);
    assert!(
        !signed_in(&alice).await,
        "her session ended with her old roles"
    );
    let event = audit_events(&app).await.pop().expect("an event");
    assert_eq!(event.action, "user.roles_changed");
    assert_eq!(event.actor.as_deref(), Some("root"));
    assert_eq!(
        event.details["added"],
        serde_json::json!(["reviewer", "admin"])
    );
    assert_eq!(event.details["removed"], serde_json::json!(["author"]));
    assert_eq!(event.details["sessions_ended"], 1);
    let mut alice = app.sign_in("alice", PW).await;
    alice.page("/admin").await;
    app.stop().await;
    db.cleanup().await;
}

/// Every user form, as (path, fields) with the token left out.
fn every_user_form() -> Vec<(&'static str, Vec<(&'static str, &'static str)>)> {
    vec![
        (
            "/admin/users",
            vec![("name", "mallory"), ("role", "admin"), ("password", PW)],
        ),
        ("/admin/users/alice/password", vec![("password", NEW_PW)]),
        ("/admin/users/alice/roles", vec![("role", "admin")]),
        ("/admin/users/alice/disable", vec![]),
        ("/admin/users/alice/enable", vec![]),
    ]
}

#[tokio::test]
async fn a_non_admin_gets_403_on_every_user_form_and_nothing_changes() {
    let (app, db, _admin, _) = with_admin().await;
    app.add_user("alice", &[Role::Author], PW).await;
    app.add_user("bob", &[Role::Reviewer], PW).await;
    let mut bob = app.sign_in("bob", PW).await;
    let alice = app.sign_in("alice", PW).await;
    let bob_csrf = hidden_csrf(&bob.page("/").await).expect("csrf");
    let before = audit_events(&app).await.len();
    for (path, fields) in every_user_form() {
        let mut form = fields.clone();
        form.push(("csrf_token", &bob_csrf));
        let (status, _, _) = post(&bob, path, &form).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
    }
    assert_eq!(audit_events(&app).await.len(), before, "nothing audited");
    assert!(
        app.store
            .user_by_name("mallory")
            .await
            .expect("read")
            .is_none()
    );
    assert!(signed_in(&alice).await, "alice untouched");
    assert_eq!(
        sign_in_status(&app, "alice", PW).await,
        StatusCode::SEE_OTHER
    );
    app.stop().await;
    db.cleanup().await;
}

#[tokio::test]
async fn a_user_form_without_or_with_a_wrong_csrf_token_is_refused_and_changes_nothing() {
    let (app, db, admin, _) = with_admin().await;
    app.add_user("alice", &[Role::Author], PW).await;
    let alice = app.sign_in("alice", PW).await;
    let before = audit_events(&app).await.len();
    for (path, fields) in every_user_form() {
        let (status, _, _) = post(&admin, path, &fields).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path} without a token");
        let mut forged = fields.clone();
        forged.push(("csrf_token", "forged"));
        let (status, _, body) = post(&admin, path, &forged).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path} with a wrong token");
        assert!(body.contains("security token"), "{body}");
    }
    assert_eq!(audit_events(&app).await.len(), before, "nothing audited");
    assert!(
        app.store
            .user_by_name("mallory")
            .await
            .expect("read")
            .is_none()
    );
    assert!(signed_in(&alice).await, "alice untouched");
    assert_eq!(
        sign_in_status(&app, "alice", PW).await,
        StatusCode::SEE_OTHER
    );
    app.stop().await;
    db.cleanup().await;
}

#[tokio::test]
async fn bad_input_shows_the_page_again_with_the_reason_and_what_was_typed_but_the_password() {
    let (app, db, admin, csrf) = with_admin().await;
    app.add_user("alice", &[Role::Author], PW).await;
    app.add_user("carol", &[Role::Author], PW).await;
    app.store
        .disable_user("carol", None)
        .await
        .expect("disable");
    let alice = app.sign_in("alice", PW).await;
    let before = audit_events(&app).await.len();
    let add = |name: &'static str, roles: &'static [&'static str], pw: &'static str| {
        let mut form = vec![
            ("csrf_token", csrf.as_str()),
            ("name", name),
            ("password", pw),
        ];
        form.extend(roles.iter().map(|r| ("role", *r)));
        form
    };
    let long_name = "a".repeat(65);
    let long_name: &'static str = long_name.leak();
    let typed_pw = "a secret typed here";
    for (form, status, says) in [
        (
            add("system", &["reviewer"], typed_pw),
            StatusCode::BAD_REQUEST,
            "is reserved",
        ),
        (
            add("dana", &["reviewer"], "short"),
            StatusCode::BAD_REQUEST,
            "a password needs at least 8 characters",
        ),
        (
            add(long_name, &["reviewer"], typed_pw),
            StatusCode::BAD_REQUEST,
            "at most 64 characters",
        ),
        (
            add("eve\ninjected", &["reviewer"], typed_pw),
            StatusCode::BAD_REQUEST,
            "may contain only lower-case letters",
        ),
        (
            add("dana", &[], typed_pw),
            StatusCode::BAD_REQUEST,
            "at least one role",
        ),
        (
            add("dana", &["root"], typed_pw),
            StatusCode::BAD_REQUEST,
            "unknown role",
        ),
        (
            add("alice", &["reviewer"], typed_pw),
            StatusCode::CONFLICT,
            "already exists",
        ),
    ] {
        let name = form[1].1;
        let (got, _, body) = post(&admin, "/admin/users", &form).await;
        assert_eq!(got, status, "{name:?}: {body}");
        assert!(body.contains(says), "{name:?} should say {says:?}: {body}");
        assert!(body.contains("class=\"alert\""), "{body}");
        if !name.contains('\n') {
            assert!(
                body.contains(&format!("name=\"name\" value=\"{name}\"")),
                "{name:?} is kept: {body}"
            );
        }
        if form.contains(&("role", "reviewer")) {
            assert!(
                body.contains("name=\"role\" value=\"reviewer\" checked"),
                "the checked role is kept: {body}"
            );
        }
        assert!(!body.contains(typed_pw), "the password is never shown");
    }

    // Per user: the refusal is shown on that user's line.
    for (path, form, status, says) in [
        (
            "/admin/users/alice/password",
            vec![("csrf_token", csrf.as_str()), ("password", "short")],
            StatusCode::BAD_REQUEST,
            "a password needs at least 8 characters",
        ),
        (
            "/admin/users/alice/roles",
            vec![("csrf_token", csrf.as_str()), ("role", "author")],
            StatusCode::CONFLICT,
            "already has exactly these roles",
        ),
        (
            "/admin/users/root/disable",
            vec![("csrf_token", csrf.as_str())],
            StatusCode::BAD_REQUEST,
            "cannot disable your own account",
        ),
        (
            "/admin/users/root/roles",
            vec![("csrf_token", csrf.as_str()), ("role", "reviewer")],
            StatusCode::BAD_REQUEST,
            "cannot take away your own admin role",
        ),
        (
            "/admin/users/carol/disable",
            vec![("csrf_token", csrf.as_str())],
            StatusCode::CONFLICT,
            "is already disabled",
        ),
        (
            "/admin/users/nobody/disable",
            vec![("csrf_token", csrf.as_str())],
            StatusCode::NOT_FOUND,
            "there is no user called",
        ),
        (
            "/admin/users/nobody/password",
            vec![("csrf_token", csrf.as_str()), ("password", NEW_PW)],
            StatusCode::NOT_FOUND,
            "there is no user called",
        ),
    ] {
        let (got, _, body) = post(&admin, path, &form).await;
        assert_eq!(got, status, "{path}: {body}");
        assert!(body.contains(says), "{path} should say {says:?}: {body}");
        assert!(body.contains("<h1>Users</h1>"), "the admin page again");
        assert!(!body.contains(NEW_PW));
    }
    assert_eq!(audit_events(&app).await.len(), before, "nothing changed");
    assert!(
        app.store
            .user_by_name("dana")
            .await
            .expect("read")
            .is_none()
    );
    assert!(signed_in(&alice).await, "alice untouched");
    assert!(signed_in(&admin).await, "the admin too");
    app.stop().await;
    db.cleanup().await;
}

#[tokio::test]
async fn passwords_set_on_the_admin_page_wait_for_the_bounded_hashers_and_get_503_when_busy() {
    let db = countersign_store::testing::TestStore::sqlite().await;
    // One hasher and no patience: concurrent additions cannot all get a turn.
    let config = crate::common::config_for(&db.url, "", &[]);
    let app = TestApp::start_with(config, |state| {
        state.with_hashers(countersign_server::auth::password::HashLimiter::new(
            1,
            std::time::Duration::ZERO,
        ))
    })
    .await;
    app.add_user("root", &[Role::Admin], PW).await;
    let mut admin = app.sign_in("root", PW).await;
    let csrf = hidden_csrf(&admin.page("/admin").await).expect("csrf");
    let names: Vec<String> = (0..8).map(|n| format!("user{n}")).collect();
    let posts = names.iter().map(|name| {
        let form = [
            ("csrf_token", csrf.as_str()),
            ("name", name.as_str()),
            ("role", "author"),
            ("password", PW),
        ];
        let admin = &admin;
        async move { post(admin, "/admin/users", &form).await }
    });
    let answers = futures_util::future::join_all(posts).await;
    let mut busy = 0;
    for ((status, _, body), name) in answers.iter().zip(&names) {
        match *status {
            StatusCode::SEE_OTHER => {}
            StatusCode::SERVICE_UNAVAILABLE => {
                busy += 1;
                assert!(body.contains("every password hasher is busy"), "{body}");
                assert!(
                    body.contains(&format!("name=\"name\" value=\"{name}\"")),
                    "what was typed is kept: {body}"
                );
                assert!(
                    app.store.user_by_name(name).await.expect("read").is_none(),
                    "{name} was not added"
                );
            }
            other => panic!("adding {name} answered {other}: {body}"),
        }
    }
    assert!(
        busy > 0,
        "8 additions at once on one hasher: some must wait"
    );
    assert!(busy < names.len(), "one got the hasher");
    app.stop().await;
    db.cleanup().await;
}
